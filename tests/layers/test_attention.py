import math

import numpy as np
import tensorflow as tf

from glam_tf.layers.attention import Attention
from glam_tf.layers.relative_position_bias import (RelativePositionBias,
                                                   relative_position_bucket)
from glam_tf.layers.rms_norm import RMSNorm


def _bucket_reference(key_minus_query, num_buckets, max_distance):
    distance = max(-key_minus_query, 0)
    exact = num_buckets // 2
    if distance < exact:
        return distance
    large = exact + int(math.log(distance / exact) / math.log(max_distance / exact)
                        * (num_buckets - exact))
    return min(large, num_buckets - 1)


def test_relative_position_buckets_match_the_t5_formula():
    relative = np.arange(-400, 5)
    got = relative_position_bucket(tf.constant(relative), 32, 128).numpy()
    expected = [_bucket_reference(int(r), 32, 128) for r in relative]
    np.testing.assert_array_equal(got, expected)
    assert got[relative == 0] == 0 and got[relative == -15] == 15
    assert got[relative == -400] == 31  # beyond max_distance: the last bucket


def test_relative_position_bias_depends_only_on_the_distance():
    layer = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16)
    a = layer(tf.range(4), tf.range(6))
    b = layer(tf.range(4) + 10, tf.range(6) + 10)
    assert a.shape == (1, 2, 4, 6)
    np.testing.assert_allclose(a, b)


def test_attention_matches_numpy_softmax_attention():
    rng = np.random.default_rng(0)
    layer = Attention(num_heads=2, head_dim=3)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    mask = np.tril(np.ones((5, 5), bool))[None, None].repeat(2, 0)
    bias = rng.normal(size=(1, 2, 5, 5)).astype(np.float32)
    out = layer(x, mask, bias).numpy()

    wq, wk, wv, wo = (w.numpy() for w in (layer.query, layer.key, layer.value,
                                          layer.output_weight))
    expected = np.zeros_like(x)
    for b in range(2):
        for n in range(2):
            q, k, v = x[b] @ wq[:, n], x[b] @ wk[:, n], x[b] @ wv[:, n]
            logits = q @ k.T / math.sqrt(3) + bias[0, n]
            logits[~mask[b, 0]] = -np.inf
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            expected[b] += (probs @ v) @ wo[n]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_attention_cache_write_places_keys_at_the_cache_index():
    layer = Attention(num_heads=1, head_dim=2)
    x = np.ones((1, 2, 3), np.float32)
    cache = {"k": tf.zeros([1, 6, 1, 2]), "v": tf.zeros([1, 6, 1, 2])}
    mask = np.ones((1, 1, 2, 6), bool)
    _, cache = layer(x, mask, tf.zeros([1, 1, 2, 6]), cache=cache, cache_index=tf.constant(3))
    written = np.abs(cache["k"].numpy()).sum(axis=(0, 2, 3)) > 0
    np.testing.assert_array_equal(written, [False, False, False, True, True, False])


def test_rms_norm_matches_numpy():
    x = np.random.default_rng(1).normal(size=(2, 3, 8)).astype(np.float32)
    layer = RMSNorm(epsilon=1e-6)
    expected = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5)
