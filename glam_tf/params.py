"""Analytic parameter counts: exact for `GlamModel`, computed without building it.

Counted: token embedding (once when tied with the softmax), per block the
attention projections (q, k, v, o: 4*M*N*D), the relative position bias (R*N),
two RMSNorm scales (2*M), the feed-forward weights, and the final RMSNorm.
An MoE block holds the gate (M*E) and E experts; a token activates the gate
and its top_k experts, so `activated` counts top_k experts per MoE block.
There are no biases anywhere in the model.
"""

from __future__ import annotations

import dataclasses

from glam_tf.config import GlamConfig


@dataclasses.dataclass(frozen=True)
class ParameterCount:
    total: int
    activated: int
    embedding: int  # input embedding (+ output projection when untied)

    @property
    def total_non_embedding(self) -> int:
        return self.total - self.embedding

    @property
    def activated_non_embedding(self) -> int:
        return self.activated - self.embedding


def ffn_matrices(gated: bool) -> int:
    """Weight matrices of size M*H in one feed-forward network."""
    return 3 if gated else 2


def count_parameters(config: GlamConfig) -> ParameterCount:
    m, h = config.d_model, config.d_ff
    embedding = config.vocab_size * m * (1 if config.tie_embeddings else 2)
    block_shared = (4 * m * config.num_heads * config.head_dim
                    + config.rel_pos_buckets * config.num_heads
                    + 2 * m)
    dense_ffn = ffn_matrices(config.dense_gated_gelu) * m * h
    expert = ffn_matrices(config.expert_activation == "gated_gelu") * m * h
    gate = m * config.num_experts

    total = activated = embedding + m  # + final norm
    for i in range(config.num_layers):
        total += block_shared
        activated += block_shared
        if config.is_moe_layer(i):
            total += gate + config.num_experts * expert
            activated += gate + config.top_k * expert
        else:
            total += dense_ffn
            activated += dense_ffn
    return ParameterCount(total=total, activated=activated, embedding=embedding)


def format_count(n: int) -> str:
    """1234567 -> '1.23M'; 1.2e12 -> '1.2T'."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)
