"""`MoeFeedForward`: GLaM's top-2 Mixture-of-Experts feed-forward layer.

Letters as in `glam_tf.layers.dims`. Tokens [B, L, M] are cut into G groups
of S tokens; the router gives each token up to K (expert, slot) choices; the
experts run on buffers [E, G, C, M]; outputs return weighted by the gates.

Two dispatch implementations give the same result:
  `einsum`: GShard's dense dispatch/combine tensors [G, S, E, C] and einsums
    (gsec,gsm->egcm and gsec,egcm->gsm); the form that shards well on TPU.
  `gather`: the slot of each choice becomes a row index; tokens are gathered
    into the expert buffers and outputs gathered back. No [S, E, C] tensor,
    so it is much cheaper on CPU and GPU.
"""

import keras
import tensorflow as tf

from glam_tf.layers import dims
from glam_tf.layers.feed_forward import gelu
from glam_tf.layers.routing import expert_capacity
from glam_tf.layers.top2_router import Top2Router

DISPATCH_MODES = ("einsum", "gather")
_ACTIVATIONS = {"relu": tf.nn.relu, "gelu": gelu, "gated_gelu": gelu}


@keras.saving.register_keras_serializable(package="glam_tf")
class MoeFeedForward(keras.layers.Layer):
    """E feed-forward experts behind a top-k router.

    Call with x [B, L, M] and an optional padding mask [B, L] (1 = real
    token); returns (y [B, L, M], RoutingStats). A token whose choices were
    all dropped gets y = 0 (the block's residual carries it). The capacity
    factor is the train or eval one; `dropless=True` (decoding) gives every
    expert room for every token of its group.
    """

    def __init__(self, num_experts, d_ff, top_k=2, expert_activation="gelu",
                 train_capacity_factor=2.0, eval_capacity_factor=None, min_expert_capacity=4,
                 group_size=1024, second_expert_policy="all", second_expert_threshold=0.2,
                 dispatch="gather", seed=None, **kwargs):
        super().__init__(**kwargs)
        if dispatch not in DISPATCH_MODES:
            raise ValueError(f"dispatch={dispatch!r}: must be one of {DISPATCH_MODES}")
        self.num_experts = num_experts
        self.d_ff = d_ff
        self.top_k = top_k
        self.expert_activation = expert_activation
        self.train_capacity_factor = train_capacity_factor
        self.eval_capacity_factor = eval_capacity_factor
        self.min_expert_capacity = min_expert_capacity
        self.group_size = group_size
        self.second_expert_policy = second_expert_policy
        self.second_expert_threshold = second_expert_threshold
        self.dispatch = dispatch
        self.seed = seed
        self.router = Top2Router(num_experts, top_k=top_k,
                                 second_expert_policy=second_expert_policy,
                                 second_expert_threshold=second_expert_threshold,
                                 seed=seed, name="router")

    def build(self, x_shape, padding_mask_shape=None):
        e, m, h = self.num_experts, x_shape[-1], self.d_ff
        self.router.build((None, None, m))
        init_in = keras.initializers.TruncatedNormal(stddev=m ** -0.5)
        axes_in = (dims.EXPERT, dims.EMBED, dims.MLP)
        self.wi_0 = dims.add_weight(self, "wi_0", (e, m, h), axes_in, init_in)
        if self.expert_activation == "gated_gelu":
            self.wi_1 = dims.add_weight(self, "wi_1", (e, m, h), axes_in, init_in)
        self.wo = dims.add_weight(self, "wo", (e, h, m), (dims.EXPERT, dims.MLP, dims.EMBED),
                                  keras.initializers.TruncatedNormal(stddev=h ** -0.5))

    def call(self, x, padding_mask=None, training=False, dropless=False):
        batch_shape = tf.shape(x)[:2]
        m = x.shape[-1]
        tokens = tf.reshape(x, [-1, m])
        real = (tf.ones(tf.shape(tokens)[:1]) if padding_mask is None
                else tf.cast(tf.reshape(padding_mask, [-1]), tf.float32))
        groups, real, num_groups, group_size = _to_groups(tokens, real, self.group_size)
        factor = self.train_capacity_factor if training else self.eval_capacity_factor
        if dropless:
            factor = None
        capacity = expert_capacity(group_size, self.num_experts, factor,
                                   self.min_expert_capacity)
        routing, stats = self.router(groups, real, capacity=capacity, training=training)

        if self.dispatch == "einsum":
            y = self._einsum_dispatch(groups, routing, capacity)
        else:
            y = self._gather_dispatch(groups, routing, capacity, num_groups, group_size)
        if not (isinstance(num_groups, int) and num_groups * group_size == tokens.shape[0]):
            y = tf.reshape(y, [-1, m])[:tf.reduce_prod(batch_shape)]  # drop the group padding
        return tf.reshape(y, tf.concat([batch_shape, [m]], 0)), stats

    def _experts(self, buffers):
        """The E feed-forward networks on their buffers [E, G, C, M].

        Batched matmuls over [E, G*C, M], not einsums: TF's einsum gradient
        for the [E, M, H] weights transposes the whole weight gradient and made
        forward+backward 2.8x slower at the 0.1B/64E shape (docs/benchmarks.md).
        """
        # On a mesh, the buffers move to the devices of their experts (the
        # all-to-all) and the outputs back to the devices of their groups.
        buffers = dims.constrain(buffers, (dims.EXPERT, dims.BATCH, None, None))
        flat = tf.reshape(buffers, [self.num_experts, -1, buffers.shape[-1]])  # [E, G*C, M]
        hidden = _ACTIVATIONS[self.expert_activation](tf.matmul(flat, self.wi_0))
        if self.expert_activation == "gated_gelu":
            hidden *= tf.matmul(flat, self.wi_1)                               # [E, G*C, H]
        outputs = tf.reshape(tf.matmul(hidden, self.wo), tf.shape(buffers))
        return dims.constrain(outputs, (None, dims.BATCH, None, None))

    def _einsum_dispatch(self, groups, routing, capacity):
        dtype = groups.dtype
        expert = tf.one_hot(routing.expert_index, self.num_experts, dtype=dtype)  # [G,S,K,E]
        slot = tf.one_hot(routing.position, capacity, dtype=dtype)               # [G,S,K,C]
        kept = tf.cast(routing.kept, dtype)
        dispatch = tf.einsum("gske,gskc,gsk->gsec", expert, slot, kept)
        combine = tf.einsum("gske,gskc,gsk->gsec", expert, slot,
                            tf.cast(routing.gate, dtype))
        buffers = tf.einsum("gsec,gsm->egcm", dispatch, groups)
        return tf.einsum("gsec,egcm->gsm", combine, self._experts(buffers))

    def _gather_dispatch(self, groups, routing, capacity, num_groups, group_size):
        m = groups.shape[-1]
        num_tokens = num_groups * group_size
        num_slots = self.num_experts * num_groups * capacity
        # Row of each choice in the flat [E * G * C] buffer; dropped ones point
        # one past the end.
        group_index = tf.range(num_groups)[:, tf.newaxis, tf.newaxis]
        slot_row = (routing.expert_index * num_groups + group_index) * capacity + routing.position
        slot_row = tf.where(routing.kept, slot_row, num_slots)                    # [G, S, K]
        token_row = tf.broadcast_to(tf.reshape(tf.range(num_tokens), [num_groups, group_size, 1]),
                                    tf.shape(slot_row))
        # Inverse map: the token in each slot, or one past the tokens for an empty slot.
        source = tf.scatter_nd(tf.reshape(slot_row, [-1, 1]),
                               tf.reshape(token_row - num_tokens, [-1]), [num_slots + 1])
        source = source[:num_slots] + num_tokens
        # Out-of-range rows are clamped and zeroed rather than read from an extra
        # zero row: a row concatenated on made XLA evaluate the routing's cumsum
        # element by element (the 0.1B/64E step did not compile in 7.5 minutes),
        # and one padded on gives a [N + 1, M] tensor that a batch-sharded layout
        # cannot split. Same values either way.
        tokens = tf.reshape(groups, [-1, m])
        filled = tf.cast(source < num_tokens, tokens.dtype)[:, tf.newaxis]
        buffers = tf.gather(tokens, tf.minimum(source, num_tokens - 1)) * filled
        buffers = tf.reshape(buffers, [self.num_experts, num_groups, capacity, m])
        outputs = tf.reshape(self._experts(buffers), [-1, m])
        # A dropped choice reads some slot's output, times its gate, which is 0.
        picked = tf.gather(outputs, tf.minimum(slot_row, num_slots - 1))           # [G,S,K,M]
        return tf.einsum("gskm,gsk->gsm", picked, tf.cast(routing.gate, picked.dtype))

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts, "d_ff": self.d_ff,
                "top_k": self.top_k, "expert_activation": self.expert_activation,
                "train_capacity_factor": self.train_capacity_factor,
                "eval_capacity_factor": self.eval_capacity_factor,
                "min_expert_capacity": self.min_expert_capacity,
                "group_size": self.group_size,
                "second_expert_policy": self.second_expert_policy,
                "second_expert_threshold": self.second_expert_threshold,
                "dispatch": self.dispatch, "seed": self.seed}


def _to_groups(tokens, real, group_size):
    """[N, M] tokens -> [G, S, M] groups, the last padded with non-real tokens.

    S = min(group_size, N), at least 1: no tokens (N = 0, as when a request
    scores only empty continuations) are G = 0 groups, not a division by zero.
    Returns groups, padding mask [G, S], G and S (Python ints when N is static,
    else int32 scalars).
    """
    n = tokens.shape[0]
    if n is None:
        n = tf.shape(tokens)[0]
        size = tf.maximum(tf.minimum(group_size, n), 1)
        count = (n + size - 1) // size
    else:
        size = max(min(group_size, n), 1)
        count = -(-n // size)
    pad = count * size - n
    if not isinstance(pad, int) or pad:
        tokens = tf.pad(tokens, [[0, pad], [0, 0]])
        real = tf.pad(real, [[0, pad]])
    return (tf.reshape(tokens, [count, size, tokens.shape[-1]]),
            tf.reshape(real, [count, size]), count, size)
