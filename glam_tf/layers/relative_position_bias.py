"""T5-style bucketed relative position bias for causal attention."""

import math

import keras
import tensorflow as tf

from glam_tf.layers import dims


def relative_position_bucket(relative_position, num_buckets, max_distance):
    """Bucket of `key_pos - query_pos` for causal attention (keys not after queries).

    Distances below num_buckets // 2 get a bucket each; larger ones share
    logarithmically wider buckets up to max_distance, beyond which all share
    the last bucket. Future keys (positive relative positions) map to 0; the
    causal mask hides them anyway.
    """
    distance = tf.maximum(-relative_position, 0)
    exact = num_buckets // 2
    # log(d / exact) / log(max_distance / exact) in [0, 1) for d in [exact, max_distance)
    scaled = (tf.math.log(tf.cast(tf.maximum(distance, exact), tf.float32) / exact)
              / math.log(max_distance / exact) * (num_buckets - exact))
    large = tf.minimum(exact + tf.cast(scaled, distance.dtype), num_buckets - 1)
    return tf.where(distance < exact, distance, large)


@keras.saving.register_keras_serializable(package="glam_tf")
class RelativePositionBias(keras.layers.Layer):
    """A learned scalar per (bucket, head), added to the attention logits.

    Call with query positions [L] and key positions [T] (int32); returns the
    bias [1, N, L, T]. Only differences of positions matter, so packed and
    left-padded sequences need no per-example positions.
    """

    def __init__(self, num_heads, num_buckets=32, max_distance=128, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance

    def build(self, query_positions_shape=None, key_positions_shape=None):
        self.embedding = dims.add_weight(
            self, "embedding", (self.num_buckets, self.num_heads),
            (dims.REL_BUCKETS, dims.HEADS), keras.initializers.RandomNormal(stddev=0.1))

    def call(self, query_positions, key_positions):
        relative = key_positions[tf.newaxis, :] - query_positions[:, tf.newaxis]  # [L, T]
        buckets = relative_position_bucket(relative, self.num_buckets, self.max_distance)
        # Gathering from the [N, R] table gives [N, L, T] directly. (Indexing a
        # transposed gather with [tf.newaxis] crashes DTensor's layout pass.)
        bias = tf.gather(tf.transpose(self.embedding), buckets, axis=1)  # [N, L, T]
        return tf.expand_dims(bias, 0)  # [1, N, L, T]

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads,
                "num_buckets": self.num_buckets, "max_distance": self.max_distance}
