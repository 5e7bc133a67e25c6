import itertools

import numpy as np
import pytest
import tensorflow as tf

from glam_tf import decoding
from glam_tf.config import GlamConfig
from glam_tf.model import GlamModel

TINY = GlamConfig(vocab_size=12, num_layers=2, d_model=32, d_ff=48, num_heads=2, head_dim=8,
                  num_experts=4, group_size=16, max_seq_len=32, min_expert_capacity=1)


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    return GlamModel(TINY)


def _left_padded(prompts):
    width = max(map(len, prompts))
    ids = np.zeros((len(prompts), width), np.int32)
    mask = np.zeros((len(prompts), width), np.int32)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = prompt
        mask[row, width - len(prompt):] = 1
    return ids, mask


def _greedy_by_recomputing(model, prompt, steps, eos_id=1):
    tokens = list(prompt)
    out = []
    for _ in range(steps):
        token = int(np.argmax(model(np.array([tokens], np.int32))[0, -1]))
        out.append(token)
        if token == eos_id:
            break
        tokens.append(token)
    return out


def test_greedy_with_the_cache_equals_greedy_by_recomputing_the_prefix(model):
    prompts = [[5, 7, 3], [4, 9, 2, 8, 6, 3], [10]]
    ids, mask = _left_padded(prompts)
    out = decoding.generate(model, ids, mask, 6, eos_id=-1)
    for row, prompt in enumerate(prompts):
        expected = _greedy_by_recomputing(model, prompt, 6, eos_id=-1)
        assert out["token_ids"][row].numpy().tolist() == expected
        log_probs = tf.nn.log_softmax(model(np.array([prompt + expected[:-1]], np.int32)))[0]
        expected_score = sum(float(log_probs[len(prompt) - 1 + i, t])
                             for i, t in enumerate(expected))
        np.testing.assert_allclose(out["scores"][row], expected_score, rtol=1e-4)


def test_generation_stops_at_eos_and_pads_after_it(model):
    ids, mask = _left_padded([[5, 7, 3]])
    first = int(decoding.generate(model, ids, mask, 1, eos_id=-1)["token_ids"][0, 0])
    out = decoding.generate(model, ids, mask, 5, eos_id=first)
    assert out["token_ids"][0].numpy().tolist() == [first, 0, 0, 0, 0]
    assert int(out["lengths"][0]) == 0


def test_sampling_is_deterministic_under_a_seed_and_top_k_1_is_greedy(model):
    ids, mask = _left_padded([[5, 7, 3], [4, 9]])
    a = decoding.generate(model, ids, mask, 8, temperature=1.0, seed=(1, 2), eos_id=-1)
    b = decoding.generate(model, ids, mask, 8, temperature=1.0, seed=(1, 2), eos_id=-1)
    c = decoding.generate(model, ids, mask, 8, temperature=1.0, seed=(9, 9), eos_id=-1)
    np.testing.assert_array_equal(a["token_ids"], b["token_ids"])
    assert not np.array_equal(a["token_ids"], c["token_ids"])
    top1 = decoding.generate(model, ids, mask, 8, temperature=1.0, top_k=1, eos_id=-1)
    greedy = decoding.generate(model, ids, mask, 8, eos_id=-1)
    np.testing.assert_array_equal(top1["token_ids"], greedy["token_ids"])


def test_top_k_and_top_p_keep_exactly_the_expected_tokens():
    logits = tf.math.log([[0.5, 0.2, 0.15, 0.1, 0.05]])
    kept = lambda **kw: (decoding._filter_logits(logits, 1.0, **kw)[0] > -1e8).numpy().tolist()
    assert kept(top_k=2, top_p=1.0) == [True, True, False, False, False]
    assert kept(top_k=0, top_p=0.6) == [True, True, False, False, False]
    assert kept(top_k=0, top_p=0.9) == [True, True, True, True, False]
    assert kept(top_k=0, top_p=0.01) == [True, False, False, False, False]


def test_decoding_never_emits_the_padding_token_even_when_the_model_favours_it():
    import keras

    keras.utils.set_random_seed(3)
    model = GlamModel(TINY)
    ids, mask = _left_padded([[5, 7, 3], [4, 9]])
    greedy = decoding.generate(model, ids, mask, 4, eos_id=-1)["token_ids"].numpy()
    # Tied embeddings: a padding row 50 times the first greedy token's makes padding
    # the model's favourite wherever that token's logit is positive.
    favourite = int(greedy[0, 0])
    model.embedding.assign(tf.tensor_scatter_nd_update(
        model.embedding, [[0]], 50.0 * model.embedding[favourite][None]))
    logits = model(np.array([[5, 7, 3]], np.int32))[0, -1].numpy()
    assert logits.argmax() == 0  # the premise: unmasked, greedy would write padding
    outputs = [decoding.generate(model, ids, mask, 4, eos_id=-1),
               decoding.generate(model, ids, mask, 4, temperature=1.0, seed=(1, 2), eos_id=-1),
               decoding.beam_search(model, ids, mask, 4, beam_size=4, eos_id=-1)]
    for out in outputs:
        assert (out["token_ids"].numpy() != 0).all(), out["token_ids"]
        assert out["lengths"].numpy().tolist() == [4, 4]


