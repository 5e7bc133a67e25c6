"""Constants and reference computations shared by the tests in tests/export."""

import numpy as np
import tensorflow as tf

NAME = "glam"
MAX_BATCH = 4
MAX_NEW_TOKENS = 8
# Four prompts (= MAX_BATCH): ordinary text, empty, code, and one far longer
# than max_seq_len (128) that must be cut from the left.
PROMPTS = ["The quick brown fox", "", "def main():\n    return 0", "word " * 200]


def prompt_rows(tokenizer, prompts, room):
    """[EOS] + the last (room - 1) tokens of each prompt, left-padded: (ids, mask, dropped)."""
    rows, dropped = [], []
    for tokens in tokenizer.tokenize(tf.constant(prompts)).to_list():
        kept = tokens[max(len(tokens) - (room - 1), 0):]
        rows.append([1] + kept)
        dropped.append(len(tokens) - len(kept))
    width = max(map(len, rows))
    ids = np.array([[0] * (width - len(r)) + r for r in rows], np.int32)
    mask = np.array([[0] * (width - len(r)) + [1] * len(r) for r in rows], np.int32)
    return ids, mask, np.array(dropped, np.int32)


def continuation_rows(tokenizer, prompts, continuations):
    """Each continuation's tokens as read after its prompt, right-padded: (ids, mask).

    The tokens of prompt + continuation after the prompt's own (a continuation
    tokenized alone would start with SentencePiece's dummy-prefix space).
    """
    alone = tokenizer.tokenize(tf.constant(prompts)).to_list()
    joined = tokenizer.tokenize(tf.constant([p + c for p, c in zip(prompts, continuations)]))
    rows = [j[len(a):] for a, j in zip(alone, joined.to_list())]
    width = max(map(len, rows))
    ids = np.array([r + [0] * (width - len(r)) for r in rows], np.int32).reshape(len(rows), width)
    mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], np.int32)
    return ids, mask.reshape(len(rows), width)


def assert_same_outputs(actual: dict, expected: dict):
    """Equal names; floats to 1e-4 (graph optimizations reorder sums), everything else exactly."""
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        got = np.asarray(actual[name].numpy() if hasattr(actual[name], "numpy") else actual[name])
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-4, err_msg=name)
        else:
            np.testing.assert_array_equal(got, value, err_msg=name)
