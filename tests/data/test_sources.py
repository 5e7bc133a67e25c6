import json
import logging
import math

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from glam_tf.data import (VALIDATION_FRACTION, DataError, EmbeddedSource, FilesSource, TextSource,
                          TfdsSource, embedded_documents, parse_data_spec)


def _texts(dataset):
    return [t.decode("utf-8") for t in dataset.as_numpy_iterator()]


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- embedded ---------------------------------------------------------------

def test_embedded_corpus_is_megabytes_of_documents_and_deterministic():
    docs = embedded_documents()
    assert len(docs) > 1000
    assert sum(len(d) for d in docs) > 2_000_000
    assert all(len(d) >= 100 and d.strip() for d in docs)
    assert len(set(docs)) == len(docs)
    embedded_documents.cache_clear()
    assert embedded_documents() == docs


def test_embedded_is_the_default_spec_and_its_dataset_keeps_the_order():
    source = parse_data_spec("embedded")
    assert isinstance(source, EmbeddedSource)
    ds = source.documents("train")
    assert ds.element_spec == tf.TensorSpec([], tf.string)
    assert _texts(ds.take(5)) == source.texts("train")[:5]


def test_validation_split_is_disjoint_from_train_and_about_5_percent():
    source = EmbeddedSource()
    train, validation = source.texts("train"), source.texts("validation")
    assert not set(train) & set(validation)
    assert sorted(train + validation) == sorted(embedded_documents())
    n = len(train) + len(validation)
    sigma = math.sqrt(n * VALIDATION_FRACTION * (1 - VALIDATION_FRACTION))
    assert abs(len(validation) - n * VALIDATION_FRACTION) < 4 * sigma
    assert source.stats.validation_documents == len(validation)


def test_validation_membership_depends_on_the_text_alone():
    docs = [f"document number {i}" for i in range(400)]
    whole, half = TextSource(docs), TextSource(docs[::2])
    assert set(half.texts("validation")) == set(whole.texts("validation")) & set(docs[::2])
    assert whole.texts("validation")  # 400 documents leave some out


def test_stream_shuffles_by_seed_and_each_epoch_is_a_permutation():
    docs = [f"doc {i}" for i in range(300)]
    source = TextSource(docs)
    train = source.texts("train")
    first = _texts(source.stream(seed=1).take(2 * len(train)))
    assert sorted(first[:len(train)]) == sorted(train) == sorted(first[len(train):])
    assert first[:len(train)] != train and first[:len(train)] != first[len(train):]
    assert _texts(source.stream(seed=1).take(50)) == first[:50]
    assert _texts(source.stream(seed=2).take(50)) != first[:50]
    assert _texts(source.stream(shuffle_buffer=0, repeat=False)) == train


def test_split_argument_is_checked():
    with pytest.raises(ValueError, match="split='test'"):
        TextSource(["a document"]).documents("test")


def test_empty_split_is_an_error_naming_the_source():
    with pytest.raises(DataError, match="files-like: no document in the validation split"):
        TextSource(["only one document here"], spec="files-like").documents("validation")


# -- local files ------------------------------------------------------------

def test_files_txt_gives_one_document_per_file_in_path_order(tmp_path):
    _write(tmp_path / "b.txt", "second file\nwith two lines\n")
    _write(tmp_path / "a.txt", "first file")
    _write(tmp_path / "sub" / "c.txt", "nested file")
    _write(tmp_path / "empty.txt", "  \n")
    source = FilesSource(str(tmp_path / "**" / "*.txt"))
    assert source.stats.files == 4 and source.stats.documents == 3
    every = source.texts("train") + source.texts("validation")
    assert sorted(every) == sorted(["first file", "second file\nwith two lines\n", "nested file"])
    assert isinstance(parse_data_spec(f"files:{tmp_path}/*.txt"), FilesSource)


def test_files_jsonl_reads_one_document_per_line_from_the_field(tmp_path):
    lines = [json.dumps({"text": "alpha", "body": "one"}), "",
             json.dumps({"text": "beta\u2028gamma", "body": "two"}, ensure_ascii=False)]
    path = _write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")
    source = FilesSource(str(path))
    assert sorted(source.texts("train") + source.texts("validation")) == \
        ["alpha", "beta\u2028gamma"]
    by_body = parse_data_spec(f"files:{tmp_path}/*.jsonl:body")
    assert by_body.field == "body" and by_body.pattern == f"{tmp_path}/*.jsonl"
    assert sorted(by_body.texts("train") + by_body.texts("validation")) == ["one", "two"]


def test_missing_file_error_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here.txt"):
        parse_data_spec(f"files:{tmp_path}/nothing-here.txt")


