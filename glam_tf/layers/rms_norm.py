"""RMSNorm: scale-only layer norm without mean subtraction or bias."""

import keras
import tensorflow as tf

from glam_tf.layers import dims


@keras.saving.register_keras_serializable(package="glam_tf")
class RMSNorm(keras.layers.Layer):
    """y = x / sqrt(mean(x^2) + epsilon) * scale, computed in float32.

    Input and output: [..., M]; the output has the layer's compute dtype.
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        # The statistics and the scale stay float32 under bfloat16 compute.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = dims.add_weight(self, "scale", (input_shape[-1],), (dims.EMBED,),
                                     "ones")

    def call(self, x):
        x = tf.cast(x, tf.float32)
        variance = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
        y = x * tf.math.rsqrt(variance + self.epsilon) * tf.cast(self.scale, tf.float32)
        return tf.cast(y, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