def test_beam_search_finds_the_exhaustive_best_sequence(model):
    prompt = [5, 7, 3]
    ids, mask = _left_padded([prompt])
    out = decoding.beam_search(model, ids, mask, 3, beam_size=TINY.vocab_size ** 2, eos_id=-1)
    # Exhaustive reference: every 3-token continuation scored by full forward passes
    # (of real tokens: the padding token 0 is never generated).
    candidates = np.array([prompt + list(c) for c in itertools.product(
        range(1, TINY.vocab_size), repeat=3)], np.int32)
    log_probs = tf.nn.log_softmax(model(candidates[:, :-1]))
    totals = sum(tf.gather(log_probs[:, len(prompt) - 1 + i], candidates[:, len(prompt) + i],
                           batch_dims=1) for i in range(3)).numpy()
    best = candidates[np.argmax(totals), len(prompt):].tolist()
    assert out["token_ids"][0].numpy().tolist() == best
    np.testing.assert_allclose(out["scores"][0], totals.max(), rtol=1e-4)


def test_beam_of_one_is_greedy_and_wider_beams_score_at_least_as_well(model):
    ids, mask = _left_padded([[5, 7, 3], [4, 9, 2, 8]])
    greedy = decoding.generate(model, ids, mask, 5, eos_id=-1)
    one = decoding.beam_search(model, ids, mask, 5, beam_size=1, eos_id=-1)
    four = decoding.beam_search(model, ids, mask, 5, beam_size=4, eos_id=-1)
    np.testing.assert_array_equal(one["token_ids"], greedy["token_ids"])
    assert np.all(four["scores"].numpy() >= greedy["scores"].numpy() - 1e-5)


def test_score_equals_the_sum_of_next_token_log_probabilities(model):
    prompts, continuations = [[5, 7, 3], [4]], [[2, 9], [6, 6, 8]]
    p_ids, p_mask = _left_padded(prompts)
    c_ids = np.zeros((2, 3), np.int32)
    c_mask = np.zeros((2, 3), np.int32)
    for row, c in enumerate(continuations):
        c_ids[row, :len(c)], c_mask[row, :len(c)] = c, 1
    out = decoding.score(model, p_ids, p_mask, c_ids, c_mask)
    for row, (p, c) in enumerate(zip(prompts, continuations)):
        log_probs = tf.nn.log_softmax(model(np.array([p + c], np.int32)))[0]
        expected = sum(float(log_probs[len(p) - 1 + i, t]) for i, t in enumerate(c))
        np.testing.assert_allclose(out["log_likelihood"][row], expected, rtol=1e-4)
        greedy = all(int(np.argmax(log_probs[len(p) - 1 + i])) == t for i, t in enumerate(c))
        assert bool(out["is_greedy"][row]) == greedy
    assert out["num_tokens"].numpy().tolist() == [2, 3]
    greedy_c = decoding.generate(model, p_ids[:1], p_mask[:1], 2, eos_id=-1)["token_ids"]
    assert bool(decoding.score(model, p_ids[:1], p_mask[:1], greedy_c,
                               np.ones((1, 2), np.int32))["is_greedy"][0])


def test_score_candidates_runs_the_prompt_once_and_equals_score_on_every_pair(model):
    prompts = [[5, 7, 3], [4], [9, 2, 8, 6]]
    candidates = [[[2, 9], [6], [3, 3, 5]], [[6, 6, 8], [7], []], [[10], [11, 4], [5]]]
    p_ids, p_mask = _left_padded(prompts)
    c_ids = np.zeros((3, 3, 3), np.int32)
    c_mask = np.zeros((3, 3, 3), np.int32)
    for b, row in enumerate(candidates):
        for n, c in enumerate(row):
            c_ids[b, n, :len(c)], c_mask[b, n, :len(c)] = c, 1
    out = decoding.score_candidates(model, p_ids, p_mask, c_ids, c_mask)
    for key in ("log_likelihood", "num_tokens", "is_greedy"):
        assert out[key].shape == (3, 3)
    for n in range(3):  # the same pairs, one candidate per prompt, through `score`
        pair = decoding.score(model, p_ids, p_mask, c_ids[:, n], c_mask[:, n])
        np.testing.assert_allclose(out["log_likelihood"][:, n], pair["log_likelihood"],
                                   rtol=1e-4, atol=1e-5)
        assert out["num_tokens"][:, n].numpy().tolist() == pair["num_tokens"].numpy().tolist()
        assert (out["is_greedy"][:, n].numpy().tolist()
                == pair["is_greedy"].numpy().tolist())
    assert out["num_tokens"][1, 2] == 0 and out["log_likelihood"][1, 2] == 0.0
