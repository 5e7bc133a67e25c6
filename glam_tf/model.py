"""`GlamModel`: the GLaM decoder-only language model.

How GLaM differs from a plain decoder-only Transformer:
  - every `moe_interval`-th block's feed-forward network is a top-2
    Mixture-of-Experts layer (`MoeFeedForward`); the others are gated-GELU;
  - positions enter only through a per-block T5-style relative position bias;
  - RMSNorm (pre-norm) and no biases anywhere;
  - the input embedding is the output softmax's weight (tied).
"""

import keras
import tensorflow as tf

from glam_tf.config import GlamConfig
from glam_tf.layers import dims
from glam_tf.layers.decoder_block import DecoderBlock
from glam_tf.layers.rms_norm import RMSNorm


@keras.saving.register_keras_serializable(package="glam_tf")
class GlamModel(keras.Model):
    """Token ids [B, L] -> float32 logits [B, L, V].

    `segment_ids` [B, L] (int) marks packed documents: tokens attend only to
    earlier tokens of their own segment, and 0 marks padding, which routes to
    no expert and is left out of the routing losses. With `return_aux=True`
    the call returns (logits, aux) where aux holds the summed `moe_aux_loss`
    and `router_z_loss` of the MoE layers and their `routing` statistics.

    Incremental decoding: `cache = model.init_cache(B, T)`, then
    `logits, cache = model.extend(token_ids, cache)` for the prompt and for
    each new token.
    """

    def __init__(self, config, dispatch="gather", **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, GlamConfig) else GlamConfig.from_dict(config)
        self.dispatch = dispatch
        c = self.config
        policy = c.keras_dtype_policy
        # One attribute per block, not a list: tf.train.Checkpoint follows
        # attributes but not the list wrapper Keras puts around a list, so a
        # list of blocks would leave their weights out of `Checkpoint(model=...)`.
        for i in range(c.num_layers):
            setattr(self, f"block_{i}", DecoderBlock(c, c.is_moe_layer(i), dispatch=dispatch,
                                                     dtype=policy, name=f"block_{i}"))
        self.final_norm = RMSNorm(c.norm_epsilon, dtype=policy, name="final_norm")
        self.embedding = dims.add_weight(self, "embedding", (c.vocab_size, c.d_model),
                                         (dims.VOCAB, dims.EMBED),
                                         keras.initializers.TruncatedNormal(stddev=1.0))
        if not c.tie_embeddings:
            self.output_weight = dims.add_weight(
                self, "output", (c.d_model, c.vocab_size), (dims.EMBED, dims.VOCAB),
                keras.initializers.TruncatedNormal(stddev=c.d_model ** -0.5))
        for block in self.blocks:
            block.build((None, None, c.d_model))
        self.final_norm.build((None, None, c.d_model))
        self.built = True

    @property
    def blocks(self):
        return [getattr(self, f"block_{i}") for i in range(self.config.num_layers)]

    def call(self, token_ids, segment_ids=None, training=False, return_aux=False):
        length = tf.shape(token_ids)[1]
        if segment_ids is None:
            segment_ids = tf.ones_like(token_ids)
        real = segment_ids > 0
        positions = tf.range(length)
        causal = positions[tf.newaxis, :] <= positions[:, tf.newaxis]              # [L, T]
        # expand_dims, not [:, tf.newaxis]: DTensor's layout pass crashes on
        # newaxis indexing of batch-sharded tensors.
        same_segment = tf.expand_dims(segment_ids, 2) == tf.expand_dims(segment_ids, 1)
        mask = tf.expand_dims(causal & same_segment & tf.expand_dims(real, 1), 1)  # [B,1,L,T]
        x = self._embed(token_ids)
        stats = []
        for block in self.blocks:
            x, block_stats, _ = block(x, mask, positions, positions, real, training=training)
            if block_stats is not None:
                stats.append(block_stats)
        logits = self._logits(x)
        return (logits, self._aux(stats)) if return_aux else logits

    def init_cache(self, batch_size, max_length):
        """An empty decoding cache for `batch_size` sequences of up to `max_length`."""
        c = self.config
        shape = [batch_size, max_length, c.num_heads, c.head_dim]
        dtype = self.final_norm.compute_dtype
        layers = [{"k": tf.zeros(shape, dtype), "v": tf.zeros(shape, dtype)}
                  for _ in self.blocks]
        return {"layers": layers, "valid": tf.zeros([batch_size, max_length], tf.bool),
                "index": tf.constant(0, tf.int32)}

    def extend(self, token_ids, cache, segment_ids=None):
        """Runs token_ids [B, L] after the cached ones; returns (logits, cache).

        `segment_ids` 0 marks padding (for example left padding of prompts of
        different lengths): those positions are never attended to. MoE layers
        route dropless. The caller keeps cache["index"] + L within max_length.
        """
        index = cache["index"]
        length = tf.shape(token_ids)[1]
        real = tf.ones_like(token_ids, tf.bool) if segment_ids is None else segment_ids > 0
        valid = tf.raw_ops.TensorStridedSliceUpdate(
            input=cache["valid"], begin=tf.stack([0, index]),
            end=tf.stack([tf.shape(token_ids)[0], index + length]), strides=[1, 1], value=real)
        query_positions = index + tf.range(length)
        key_positions = tf.range(tf.shape(valid)[1])
        causal = key_positions[tf.newaxis, :] <= query_positions[:, tf.newaxis]    # [L, T]
        mask = tf.expand_dims(causal & tf.expand_dims(valid, 1), 1)                # [B,1,L,T]
        x = self._embed(token_ids)
        layers = []
        for block, layer_cache in zip(self.blocks, cache["layers"]):
            x, _, layer_cache = block(x, mask, query_positions, key_positions, real,
                                      cache=layer_cache, cache_index=index, dropless=True)
            layers.append(layer_cache)
        return self._logits(x), {"layers": layers, "valid": valid, "index": index + length}

    def _embed(self, token_ids):
        embedding = tf.cast(self.embedding, self.final_norm.compute_dtype)
        return tf.gather(embedding, token_ids)

    def _logits(self, x):
        x = tf.cast(self.final_norm(x), tf.float32)
        if self.config.tie_embeddings:
            # Embeddings start with unit variance; the scale keeps logits O(1).
            return tf.einsum("blm,vm->blv", x, self.embedding) * self.config.d_model ** -0.5
        return tf.einsum("blm,mv->blv", x, self.output_weight)

    @staticmethod
    def _aux(stats):
        zero = tf.constant(0.0)
        return {"moe_aux_loss": tf.add_n([s.aux_loss for s in stats]) if stats else zero,
                "router_z_loss": tf.add_n([s.router_z_loss for s in stats]) if stats else zero,
                "routing": tuple(stats)}

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict(),
                "dispatch": self.dispatch}
