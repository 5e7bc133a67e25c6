"""Analytic parameter counts and weight shapes: exact for `GlamModel`, no build needed.

`weight_specs(config)` lists every weight the model creates, with its shape
and logical axes, from the config alone; counts and the sharding memory plan
are sums over it. Counted: token embedding (once when tied with the softmax),
per block the attention projections (q, k, v, o: 4*M*N*D), the relative
position bias (R*N), two RMSNorm scales (2*M), the feed-forward weights, and
the final RMSNorm. An MoE block holds the gate (M*E) and E experts; a token
activates the gate and its top_k experts, so `activated` counts top_k experts
per MoE block. There are no biases anywhere in the model.
"""

from __future__ import annotations

import dataclasses
import math

from glam_tf.axes import EMBED, EXPERT, HEADS, KV, MLP, REL_BUCKETS, VOCAB
from glam_tf.config import GlamConfig


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    path: str
    shape: tuple
    axes: tuple
    per_token: float = 1.0  # share of this weight a token uses (top_k / E for experts)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


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


def weight_specs(config: GlamConfig) -> list:
    """Every weight of GlamModel(config): path, shape, logical axes."""
    c = config
    m, h, n, d, e = c.d_model, c.d_ff, c.num_heads, c.head_dim, c.num_experts
    specs = [WeightSpec("embedding", (c.vocab_size, m), (VOCAB, EMBED))]
    if not c.tie_embeddings:
        specs.append(WeightSpec("output", (m, c.vocab_size), (EMBED, VOCAB)))
    for i in range(c.num_layers):
        p = f"block_{i}/"
        specs += [WeightSpec(p + "position_bias/embedding", (c.rel_pos_buckets, n),
                             (REL_BUCKETS, HEADS)),
                  WeightSpec(p + "attention_norm/scale", (m,), (EMBED,))]
        specs += [WeightSpec(p + f"attention/{name}", (m, n, d), (EMBED, HEADS, KV))
                  for name in ("query", "key", "value")]
        specs += [WeightSpec(p + "attention/output", (n, d, m), (HEADS, KV, EMBED)),
                  WeightSpec(p + "ffn_norm/scale", (m,), (EMBED,))]
        if c.is_moe_layer(i):
            share = c.top_k / e
            inputs = ("wi_0", "wi_1") if c.expert_activation == "gated_gelu" else ("wi_0",)
            specs += [WeightSpec(p + f"moe/{name}", (e, m, h), (EXPERT, EMBED, MLP), share)
                      for name in inputs]
            specs += [WeightSpec(p + "moe/wo", (e, h, m), (EXPERT, MLP, EMBED), share),
                      WeightSpec(p + "moe/router/kernel", (m, e), (EMBED, EXPERT))]
        else:
            inputs = ("wi_0", "wi_1") if c.dense_gated_gelu else ("wi_0",)
            specs += [WeightSpec(p + f"ffn/{name}", (m, h), (EMBED, MLP)) for name in inputs]
            specs.append(WeightSpec(p + "ffn/wo", (h, m), (MLP, EMBED)))
    specs.append(WeightSpec("final_norm/scale", (m,), (EMBED,)))
    return specs


def count_parameters(config: GlamConfig) -> ParameterCount:
    specs = weight_specs(config)
    embedding = sum(s.size for s in specs if s.path in ("embedding", "output"))
    return ParameterCount(total=sum(s.size for s in specs),
                          activated=round(sum(s.size * s.per_token for s in specs)),
                          embedding=embedding)


def format_count(n: int) -> str:
    """1234567 -> '1.23M'; 1.2e12 -> '1.2T'."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)
