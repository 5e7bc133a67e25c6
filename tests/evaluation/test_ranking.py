import numpy as np
import pytest
import sentencepiece as spm
import tensorflow as tf

from glam_tf import decoding
from glam_tf.evaluation.ranking import (accuracy, model_candidates_score_fn, model_score_fn,
                                        rank_classify)
from glam_tf.tasks.task import Formatted


def _table_score_fn(table, calls=None):
    """A scorer whose answers are given: {(context, continuation): (log_likelihood, tokens)}."""
    def score_fn(contexts, continuations):
        if calls is not None:
            calls.append(len(contexts))
        rows = [table[pair] for pair in zip(contexts, continuations)]
        return [r[0] for r in rows], [r[1] for r in rows]
    return score_fn


def test_rank_classify_picks_the_candidate_the_scorer_likes_best():
    examples = [Formatted(prompt="Q1", candidates=(" a", " b", " c"), label=1),
                Formatted(prompt="Q2", candidates=(" x", " y"), label=0),
                Formatted(prompt="Q3", candidates=(" u", " v"), label=0)]
    table = {("Q1", " a"): (-5.0, 1), ("Q1", " b"): (-1.0, 1), ("Q1", " c"): (-3.0, 1),
             ("Q2", " x"): (-0.5, 1), ("Q2", " y"): (-2.0, 1),
             ("Q3", " u"): (-4.0, 1), ("Q3", " v"): (-2.0, 1)}
    calls = []
    results = rank_classify(examples, _table_score_fn(table, calls), "token", batch_size=3)
    assert [r["prediction"] for r in results] == [1, 0, 1]
    assert [r["correct"] for r in results] == [True, True, False]
    assert results[0]["scores"] == [-5.0, -1.0, -3.0]
    assert accuracy(results) == pytest.approx(2 / 3)
    assert calls == [3, 3, 1]       # 7 candidates batched across examples


def _table_candidates_score_fn(table, calls):
    """The same table, as a scorer that takes each context with a list of candidates."""
    def candidates_score_fn(contexts, candidate_lists):
        calls.append([(context, len(cands)) for context, cands in zip(contexts, candidate_lists)])
        rows = [[table[(context, c)] for c in cands]
                for context, cands in zip(contexts, candidate_lists)]
        return [[r[0] for r in row] for row in rows], [[r[1] for r in row] for row in rows]
    return candidates_score_fn


def test_a_shared_context_is_passed_once_with_all_its_candidates():
    examples = [Formatted(prompt="Q1", candidates=(" a", " b", " c"), label=1),
                Formatted(prompt="Q2", candidates=(" x", " y"), label=0),
                Formatted(prompt="The", candidates=(" ran.", " ran."), label=1,
                          candidate_prompts=("The dog", "The cat"))]
    table = {("Q1", " a"): (-5.0, 1), ("Q1", " b"): (-1.0, 1), ("Q1", " c"): (-3.0, 1),
             ("Q2", " x"): (-0.5, 1), ("Q2", " y"): (-2.0, 1),
             ("The dog", " ran."): (-3.0, 2), ("The cat", " ran."): (-1.0, 2)}
    calls, pair_calls = [], []
    shared = rank_classify(examples, _table_score_fn(table, pair_calls), "token", batch_size=4,
                           candidates_score_fn=_table_candidates_score_fn(table, calls))
    per_pair = rank_classify(examples, _table_score_fn(table), "token", batch_size=4)
    assert shared == per_pair
    assert pair_calls == []
    # At most 4 rows once padded to the widest unit; each context once per batch.
    assert calls == [[("Q1", 3)], [("Q2", 2), ("The dog", 1)], [("The cat", 1)]]


