"""`DecoderBlock`: pre-norm attention and feed-forward (dense or MoE) sublayers."""

import keras

from glam_tf.config import GlamConfig
from glam_tf.layers.attention import Attention
from glam_tf.layers.feed_forward import FeedForward
from glam_tf.layers.moe_feed_forward import MoeFeedForward
from glam_tf.layers.relative_position_bias import RelativePositionBias
from glam_tf.layers.rms_norm import RMSNorm


@keras.saving.register_keras_serializable(package="glam_tf")
class DecoderBlock(keras.layers.Layer):
    """x + attention(norm(x)), then x + ffn(norm(x)); ffn is MoE when `moe`.

    Each block has its own relative position bias. Call:
      x: [B, L, M]; mask: bool [B, 1, L, T]; query_positions [L] and
      key_positions [T] (int32); padding_mask [B, L] (1 = real token);
      cache / cache_index: see `Attention`; dropless: route MoE dropless.
    Returns (x, RoutingStats or None, cache or None).
    """

    def __init__(self, config, moe, dispatch="gather", **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, GlamConfig) else GlamConfig.from_dict(config)
        self.moe = moe
        self.dispatch = dispatch
        c, policy = self.config, self.config.keras_dtype_policy
        self.position_bias = RelativePositionBias(
            c.num_heads, c.rel_pos_buckets, c.rel_pos_max_distance, dtype=policy,
            name="position_bias")
        self.attention_norm = RMSNorm(c.norm_epsilon, dtype=policy, name="attention_norm")
        self.attention = Attention(c.num_heads, c.head_dim, dtype=policy, name="attention")
        self.ffn_norm = RMSNorm(c.norm_epsilon, dtype=policy, name="ffn_norm")
        if moe:
            self.ffn = MoeFeedForward(
                c.num_experts, c.d_ff, top_k=c.top_k, expert_activation=c.expert_activation,
                train_capacity_factor=c.train_capacity_factor,
                eval_capacity_factor=c.eval_capacity_factor,
                min_expert_capacity=c.min_expert_capacity, group_size=c.group_size,
                second_expert_policy=c.second_expert_policy,
                second_expert_threshold=c.second_expert_threshold, dispatch=dispatch,
                dtype=policy, name="moe")
        else:
            self.ffn = FeedForward(c.d_ff, gated=c.dense_gated_gelu, dtype=policy, name="ffn")

    def build(self, input_shape, *args, **kwargs):
        self.position_bias.build()
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape)
        self.ffn_norm.build(input_shape)
        self.ffn.build(input_shape)

    def call(self, x, mask, query_positions, key_positions, padding_mask, cache=None,
             cache_index=None, training=False, dropless=False):
        bias = self.position_bias(query_positions, key_positions)
        attended = self.attention(self.attention_norm(x), mask, bias, cache=cache,
                                  cache_index=cache_index)
        if cache is not None:
            attended, cache = attended
        x = x + attended
        stats = None
        if self.moe:
            y, stats = self.ffn(self.ffn_norm(x), padding_mask, training=training,
                                dropless=dropless)
        else:
            y = self.ffn(self.ffn_norm(x))
        return x + y, stats, cache

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict(), "moe": self.moe,
                "dispatch": self.dispatch}
