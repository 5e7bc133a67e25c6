"""GShard top-k routing as pure functions of the gate logits (k = 1 or 2).

Letters as in `glam_tf.layers.dims`: G groups, S tokens per group, E experts,
C capacity, K experts per token. All routing maths runs in float32.

The algorithm (see the project's GLaM reference):
  1. gates = softmax(logits); expert 1 = argmax; expert 2 = argmax of the
     rest (or Gumbel-sampled from the rest under the `sampling` policy).
  2. With k = 2 the two gates are renormalized to sum to 1; the `random`
     policy then keeps expert 2 with probability min(1, gate2 / threshold).
  3. Each expert takes at most C tokens per group. A token's slot is the
     number of earlier tokens of its group sent to that expert, first choices
     before second choices; a choice whose slot is >= C is dropped (gate 0).
  4. Padding tokens route nowhere, take no slot and are left out of the
     losses and the statistics.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import tensorflow as tf


class Routing(NamedTuple):
    """Where each token goes. All [G, S, K]."""
    expert_index: tf.Tensor  # int32 expert of each choice
    position: tf.Tensor      # int32 slot in that expert's buffer (valid where kept)
    gate: tf.Tensor          # float32 combine weight; 0 where not kept
    kept: tf.Tensor          # bool: the choice was made and found a slot


class RoutingStats(NamedTuple):
    aux_loss: tf.Tensor          # scalar GShard load-balancing loss (1.0 when uniform)
    router_z_loss: tf.Tensor     # scalar mean of logsumexp(logits)^2
    fraction_routed: tf.Tensor   # [K + 1] share of tokens sent to 0, 1, .., K experts
    expert_load: tf.Tensor       # [E] share of kept choices each expert received
    over_capacity: tf.Tensor     # [K] share of choice-k assignments dropped for capacity
    router_entropy: tf.Tensor    # scalar mean entropy (nats) of the gate softmax per token


def expert_capacity(group_size, num_experts, capacity_factor, min_capacity):
    """Slots per expert and group: ceil(S * factor / E), at least min_capacity.

    None as the factor means dropless: S slots, enough for every token (a
    token never picks one expert twice). Capacity never exceeds S, which
    changes nothing but memory. Works on Python ints and on int32 tensors.
    """
    if capacity_factor is None:
        return group_size
    # float64 and a 1e-6 allowance, so that 100 * 1.1 / 10 gives 11 on both paths.
    if isinstance(group_size, int):
        wanted = math.ceil(group_size * capacity_factor / num_experts - 1e-6)
        return min(group_size, max(min_capacity, wanted))
    slots = tf.cast(group_size, tf.float64) * capacity_factor / num_experts
    wanted = tf.cast(tf.math.ceil(slots - 1e-6), tf.int32)
    return tf.minimum(group_size, tf.maximum(min_capacity, wanted))


def top_k_routing(logits, padding_mask, *, top_k, capacity, second_expert_policy="all",
                  second_expert_threshold=0.2, noise=None):
    """Routes the tokens of each group to their top-k experts under a capacity.

    Args:
      logits: float32 [G, S, E] gate logits.
      padding_mask: [G, S], 1 for real tokens and 0 for padding.
      top_k: 1 or 2.
      capacity: slots per expert and group (int or int32 scalar).
      second_expert_policy: `all`, `sampling` or `random` (k = 2 only).
      noise: for `sampling`, Gumbel noise [G, S, E] added to the logits that
        pick expert 2; for `random`, uniform noise [G, S] in [0, 1).
    Returns:
      (Routing, RoutingStats).
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    num_experts = logits.shape[-1]
    real = tf.cast(padding_mask, tf.float32)                       # [G, S]
    gates = tf.nn.softmax(logits, axis=-1)                         # [G, S, E]

    index_1 = tf.argmax(logits, axis=-1, output_type=tf.int32)     # [G, S]
    one_hot_1 = tf.one_hot(index_1, num_experts, dtype=tf.float32)
    gate_1 = tf.reduce_sum(gates * one_hot_1, axis=-1)
    wanted_1 = real
    indices, gate_values, wanted = [index_1], [gate_1], [wanted_1]

    if top_k == 2:
        rest = tf.where(one_hot_1 > 0, -math.inf, logits)
        if second_expert_policy == "sampling":
            rest = rest + noise
        index_2 = tf.argmax(rest, axis=-1, output_type=tf.int32)
        gate_2 = tf.reduce_sum(gates * tf.one_hot(index_2, num_experts), axis=-1)
        denominator = gate_1 + gate_2 + 1e-9
        gate_1, gate_2 = gate_1 / denominator, gate_2 / denominator
        wanted_2 = real
        if second_expert_policy == "random":
            wanted_2 *= tf.cast(noise < gate_2 / second_expert_threshold, tf.float32)
        indices, gate_values, wanted = [index_1, index_2], [gate_1, gate_2], [wanted_1, wanted_2]

    # Slots: exclusive cumsum over the group, choice 2 queued after all of choice 1.
    taken = tf.zeros_like(gates[:, 0, :])                          # [G, E] slots used
    positions, kept = [], []
    for index, want in zip(indices, wanted):
        mask = tf.one_hot(index, num_experts) * want[..., tf.newaxis]   # [G, S, E]
        slot = tf.math.cumsum(mask, axis=1, exclusive=True) + taken[:, tf.newaxis, :]
        mask *= tf.cast(slot < tf.cast(capacity, tf.float32), tf.float32)
        taken += tf.reduce_sum(mask, axis=1)
        positions.append(tf.cast(tf.reduce_sum(slot * tf.one_hot(index, num_experts), -1),
                                 tf.int32))
        kept.append(tf.reduce_sum(mask, axis=-1) > 0)

    kept = tf.stack(kept, axis=-1)                                 # [G, S, K]
    routing = Routing(
        expert_index=tf.stack(indices, axis=-1),
        position=tf.stack(positions, axis=-1),
        gate=tf.stack(gate_values, axis=-1) * tf.cast(kept, tf.float32),
        kept=kept)
    stats = _stats(logits, gates, one_hot_1, real, tf.stack(wanted, -1), routing)
    return routing, stats