def test_glob_matching_nothing_error_names_the_pattern(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\*\.jsonl: the pattern matches no file"):
        FilesSource(str(tmp_path / "*.jsonl"))


def test_empty_corpus_error_names_the_pattern(tmp_path):
    _write(tmp_path / "a.txt", "")
    _write(tmp_path / "b.jsonl", "\n\n")
    with pytest.raises(DataError, match=r"\*: the 2 matching file\(s\) hold no"):
        FilesSource(str(tmp_path / "*"))


def test_directory_and_unknown_file_type_are_errors_naming_them(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        FilesSource(str(tmp_path))
    _write(tmp_path / "x.csv", "a,b")
    with pytest.raises(DataError, match=r"x\.csv: unsupported file type"):
        FilesSource(str(tmp_path / "*"))


def test_bad_jsonl_line_error_names_file_and_line(tmp_path):
    path = _write(tmp_path / "bad.jsonl", '{"text": "fine"}\n{"text": broken\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        FilesSource(str(path))
    _write(path, '{"text": "fine"}\n\n["a list"]\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: expected a JSON object"):
        FilesSource(str(path))


def test_missing_or_non_string_field_error_names_file_line_and_field(tmp_path):
    path = _write(tmp_path / "f.jsonl", '{"text": "a"}\n{"body": "b", "id": 3}\n')
    with pytest.raises(DataError, match=r"f\.jsonl:2: no field 'text'; the object "
                                        r"has fields 'body', 'id'"):
        FilesSource(str(path))
    _write(path, '{"text": null}\n')
    with pytest.raises(DataError, match=r"f\.jsonl:1: field 'text' holds NoneType"):
        FilesSource(str(path))


def test_undecodable_bytes_are_replaced_and_counted(tmp_path, caplog):
    _write(tmp_path / "bad.txt", b"caf\xe9 au lait \xff\xfe and a real \xef\xbf\xbd here")
    _write(tmp_path / "good.jsonl", b'{"text": "clean \\u00e9"}\n{"text": "ok \xe9"}\n')
    _write(tmp_path / "fine.txt", "fine text")
    with caplog.at_level(logging.WARNING, logger="glam_tf.data.files"):
        source = FilesSource(str(tmp_path / "*"))
    assert source.stats.replaced_characters == 4
    assert source.stats.files_with_replacements == 2 and source.stats.files == 3
    assert "replaced 4 undecodable byte sequence(s)" in caplog.text
    texts = source.texts("train") + source.texts("validation")
    assert "caf\ufffd au lait \ufffd\ufffd and a real \ufffd here" in texts
    assert "ok \ufffd" in texts and "clean é" in texts


# -- TFDS -------------------------------------------------------------------

def test_tfds_source_reads_the_text_field_via_mock_data():
    source = parse_data_spec("tfds:imdb_reviews:train:text")
    assert isinstance(source, TfdsSource)
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        reference = [t.decode() for t in tfds.load("imdb_reviews", split="train",
                                                   download=False)
                     .map(lambda example: example["text"]).as_numpy_iterator()]
        train = source.documents("train")
        assert train.element_spec == tf.TensorSpec([], tf.string)
        train, validation = _texts(train), _texts(source.documents("validation"))
    # Mocked builders list no splits, so validation is held out by hash.
    assert train + validation and not set(train) & set(validation)
    assert sorted(train + validation) == sorted(t for t in reference if t.strip())


def test_tfds_uses_an_explicit_validation_split():
    source = TfdsSource("lm1b", "train", validation_split="test")
    with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
        assert len(_texts(source.documents("validation"))) <= 6
        assert len(_texts(source.documents("train"))) <= 6


def test_tfds_missing_feature_error_names_field_and_features():
    source = parse_data_spec("tfds:imdb_reviews:train:review")
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        with pytest.raises(DataError, match="no feature 'review'; features: label, text"):
            source.documents("train")


def test_tfds_unprepared_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not prepared"):
        parse_data_spec("tfds:lm1b", data_dir=str(tmp_path)).documents("train")


def test_tfds_spec_takes_version_slice_split_and_nested_field():
    source = parse_data_spec("tfds:wiki_dialog/OR:1.0.0:train[:10%]:conversation/text")
    assert source.name == "wiki_dialog/OR:1.0.0"
    assert source.split == "train[:10%]" and source.field == "conversation/text"
    default = parse_data_spec("tfds:lm1b")
    assert (default.name, default.split, default.field) == ("lm1b", "train", "text")


# -- spec errors ------------------------------------------------------------

@pytest.mark.parametrize("spec", ["", "   ", "nope", "embedded:extra", "files:", "tfds:",
                                  "tfds:lm1b:train:text:more", "tfds:bad name",
                                  "tfds:lm1b::text", "mix:", "mix:embedded", "quality:",
                                  "quality:/clf", "quality:=embedded", "quality:/clf="])
def test_malformed_spec_is_a_value_error_naming_it(spec):
    with pytest.raises(ValueError, match=repr(spec) if spec.strip() else "empty"):
        parse_data_spec(spec)


def test_tfds_stream_is_a_seeded_shuffle_of_the_documents():
    source = TfdsSource("lm1b", validation_split="test")
    with tfds.testing.mock_data(num_examples=30, policy=tfds.testing.MockPolicy.USE_CODE):
        documents = _texts(source.documents("train"))
        first = _texts(source.stream(seed=3, shuffle_buffer=100, repeat=False))
        again = _texts(source.stream(seed=3, shuffle_buffer=100, repeat=False))
    assert sorted(first) == sorted(documents) and first == again
