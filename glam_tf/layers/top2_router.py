"""`Top2Router`: the learned gate of an MoE layer."""

import keras
import tensorflow as tf

from glam_tf.layers import dims
from glam_tf.layers.routing import top_k_routing


@keras.saving.register_keras_serializable(package="glam_tf")
class Top2Router(keras.layers.Layer):
    """Softmax gate over E experts that routes each token to its top-k (k <= 2).

    Call with tokens [G, S, M], padding mask [G, S] and the capacity C; returns
    `(Routing, RoutingStats)` from `glam_tf.layers.routing`. The gate runs in
    float32 whatever the compute dtype. The second-expert policy applies while
    training; inference always keeps both choices (`all`).
    """

    def __init__(self, num_experts, top_k=2, second_expert_policy="all",
                 second_expert_threshold=0.2, seed=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.num_experts = num_experts
        self.top_k = top_k
        self.second_expert_policy = second_expert_policy
        self.second_expert_threshold = second_expert_threshold
        self.seed = seed
        self._noise_seed = keras.random.SeedGenerator(seed)

    def build(self, input_shape, *args, **kwargs):
        m = input_shape[-1]
        # Small weights: routing starts near uniform.
        self.kernel = dims.add_weight(
            self, "kernel", (m, self.num_experts), (dims.EMBED, dims.EXPERT),
            keras.initializers.TruncatedNormal(stddev=0.1 * m ** -0.5), dtype="float32")

    def call(self, x, padding_mask, capacity, training=False):
        logits = tf.einsum("gsm,me->gse", tf.cast(x, tf.float32), self.kernel)
        policy = self.second_expert_policy if training else "all"
        noise = None
        if self.top_k == 2 and policy == "sampling":
            uniform = keras.random.uniform(tf.shape(logits), minval=1e-9, maxval=1.0,
                                           seed=self._noise_seed)
            noise = -tf.math.log(-tf.math.log(uniform))  # Gumbel(0, 1)
        elif self.top_k == 2 and policy == "random":
            noise = keras.random.uniform(tf.shape(logits)[:2], seed=self._noise_seed)
        return top_k_routing(logits, padding_mask, top_k=self.top_k, capacity=capacity,
                             second_expert_policy=policy,
                             second_expert_threshold=self.second_expert_threshold,
                             noise=noise)

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts, "top_k": self.top_k,
                "second_expert_policy": self.second_expert_policy,
                "second_expert_threshold": self.second_expert_threshold, "seed": self.seed}