def _stats(logits, gates, one_hot_1, real, wanted, routing):
    num_experts = gates.shape[-1]
    tokens = tf.maximum(tf.reduce_sum(real, axis=1), 1.0)          # [G] real tokens
    has_tokens = tf.cast(tf.reduce_sum(real, axis=1) > 0, tf.float32)
    # GShard: E^2 * mean_e(mean_s(gates) * mean_s(top-1 mask)), over groups with tokens.
    density = tf.reduce_sum(one_hot_1 * real[..., None], axis=1) / tokens[:, None]
    density_proxy = tf.reduce_sum(gates * real[..., None], axis=1) / tokens[:, None]
    aux_per_group = tf.reduce_mean(density * density_proxy, axis=-1) * num_experts ** 2
    aux_loss = _safe_div(tf.reduce_sum(aux_per_group * has_tokens), tf.reduce_sum(has_tokens))

    total_real = tf.reduce_sum(real)
    z = tf.square(tf.reduce_logsumexp(logits, axis=-1))
    router_z_loss = _safe_div(tf.reduce_sum(z * real), total_real)
    # -sum_e p log p, with log p from the logits so that a 0 gate adds 0, not NaN.
    entropy = -tf.reduce_sum(gates * tf.nn.log_softmax(logits, axis=-1), axis=-1)
    router_entropy = _safe_div(tf.reduce_sum(entropy * real), total_real)

    kept = tf.cast(routing.kept, tf.float32)                       # [G, S, K]
    top_k = kept.shape[-1]
    num_kept = tf.cast(tf.reduce_sum(kept, axis=-1), tf.int32)
    routed = tf.one_hot(num_kept, top_k + 1) * real[..., None]     # [G, S, K + 1]
    fraction_routed = _safe_div(tf.reduce_sum(routed, axis=[0, 1]), total_real)
    load = tf.reduce_sum(tf.one_hot(routing.expert_index, num_experts) * kept[..., None],
                         axis=[0, 1, 2])
    expert_load = _safe_div(load, tf.reduce_sum(load))
    over_capacity = _safe_div(tf.reduce_sum(wanted - kept, axis=[0, 1]),
                              tf.reduce_sum(wanted, axis=[0, 1]))
    return RoutingStats(aux_loss, router_z_loss, fraction_routed, expert_load, over_capacity,
                        router_entropy)


def _safe_div(numerator, denominator):
    return numerator / tf.maximum(denominator, 1.0)
