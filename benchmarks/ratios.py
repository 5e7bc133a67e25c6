"""The figures' arithmetic and the one-line format `run_all.py` prints and parses.

No TensorFlow here: the FLOP counts are plain formulas (tested against hand
computations in tests/benchmarks/test_ratios.py).

A ratio line reads

    <figure> <numerator> / <denominator> = <R>x [(target <= T x) MET|NOT MET] [; note]

e.g. `moe_layer[0.1B/64E] gather / dense_equivalent = 1.18x (target <= 1.3x) MET`.
"""

from __future__ import annotations

import math
import re
import statistics

# <figure> <num> / <den> = <ratio>x, then an optional target and an optional note;
# a term may be a parenthesized expression, `(model_state_bytes / 2)`.
_TERM = r"\([^()]*\)|\S+"
_LINE = re.compile(
    rf"^(?P<figure>\S+) (?P<num>{_TERM}) / (?P<den>{_TERM}) = (?P<ratio>[0-9.eE+-]+|nan|inf)x"
    r"(?: \(target (?P<op><=|>=) (?P<target>[0-9.]+)x\) (?P<verdict>MET|NOT MET))?"
    r"(?:; (?P<note>.*))?$")


def median(values):
    return statistics.median(values)


def ratio_line(figure, num, den, ratio, target=None, op="<=", note=None, digits=None):
    """One line: `figure num / den = Rx (target op Tx) MET|NOT MET; note`."""
    digits = digits if digits is not None else (3 if ratio < 1 else 2)
    line = f"{figure} {num} / {den} = {ratio:.{digits}f}x"
    if target is not None:
        met = ratio <= target if op == "<=" else ratio >= target
        line += f" (target {op} {target:g}x) {'MET' if met else 'NOT MET'}"
    if note:
        line += f"; {note}"
    return line


def parse_ratio_line(line):
    """The fields of a ratio line as a dict (ratio and target as floats), or None."""
    match = _LINE.match(line.strip())
    if not match:
        return None
    fields = match.groupdict()
    fields["ratio"] = float(fields["ratio"])
    if fields["target"] is not None:
        fields["target"] = float(fields["target"])
    return fields


def capacity(group_size, num_experts, capacity_factor, min_capacity=4):
    """Our layer's slots per expert and group: ceil(S * factor / E), at least min_capacity."""
    return min(group_size, max(min_capacity,
                               math.ceil(group_size * capacity_factor / num_experts - 1e-6)))


def expert_choice_capacity(group_size, num_experts, capacity_factor):
    """Model Garden's expert-choice slots per expert and group: round(factor * S / E)."""
    return int(round(capacity_factor * group_size / num_experts))


def ffn_train_flops(tokens, d_model, d_ff, matrices=2):
    """Forward+backward FLOPs of a feed-forward net on `tokens` tokens:
    3 (fwd + 2x bwd) * 2 FLOPs/MAC * tokens * matrices * M * H."""
    return 3 * 2 * tokens * matrices * d_model * d_ff


def moe_train_flops(tokens, d_model, d_ff, top_k=2, matrices=2):
    """Useful fwd+bwd FLOPs of a top-k MoE layer: every token through k experts."""
    return top_k * ffn_train_flops(tokens, d_model, d_ff, matrices)


def every_expert_train_flops(tokens, d_model, d_ff, num_experts, matrices=3):
    """What a block that runs every expert on every token does (Mixtral's SwiGLU: 3 matrices)."""
    return num_experts * ffn_train_flops(tokens, d_model, d_ff, matrices)


def transformer_train_flops_per_token(matmul_params, num_layers, seq_len, num_heads, head_dim):
    """PaLM's model FLOPs per training token: 6 * P + 12 * layers * L * N * D."""
    return 6 * matmul_params + 12 * num_layers * seq_len * num_heads * head_dim


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
