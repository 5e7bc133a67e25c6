import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from glam_tf.data import (GLAM_COMPONENTS, QualitySource, Source, TextSource, TfdsSource,
                          embedded_documents, make_dataset, parse_data_spec)
from glam_tf.data.pareto import pareto_keep
from glam_tf.data.quality_classifier import QualityClassifier, QualityConfig, hash_ngrams
from glam_tf.data.quality_files import read_documents, score_files, train_from_files
from glam_tf.tokenizer import train_tokenizer

CURATED = ("river history century museum treaty orchestra theorem species volcano "
           "parliament novel cathedral physicist archive migration dynasty").split()
SPAM = ("free click buy now casino winner cheap pills offer bonus unlimited deal "
        "subscribe crypto discount viral").split()
SHARED = "the a of and to in is for on with".split()
SMALL = dict(num_buckets=2 ** 12, epochs=8, batch_size=32, learning_rate=0.1, seed=0)


def _texts(vocabulary, count, seed):
    """`count` documents of 8-40 words: 60% from `vocabulary`, 40% common words."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(count):
        n = rng.integers(8, 41)
        words = np.where(rng.random(n) < 0.6, rng.choice(vocabulary, n), rng.choice(SHARED, n))
        docs.append(" ".join(words))
    return docs


POSITIVES, NEGATIVES = _texts(CURATED, 300, seed=1), _texts(SPAM, 300, seed=2)


@pytest.fixture(scope="module")
def trained():
    classifier = QualityClassifier(QualityConfig(**SMALL))
    report = classifier.train(POSITIVES, NEGATIVES, validation_fraction=0.2)
    return classifier, report


def test_hash_ngrams_are_lowercased_unigrams_then_bigrams_in_range():
    ids = hash_ngrams(["Hello, HELLO world!", ""], num_buckets=97)
    expected = tf.strings.to_hash_bucket_fast(
        ["hello", "hello", "world", "hello hello", "hello world"], 97)
    np.testing.assert_array_equal(ids[0].numpy(), expected.numpy())
    assert ids[1].shape == (0,)


def test_heldout_precision_and_recall_exceed_095_on_separable_set(trained):
    _, report = trained
    assert report.precision > 0.95 and report.recall > 0.95 and report.accuracy > 0.95
    assert report.threshold == 0.5
    heldout = (report.true_positives + report.false_positives + report.true_negatives
               + report.false_negatives)
    assert heldout == 120 and report.num_train == 480  # 20% of each class held out


def test_scores_are_probabilities_and_higher_on_positives(trained):
    classifier, _ = trained
    positive = classifier.score(_texts(CURATED, 50, seed=3))
    negative = classifier.score(_texts(SPAM, 50, seed=4))
    scores = np.concatenate([positive, negative, classifier.score(["", "unseen words only"])])
    assert scores.shape == (102,) and np.all((scores >= 0) & (scores <= 1))
    assert positive.min() > negative.max()


def test_training_is_deterministic_under_seed(trained):
    classifier, report = trained
    again = QualityClassifier(QualityConfig(**SMALL))
    assert again.train(POSITIVES, NEGATIVES, validation_fraction=0.2) == report
    np.testing.assert_array_equal(again.score(POSITIVES[:20]), classifier.score(POSITIVES[:20]))


def test_save_load_gives_identical_scores_and_refuses_to_overwrite(trained, tmp_path):
    classifier, _ = trained
    classifier.save(str(tmp_path / "clf"))
    loaded = QualityClassifier.load(str(tmp_path / "clf"))
    assert loaded.config == classifier.config
    texts = POSITIVES[:10] + NEGATIVES[:10]
    np.testing.assert_array_equal(loaded.score(texts), classifier.score(texts))
    with pytest.raises(FileExistsError, match=str(tmp_path / "clf")):
        loaded.save(str(tmp_path / "clf"))


@pytest.mark.parametrize("positives, negatives", [([], ["spam"] * 5), (["wiki"] * 5, []),
                                                  (["wiki"], ["spam"] * 5)])
def test_train_rejects_empty_or_single_text_classes(positives, negatives):
    with pytest.raises(ValueError, match="need at least 2"):
        QualityClassifier(QualityConfig(**SMALL)).train(positives, negatives)


def test_score_before_training_and_bad_config_raise():
    with pytest.raises(RuntimeError, match="train"):
        QualityClassifier().score(["text"])
    for bad in [dict(num_buckets=0), dict(epochs=1.5), dict(ngram_orders=()),
                dict(ngram_orders=(1, 0))]:
        with pytest.raises(ValueError, match="ints >= 1"):
            QualityConfig(**bad)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        QualityConfig(learning_rate=0.0)
    assert QualityConfig(ngram_orders=[1, 3]).ngram_orders == (1, 3)  # as read back from JSON


def test_pareto_keep_is_deterministic_under_seed():
    scores = np.random.default_rng(0).random(1000)
    np.testing.assert_array_equal(pareto_keep(scores, seed=7), pareto_keep(scores, seed=7))
    assert np.any(pareto_keep(scores, seed=7) != pareto_keep(scores, seed=8))


def test_pareto_keep_rate_increases_with_score_and_always_keeps_score_one():
    scores = np.random.default_rng(0).random(10_000)
    kept = pareto_keep(scores, alpha=9.0, seed=0)
    bins = np.minimum((scores * 5).astype(int), 4)
    rates = [kept[bins == b].mean() for b in range(5)]
    assert all(low < high for low, high in zip(rates, rates[1:])), rates
    assert pareto_keep(np.ones(10_000), alpha=9.0, seed=0).all()


def test_pareto_keep_matches_numpy_pareto_draw_rule():
    scores = np.random.default_rng(1).random((40, 25))
    draws = np.random.default_rng(3).pareto(9.0, size=(40, 25))
    np.testing.assert_array_equal(pareto_keep(scores, alpha=9.0, seed=3), draws > 1 - scores)


def test_pareto_keep_rejects_scores_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pareto_keep([0.5, 1.5])


def _write_corpus(root):
    (root / "wiki").mkdir()
    for i, text in enumerate(POSITIVES[:150]):
        (root / "wiki" / f"{i}.txt").write_text(text, encoding="utf-8")
    lines = [json.dumps({"text": t, "url": "x"}) for t in NEGATIVES[:150]]
    (root / "web.jsonl").write_text("\n".join(lines[:75]) + "\n\n" + "\n".join(lines[75:]) + "\n")


def test_train_from_files_and_score_files_round_trip(tmp_path):
    _write_corpus(tmp_path)
    out = str(tmp_path / "clf")
    report = train_from_files(str(tmp_path / "wiki" / "*.txt"), str(tmp_path / "web.jsonl"),
                              out, **SMALL)
    assert report.precision > 0.95 and report.recall > 0.95
    with pytest.raises(FileExistsError, match="quality_config.json"):
        train_from_files(str(tmp_path / "wiki" / "*.txt"), str(tmp_path / "web.jsonl"), out)

    scored = tmp_path / "scores.jsonl"
    assert score_files(out, str(tmp_path / "web.jsonl"), str(scored), batch_size=64) == 150
    records = [json.loads(line) for line in scored.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(150))  # the blank line is skipped
    expected = QualityClassifier.load(out).score(NEGATIVES[:150])
    np.testing.assert_allclose([r["score"] for r in records], expected, rtol=1e-6)
    with pytest.raises(FileExistsError, match="scores.jsonl"):
        score_files(out, str(tmp_path / "web.jsonl"), str(scored))


def test_file_errors_name_the_path_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\*\.jsonl: the pattern matches no file"):
        list(read_documents(str(tmp_path / "*.jsonl")))
    with pytest.raises(FileNotFoundError, match="missing.txt: no such file"):
        list(read_documents(str(tmp_path / "missing.txt")))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n\n{"text": \n')
    with pytest.raises(ValueError, match="bad.jsonl:3: not valid JSON"):
        list(read_documents(str(tmp_path / "bad.jsonl")))
    (tmp_path / "list.jsonl").write_text("[1]\n")
    with pytest.raises(ValueError, match="list.jsonl:1: expected a JSON object, got list"):
        list(read_documents(str(tmp_path / "list.jsonl")))
    for name, line, problem in [("nofield", '{"body": "ok"}', "no field 'text'"),
                                ("number", '{"text": 3}', "field 'text' holds int")]:
        (tmp_path / f"{name}.jsonl").write_text(line + "\n")
        with pytest.raises(ValueError, match=f"{name}.jsonl:1: {problem}"):
            list(read_documents(str(tmp_path / f"{name}.jsonl")))
    (tmp_path / "doc.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="doc.csv: unsupported file type"):
        list(read_documents(str(tmp_path / "doc.csv")))
    with pytest.raises(FileNotFoundError, match="no quality classifier in .*quality_config.json "
                                                "does not exist; `glam quality train` writes one"):
        score_files(str(tmp_path), str(tmp_path / "bad.jsonl"), str(tmp_path / "out.jsonl"))


def test_quality_files_are_read_as_training_reads_them_bom_and_bad_bytes_included(tmp_path):
    from glam_tf.data import FilesSource

    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbfcaf\xe9 with a byte-order mark")
    (tmp_path / "b.jsonl").write_bytes(b'\xef\xbb\xbf{"text": "one \xff"}\n\n{"text": "two"}\n')
    documents = list(read_documents(str(tmp_path / "*")))
    assert [(p.rsplit("/", 1)[1], i) for p, i, _ in documents] == [("a.txt", 0), ("b.jsonl", 0),
                                                                   ("b.jsonl", 1)]
    texts = [t for *_, t in documents]
    assert texts == ["caf\ufffd with a byte-order mark", "one \ufffd", "two"]
    training = FilesSource(str(tmp_path / "*"))
    assert sorted(texts) == sorted(training.texts("train") + training.texts("validation"))


def test_score_files_leaves_no_partial_output_when_an_input_is_bad(trained, tmp_path):
    classifier, _ = trained
    classifier.save(str(tmp_path / "clf"))
    good = "\n".join(json.dumps({"text": t}) for t in NEGATIVES[:5])
    (tmp_path / "in.jsonl").write_text(good + "\nnot json\n")
    with pytest.raises(ValueError, match="in.jsonl:6"):
        score_files(str(tmp_path / "clf"), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"),
                    batch_size=2)
    assert not (tmp_path / "out.jsonl").exists()


def test_pareto_keep_on_trained_scores_keeps_curated_far_more_often_than_web(trained):
    classifier, _ = trained
    curated = pareto_keep(classifier.score(_texts(CURATED, 500, seed=5)), seed=0).mean()
    web = pareto_keep(classifier.score(_texts(SPAM, 500, seed=6)), seed=1).mean()
    assert curated > 0.5 and web < 0.05, (curated, web)


# -- the quality: data spec -------------------------------------------------

WEB_CURATED, WEB_SPAM = _texts(CURATED, 150, seed=7), _texts(SPAM, 150, seed=8)


class _Streamed(Source):
    """A source that is not in memory, as TFDS sources are not."""

    spec = "streamed"

    def documents(self, split="train"):
        return TextSource(WEB_CURATED + WEB_SPAM).documents(split)


def _read(dataset):
    return [t.decode("utf-8") for t in dataset.as_numpy_iterator()]


def _all(source):
    return _read(source.documents("train")) + _read(source.documents("validation"))


@pytest.fixture(scope="module")
def crawl(trained, tmp_path_factory):
    """(classifier dir, web crawl .jsonl: curated-like and spam lines interleaved, books dir)."""
    root = tmp_path_factory.mktemp("crawl")
    trained[0].save(str(root / "clf"))
    lines = [json.dumps({"text": t}) for pair in zip(WEB_CURATED, WEB_SPAM) for t in pair]
    (root / "web.jsonl").write_text("\n".join(lines) + "\n")
    (root / "books").mkdir()
    for i, text in enumerate(_texts(CURATED, 30, seed=9)):
        (root / "books" / f"{i}.txt").write_text(text)
    return str(root / "clf"), str(root / "web.jsonl"), str(root / "books")


def test_quality_spec_keeps_curated_like_pages_far_more_than_spam_and_logs_counts(
        crawl, caplog):
    clf, web, _ = crawl
    with caplog.at_level(logging.INFO, logger="glam_tf.data.quality_source"):
        source = parse_data_spec(f"quality:{clf}=files:{web}")
    kept = _all(source)
    curated = len(set(kept) & set(WEB_CURATED)) / len(WEB_CURATED)
    spam = len(set(kept) & set(WEB_SPAM)) / len(WEB_SPAM)
    assert curated > 0.5 and spam < 0.05, (curated, spam)
    assert source.scored == 300 and source.kept == len(kept) == source.stats.documents
    assert f"kept {len(kept)} of 300 documents" in repr(source)
    assert f"kept {len(kept)} of 300 documents" in caplog.text


def test_quality_spec_keeps_pareto_keep_with_seed_0_and_is_deterministic(crawl):
    clf, web, _ = crawl
    source = parse_data_spec(f"quality:{clf}=files:{web}")
    inner = parse_data_spec(f"files:{web}")
    texts = inner.texts("train") + inner.texts("validation")
    keep = pareto_keep(QualityClassifier.load(clf).score(texts), alpha=9.0, seed=0)
    assert _all(source) == [t for t, k in zip(texts, keep) if k]
    assert _all(parse_data_spec(f"quality:{clf}=files:{web}")) == _all(source)
    assert parse_data_spec(f"quality:{clf}:2=files:{web}").kept > source.kept  # smaller alpha


def test_quality_spec_works_inside_mix_and_as_the_glam_webpages_component(crawl):
    clf, web, books = crawl
    mix = parse_data_spec(f"mix:quality:{clf}:9=files:{web}=0.5,files:{books}/*.txt=0.5")
    assert isinstance(mix.sources[0], QualitySource) and mix.weights == (0.5, 0.5)
    drawn = set(_read(mix.stream(seed=0).take(100)))
    assert drawn & set(WEB_CURATED) and drawn & set(mix.sources[1].texts())
    env = {f"GLAM_DATA_{c.name.upper()}": f"files:{books}/*.txt" for c in GLAM_COMPONENTS}
    glam = parse_data_spec(f"glam:webpages=quality:{clf}=files:{web}", env=env)
    assert glam.names[0] == "webpages" and isinstance(glam.sources[0], QualitySource)
    assert glam.sources[0].kept == mix.sources[0].kept


def test_make_dataset_on_quality_spec_yields_packed_batches(crawl, tmp_path):
    clf, web, _ = crawl
    tokenizer = train_tokenizer(embedded_documents()[:300], 1024, tmp_path, model_type="bpe")
    batches = make_dataset(f"quality:{clf}=files:{web}", tokenizer, batch_size=4,
                           row_length=32, seed=0)
    for batch in batches.take(3).as_numpy_iterator():
        assert {k: v.shape for k, v in batch.items()} == {
            "token_ids": (4, 32), "segment_ids": (4, 32), "positions": (4, 32)}
        assert (batch["segment_ids"] > 0).all()  # repeated training data: no padding


def test_streamed_source_is_filtered_in_graph_the_same_way_in_every_order(crawl):
    clf, _, _ = crawl
    source = QualitySource(_Streamed(), clf)
    assert source.kept is None and "filtered as it streams" in repr(source)
    kept = _all(source)
    curated = len(set(kept) & set(WEB_CURATED)) / len(WEB_CURATED)
    spam = len(set(kept) & set(WEB_SPAM)) / len(WEB_SPAM)
    assert curated > 0.5 and spam < 0.05, (curated, spam)
    for seed in (1, 2):
        streamed = _read(source.stream(seed=seed, shuffle_buffer=1000, repeat=False))
        assert sorted(streamed) == sorted(_read(source.documents("train")))
    tfds_source = parse_data_spec(f"quality:{clf}:3=tfds:imdb_reviews")
    assert isinstance(tfds_source.source, TfdsSource) and tfds_source.alpha == 3.0


def test_streamed_filter_keeps_documents_with_probability_2_minus_score_to_the_minus_alpha(
        crawl):
    clf, _, _ = crawl
    kept = len(_all(QualitySource(_Streamed(), clf, alpha=1.0)))
    p = (2 - QualityClassifier.load(clf).score(WEB_CURATED + WEB_SPAM)) ** -1.0  # [300]
    assert abs(kept - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum()), (kept, p.sum())


@pytest.mark.parametrize("body, match", [
    ("{clf}:0=files:{web}", "alpha=0: must be a finite number > 0"),
    ("{clf}:-2=files:{web}", "alpha=-2: must be"),
    ("{clf}:nan=files:{web}", "alpha=nan: must be"),
    ("{clf}=mix:files:{web}=1", "cannot filter a mixture"),
    ("{clf}", r"expected quality:CLASSIFIER_DIR\[:ALPHA\]=SPEC"),
    ("=files:{web}", "expected quality:"),
    ("{clf}=", "expected quality:"),
    ("{clf}:1e6=files:{web}", "kept none of the 300 documents"),
])
def test_bad_quality_spec_is_a_value_error_naming_spec_and_problem(crawl, body, match):
    clf, web, _ = crawl
    spec = "quality:" + body.format(clf=clf, web=web)
    with pytest.raises(ValueError, match=match) as error:
        parse_data_spec(spec)
    assert spec in str(error.value)


def test_missing_classifier_is_an_error_before_the_source_is_read(tmp_path):
    spec = f"quality:{tmp_path}/nowhere=files:{tmp_path}/no/*.jsonl"
    with pytest.raises(FileNotFoundError, match="no quality classifier in .*quality_config.json"
                       ) as error:
        parse_data_spec(spec)
    assert spec in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"ALPHA, after the last ':', must be a number"):
        parse_data_spec(f"quality:{tmp_path}/clf:nine=embedded")