def test_an_example_with_more_candidates_than_the_batch_is_split_into_chunks():
    example = Formatted(prompt="Q", candidates=tuple(f" {c}" for c in "abcde"), label=3)
    table = {("Q", f" {c}"): (-float(i), 1) for i, c in enumerate("dabce")}
    calls = []
    result = rank_classify([example], None, "token", batch_size=2,
                           candidates_score_fn=_table_candidates_score_fn(table, calls))[0]
    assert result["prediction"] == 3 and result["correct"]
    assert calls == [[("Q", 2)], [("Q", 2)], [("Q", 1)]]


def test_unconditional_normalization_subtracts_the_answers_prior_and_changes_the_pick():
    # " Paris" is likelier after the question, but far likelier after "Answer:" alone:
    # the question raises " Lyon" more.
    example = Formatted(prompt="Q: capital?\nAnswer:", candidates=(" Paris", " Lyon"), label=1)
    table = {("Q: capital?\nAnswer:", " Paris"): (-1.0, 1),
             ("Q: capital?\nAnswer:", " Lyon"): (-2.0, 1),
             ("Answer:", " Paris"): (-0.5, 1), ("Answer:", " Lyon"): (-6.0, 1)}
    plain = rank_classify([example], _table_score_fn(table), "sum")[0]
    assert plain["prediction"] == 0
    for shared in (None, _table_candidates_score_fn(table, [])):
        result = rank_classify([example], _table_score_fn(table), "unconditional",
                               candidates_score_fn=shared, unconditional_context="Answer:")[0]
        assert result["scores"] == [-0.5, 4.0] and (result["prediction"], result["correct"]) \
            == (1, True)
        assert result["unconditional_log_likelihoods"] == [-0.5, -6.0]
    with pytest.raises(ValueError, match="only normalization 'unconditional' takes one"):
        rank_classify([example], _table_score_fn(table), "token", unconditional_context="Answer:")
    with pytest.raises(ValueError, match="needs a non-empty unconditional_context"):
        rank_classify([example], _table_score_fn(table), "unconditional")


def test_each_normalization_scores_as_its_formula_and_changes_the_pick():
    # " long answer here" has the higher log-likelihood per token and per character,
    # but the lower sum.
    example = Formatted(prompt="Q", candidates=(" short", " long answer here"), label=1)
    table = {("Q", " short"): (-2.0, 1), ("Q", " long answer here"): (-3.0, 3)}
    picks = {}
    for name in ("sum", "token", "char"):
        result = rank_classify([example], _table_score_fn(table), name)[0]
        picks[name] = result["prediction"]
        expected = {"sum": [-2.0, -3.0], "token": [-2.0, -1.0],
                    "char": [-2.0 / 6, -3.0 / 17]}[name]
        assert result["scores"] == pytest.approx(expected)
    assert picks == {"sum": 0, "token": 1, "char": 1}
    with pytest.raises(ValueError, match="must be one of sum, token, char, unconditional"):
        rank_classify([example], _table_score_fn(table), True)


def test_candidate_prompts_are_the_contexts_when_present():
    # Winogrande-style partial scoring: the same continuation after two contexts.
    example = Formatted(prompt="The", candidates=(" ran.", " ran."), label=1,
                        candidate_prompts=("The dog", "The cat"))
    table = {("The dog", " ran."): (-3.0, 2), ("The cat", " ran."): (-1.0, 2)}
    result = rank_classify([example], _table_score_fn(table), "token")[0]
    assert (result["prediction"], result["correct"]) == (1, True)


def test_accepted_candidates_also_count_as_correct():
    example = Formatted(prompt="Q", candidates=(" A", " a", " b"), label=0, accepted=(1,))
    table = {("Q", " A"): (-2.0, 1), ("Q", " a"): (-1.0, 1), ("Q", " b"): (-3.0, 1)}
    assert rank_classify([example], _table_score_fn(table), "token")[0]["correct"]


def test_rank_classify_rejects_a_scorer_returning_the_wrong_count():
    example = Formatted(prompt="Q", candidates=(" a", " b"), label=0)
    with pytest.raises(ValueError, match="returned 1"):
        rank_classify([example], lambda c, t: ([0.0], [1]), "token")


