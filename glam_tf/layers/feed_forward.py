"""The dense feed-forward network of GLaM's non-MoE blocks."""

import keras
import tensorflow as tf

from glam_tf.layers import dims


def gelu(x):
    return tf.nn.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="glam_tf")
class FeedForward(keras.layers.Layer):
    """Gated-GELU unit gelu(x Wi0) * (x Wi1) Wo, or plain gelu(x Wi0) Wo.

    Input and output: [B, L, M]. No biases.
    """

    def __init__(self, d_ff, gated=True, **kwargs):
        super().__init__(**kwargs)
        self.d_ff = d_ff
        self.gated = gated

    def build(self, input_shape):
        m, h = input_shape[-1], self.d_ff
        init_in = keras.initializers.TruncatedNormal(stddev=m ** -0.5)
        self.wi_0 = dims.add_weight(self, "wi_0", (m, h), (dims.EMBED, dims.MLP), init_in)
        if self.gated:
            self.wi_1 = dims.add_weight(self, "wi_1", (m, h), (dims.EMBED, dims.MLP), init_in)
        self.wo = dims.add_weight(self, "wo", (h, m), (dims.MLP, dims.EMBED),
                                  keras.initializers.TruncatedNormal(stddev=h ** -0.5))

    def call(self, x):
        hidden = gelu(tf.einsum("blm,mh->blh", x, self.wi_0))
        if self.gated:
            hidden = hidden * tf.einsum("blm,mh->blh", x, self.wi_1)
        return tf.einsum("blh,hm->blm", hidden, self.wo)

    def get_config(self):
        return {**super().get_config(), "d_ff": self.d_ff, "gated": self.gated}
