"""Named configs: every row of the GLaM paper's Table 4, plus two CPU-sized ones.

Counts in the comments come from `glam_tf.params.count_parameters` (embedding
included, 256K vocabulary); `docs/parameters.md` compares them with the paper.
"""

from __future__ import annotations

import dataclasses
import difflib

from glam_tf.config import GlamConfig


def _paper(layers, d_model, d_ff, heads, experts):
    return GlamConfig(num_layers=layers, d_model=d_model, d_ff=d_ff, num_heads=heads,
                      head_dim=64 if d_model == 768 else 128, num_experts=experts)


# The CPU presets put the MoE feed-forward second in each pair (moe_offset=1), not
# first as the paper presets do: at 4 blocks, MoE-first trained measurably worse
# (docs/parameters.md, "Which block of a pair is the MoE one").
_TINY = GlamConfig(vocab_size=2048, num_layers=4, d_model=128, d_ff=512, num_heads=4,
                   head_dim=32, num_experts=8, group_size=256, max_seq_len=128,
                   min_expert_capacity=4, moe_offset=1)

PRESETS: dict[str, GlamConfig] = {
    # name: config                                        # total / activated params
    "glam_tiny": _TINY,                                     # 3.02M / 1.45M
    "dense_tiny": dataclasses.replace(_TINY, num_experts=0),  # 1.31M / 1.31M
    "dense_0.1b": _paper(12, 768, 3072, 12, 0),             # 310M / 310M
    "glam_0.1b_64e": _paper(12, 768, 3072, 12, 64),         # 2.08B / 324M
    "dense_1.7b": _paper(24, 2048, 8192, 16, 0),            # 2.14B / 2.14B
    "glam_1.7b_32e": _paper(24, 2048, 8192, 16, 32),        # 14.4B / 2.34B
    "glam_1.7b_64e": _paper(24, 2048, 8192, 16, 64),        # 27.3B / 2.34B
    "glam_1.7b_128e": _paper(24, 2048, 8192, 16, 128),      # 53.1B / 2.34B
    "glam_1.7b_256e": _paper(24, 2048, 8192, 16, 256),      # 105B / 2.34B
    "dense_8b": _paper(32, 4096, 16384, 32, 0),             # 9.64B / 9.64B
    "glam_8b_64e": _paper(32, 4096, 16384, 32, 64),         # 144B / 10.7B
    "dense_137b": _paper(64, 8192, 65536, 128, 0),          # 140B / 140B
    "glam_64b_64e": _paper(64, 8192, 32768, 128, 64),       # 1.16T / 96.6B
}

# The paper's own names and counts (Table 4), for docs and `glam presets`.
PAPER_NAMES = {
    "dense_0.1b": ("0.1B", "130M", "130M"),
    "glam_0.1b_64e": ("0.1B/64E", "1.9B", "145M"),
    "dense_1.7b": ("1.7B", "1.700B", "1.700B"),
    "glam_1.7b_32e": ("1.7B/32E", "20B", "1.878B"),
    "glam_1.7b_64e": ("1.7B/64E", "27B", "1.879B"),
    "glam_1.7b_128e": ("1.7B/128E", "53B", "1.881B"),
    "glam_1.7b_256e": ("1.7B/256E", "105B", "1.886B"),
    "dense_8b": ("8B", "8.7B", "8.7B"),
    "glam_8b_64e": ("8B/64E", "143B", "9.8B"),
    "dense_137b": ("137B", "137B", "137B"),
    "glam_64b_64e": ("64B/64E", "1.2T", "96.6B"),
}


def get_preset(name: str) -> GlamConfig:
    """The preset called `name`; an unknown name lists the closest ones."""
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown preset {name!r}.{hint} Presets: {', '.join(PRESETS)}") from None