# -- model_score_fn on a tiny random model -----------------------------------

_WORDS = ("the big small red old cat dog fox bird cow sat on mat log hill roof tree ran "
          "jumped quickly slowly over under green blue yellow house garden river stone "
          "window morning evening winter summer people children teacher question answer "
          "because although whenever something nothing everything").split()
# A few hundred short lines with enough distinct pieces for a 300-piece vocabulary.
_LINES = [" ".join(_WORDS[(i * 7 + j * 13) % len(_WORDS)] for j in range(3 + i % 5))
          + f" number {i}.\n" for i in range(400)]


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    from glam_tf.tokenizer import train_tokenizer

    return train_tokenizer(_LINES, 300, tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def model():
    import keras

    from glam_tf.config import GlamConfig
    from glam_tf.model import GlamModel

    keras.utils.set_random_seed(5)
    return GlamModel(GlamConfig(vocab_size=300, num_layers=1, d_model=16, d_ff=32, num_heads=2,
                                head_dim=8, num_experts=2, group_size=16,
                                moe_interval=1))   # one layer: it must be the MoE one


def _continuation(processor, context, continuation):
    """The continuation's pieces as they follow the context in the joined text."""
    return processor.encode(context + continuation)[len(processor.encode(context)):]


def _direct_score(model, processor, pairs, max_length):
    """decoding.score on ids built by the Python SentencePiece library."""
    rows = []
    for context, continuation in pairs:
        cont = _continuation(processor, context, continuation)
        ctx = ([1] + processor.encode(context))[-(max_length - len(cont)):]
        rows.append((ctx, cont))
    p, c = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    ids, mask = np.zeros((len(rows), p), np.int32), np.zeros((len(rows), p), np.int32)
    cids, cmask = np.zeros((len(rows), c), np.int32), np.zeros((len(rows), c), np.int32)
    for i, (ctx, cont) in enumerate(rows):
        ids[i, p - len(ctx):], mask[i, p - len(ctx):] = ctx, 1
        cids[i, :len(cont)], cmask[i, :len(cont)] = cont, 1
    out = decoding.score(model, tf.constant(ids), tf.constant(mask), tf.constant(cids),
                         tf.constant(cmask))
    return out["log_likelihood"].numpy(), out["num_tokens"].numpy(), [r[0] for r in rows]


@pytest.mark.parametrize("max_length", [128, 20])   # 20 cuts the long context from the left
def test_model_score_fn_equals_a_direct_decoding_score_call(model, tokenizer_path, max_length):
    from glam_tf.tokenizer import load_tokenizer

    processor = spm.SentencePieceProcessor(model_file=tokenizer_path)
    pairs = [("the big cat sat on the", " mat"),
             ("the old fox sat on the roof number 12. the red", " cow sat"),
             ("the", " small bird")]
    expected_ll, expected_n, contexts = _direct_score(model, processor, pairs, max_length)
    if max_length == 20:
        assert len(contexts[1]) == 20 - len(_continuation(processor, pairs[1][0], " cow sat"))
        assert len(processor.encode(pairs[1][0])) + 1 > len(contexts[1])  # it was cut
    score_fn = model_score_fn(model, load_tokenizer(tokenizer_path), max_length)
    lls, counts = score_fn([p[0] for p in pairs], [p[1] for p in pairs])
    np.testing.assert_allclose(lls, expected_ll, rtol=1e-5, atol=1e-5)
    assert counts == expected_n.tolist()
    assert all(np.isfinite(lls)) and all(ll < 0 for ll in lls)


def test_model_score_fn_plugs_into_rank_classify(model, tokenizer_path):
    from glam_tf.tokenizer import load_tokenizer

    score_fn = model_score_fn(model, load_tokenizer(tokenizer_path), 32)
    example = Formatted(prompt="the big cat sat on the", candidates=(" mat", " roof"), label=0)
    result = rank_classify([example], score_fn, "token", batch_size=1)[0]
    lls, counts = score_fn([example.prompt] * 2, list(example.candidates))
    assert result["scores"] == pytest.approx([ll / n for ll, n in zip(lls, counts)], rel=1e-5)


def test_model_score_fn_rejects_a_continuation_longer_than_max_length(model, tokenizer_path):
    from glam_tf.tokenizer import load_tokenizer

    score_fn = model_score_fn(model, load_tokenizer(tokenizer_path), 3)
    with pytest.raises(ValueError, match="does not fit"):
        score_fn(["the"], [" the big cat sat on the mat"])


def test_model_candidates_score_fn_equals_model_score_fn_on_every_pair(model, tokenizer_path):
    from glam_tf.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    contexts = ["the big cat sat on the", "the"]
    candidates = [[" mat", " roof of the house", " cow"], [" small bird"]]
    shared = model_candidates_score_fn(model, tokenizer, 128)(contexts, candidates)
    pairs = [(c, x) for c, xs in zip(contexts, candidates) for x in xs]
    lls, counts = model_score_fn(model, tokenizer, 128)([p[0] for p in pairs],
                                                       [p[1] for p in pairs])
    np.testing.assert_allclose([x for row in shared[0] for x in row], lls, rtol=1e-4,
                               atol=1e-5)
    assert [n for row in shared[1] for n in row] == counts
    assert [len(row) for row in shared[0]] == [3, 1]


def test_model_candidates_score_fn_cuts_the_context_for_its_longest_candidate(
        model, tokenizer_path):
    from glam_tf.tokenizer import load_tokenizer

    processor = spm.SentencePieceProcessor(model_file=tokenizer_path)
    context, candidates = "the old fox sat on the roof number 12. the red", [" cow sat", " a"]
    pieces = [_continuation(processor, context, c) for c in candidates]
    longest = max(map(len, pieces))
    expected_ll, expected_n, rows = _direct_score(
        model, processor, [(context, c) for c in candidates], 20)
    # _direct_score cuts per candidate; the shared context is cut once for the longest.
    kept = 20 - longest
    direct = decoding.score(
        model, tf.constant([rows[0][-kept:]] * 2),
        tf.ones((2, kept), tf.int32),
        tf.constant([p + [0] * (longest - len(p)) for p in pieces]),
        tf.constant([[1] * len(p) + [0] * (longest - len(p)) for p in pieces]))
    lls, counts = model_candidates_score_fn(model, load_tokenizer(tokenizer_path), 20)(
        [context], [candidates])
    np.testing.assert_allclose(lls[0], direct["log_likelihood"].numpy(), rtol=1e-4, atol=1e-5)
    assert counts[0] == expected_n.tolist()


def test_model_candidates_score_fn_rejects_an_empty_candidate(model, tokenizer_path):
    from glam_tf.tokenizer import load_tokenizer

    with pytest.raises(ValueError, match="the continuation '' has 0 tokens"):
        model_candidates_score_fn(model, load_tokenizer(tokenizer_path), 32)(["the"], [[""]])


def test_a_continuation_is_scored_with_the_pieces_it_has_after_its_context(model,
                                                                           tokenizer_path):
    from glam_tf.tokenizer import load_tokenizer

    processor = spm.SentencePieceProcessor(model_file=tokenizer_path)
    context, continuation = "Q: where did the cat sit?\nA:", " mat"
    after = _continuation(processor, context, continuation)
    # Alone, SentencePiece's dummy prefix gives " mat" one more leading space.
    assert processor.encode(continuation) != after
    assert processor.encode(context) + after == processor.encode(context + continuation)
    tokenizer = load_tokenizer(tokenizer_path)
    _, counts = model_score_fn(model, tokenizer, 64)([context], [continuation])
    _, shared_counts = model_candidates_score_fn(model, tokenizer, 64)([context],
                                                                       [[continuation]])
    assert counts == shared_counts[0] == [len(after)]
