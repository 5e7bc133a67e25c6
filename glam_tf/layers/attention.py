"""Causal multi-head attention without biases, with a key/value cache."""

import keras
import tensorflow as tf

from glam_tf.layers import dims

_MASKED = -1e9  # added to logits of keys a query may not see (logits are float32)


@keras.saving.register_keras_serializable(package="glam_tf")
class Attention(keras.layers.Layer):
    """Multi-head attention; masking and position bias come from the caller.

    Call:
      x: [B, L, M] queries' inputs.
      mask: bool [B, 1, L, T], True where a query may attend to a key.
      bias: [1, N, L, T] relative position bias.
      cache: optional {"k", "v"}: [B, T, N, D] keys and values of earlier
        steps; this call's keys and values are written at cache_index.
      cache_index: int32 scalar, the position of x's first token.
    Returns the output [B, L, M] and, with a cache, the updated cache.
    """

    def __init__(self, num_heads, head_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = head_dim

    def build(self, input_shape, *args, **kwargs):
        m, n, d = input_shape[-1], self.num_heads, self.head_dim
        init_in = keras.initializers.TruncatedNormal(stddev=m ** -0.5)
        init_out = keras.initializers.TruncatedNormal(stddev=(n * d) ** -0.5)
        axes_in = (dims.EMBED, dims.HEADS, dims.KV)
        self.query = dims.add_weight(self, "query", (m, n, d), axes_in, init_in)
        self.key = dims.add_weight(self, "key", (m, n, d), axes_in, init_in)
        self.value = dims.add_weight(self, "value", (m, n, d), axes_in, init_in)
        self.output_weight = dims.add_weight(self, "output", (n, d, m),
                                             (dims.HEADS, dims.KV, dims.EMBED), init_out)

    def call(self, x, mask, bias, cache=None, cache_index=None):
        q = tf.einsum("blm,mnd->blnd", x, self.query) * (self.head_dim ** -0.5)
        k = tf.einsum("blm,mnd->blnd", x, self.key)
        v = tf.einsum("blm,mnd->blnd", x, self.value)
        if cache is not None:
            k = _write(cache["k"], k, cache_index)
            v = _write(cache["v"], v, cache_index)
            cache = {"k": k, "v": v}
        logits = tf.einsum("blnd,btnd->bnlt", q, k)
        logits = tf.cast(logits, tf.float32) + tf.cast(bias, tf.float32)
        logits = tf.where(mask, logits, _MASKED)
        probs = tf.cast(tf.nn.softmax(logits, axis=-1), x.dtype)
        context = tf.einsum("bnlt,btnd->blnd", probs, v)
        out = tf.einsum("blnd,ndm->blm", context, self.output_weight)
        return out if cache is None else (out, cache)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "head_dim": self.head_dim}


def _write(cache, new, index):
    """cache[:, index:index + L] = new, for cache [B, T, N, D] and new [B, L, N, D]."""
    shape = tf.shape(new)
    begin = tf.stack([0, index, 0, 0])
    end = begin + shape
    return tf.raw_ops.TensorStridedSliceUpdate(
        input=cache, begin=begin, end=end, strides=tf.ones([4], tf.int32),
        value=tf.cast(new, cache.dtype))
