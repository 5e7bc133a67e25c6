"""Language-model runs that compare architectures at equal activated FLOPs.

Shared by `moe_vs_dense.py` and `experts_sweep.py`: the models (arms) built
from glam_tiny, the FLOP-matched dense width, one tokenizer per corpus, one
training run with the project's own `run_train`, and what is read back from
its metrics.jsonl (validation curve, routing health).

Activated FLOPs. A top-2 MoE block runs two experts per token; a dense block
one FFN. Plain (GELU) FFNs have two matrices, gated-GELU ones three. The
dense arm's d_ff is the one whose activated parameters (hence train FLOPs per
token) are closest to the MoE model's: `matched_dense_d_ff`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

from glam_tf.data import parse_data_spec  # noqa: E402
from glam_tf.params import count_parameters  # noqa: E402
from glam_tf.presets import PRESETS  # noqa: E402

KNOWLEDGE_DIR = "/work/corpora/knowledge"
KNOWLEDGE_SPEC = f"files:{KNOWLEDGE_DIR}/*.jsonl"

# Which FFNs are gated in each like-for-like family: (experts, dense blocks).
STYLES = {
    "glam": ("gelu", True),         # the paper's public code: plain experts, gated dense FFNs
    "gated": ("gated_gelu", True),  # gated everywhere
    "plain": ("gelu", False),       # plain everywhere
}


def moe_config(style, num_experts=8, **overrides):
    expert_activation, dense_gated = STYLES[style]
    return dataclasses.replace(PRESETS["glam_tiny"], num_experts=num_experts,
                               expert_activation=expert_activation,
                               dense_gated_gelu=dense_gated, **overrides)


def matched_dense_d_ff(config, multiple=8):
    """d_ff (a multiple of `multiple`) of the dense model, FFNs gated as config's dense
    blocks, whose activated parameters come closest to config's."""
    target = count_parameters(config).activated
    dense = dataclasses.replace(config, num_experts=0)

    def gap(d_ff):
        return abs(count_parameters(dataclasses.replace(dense, d_ff=d_ff)).activated - target)

    return min(range(multiple, 8 * config.d_ff + 1, multiple), key=gap)


def dense_config(config):
    """The dense arm of MoE `config`: same everything, one FFN per block, FLOP-matched."""
    # moe_offset means nothing without experts: the default, so that one dense run
    # serves every MoE arm it matches.
    return dataclasses.replace(config, num_experts=0, d_ff=matched_dense_d_ff(config),
                               moe_offset=0)


def describe(config):
    counts = count_parameters(config)
    kind = (f"{config.num_experts} experts ({config.expert_activation}) of d_ff {config.d_ff}"
            if config.num_experts else f"dense d_ff {config.d_ff}")
    ffn = "gated" if config.dense_gated_gelu else "plain"
    return (f"{kind}, {ffn} dense FFNs: {counts.total:,} parameters, "
            f"{counts.activated:,} activated")


def check_data(spec):
    """The corpus's source, or exit with one line saying how to make it."""
    from glam_tf.data.sources import DataError

    try:
        return parse_data_spec(spec)
    except DataError as error:
        hint = (" (make it with: bash benchmarks/corpus/setup.sh)"
                if spec == KNOWLEDGE_SPEC else "")
        sys.exit(f"error: --data {spec!r}: {error}{hint}")


def prepare_tokenizer(workdir, source, vocab_size, documents):
    """One SentencePiece model for every run on this corpus, trained once in workdir."""
    from glam_tf.tokenizer import train_tokenizer

    path = os.path.join(workdir, "tokenizer", "tokenizer.model")
    if os.path.exists(path):
        return path
    texts = (t.decode("utf-8") for t in itertools.islice(
        source.documents("train").as_numpy_iterator(), documents))
    return train_tokenizer(texts, vocab_size, os.path.join(workdir, "tokenizer"))


@dataclasses.dataclass
class Run:
    curve: list          # [(step, validation cross-entropy)]
    seconds: float
    routing: dict        # means over the run's last quarter of logged steps

    @property
    def final(self):
        return self.curve[-1][1]


def read_metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def routing_summary(records):
    """Dropped tokens, router entropy and load imbalance (max/mean expert load), each
    averaged over MoE layers and over the last quarter of the logged steps."""
    logged = [r for r in records if "expert_load" in r]
    if not logged:
        return {}
    tail = logged[-max(1, len(logged) // 4):]

    def mean_of(values):
        return statistics.mean(values)

    return {
        "dropped_token_fraction": mean_of([mean_of(r["dropped_token_fraction"]) for r in tail]),
        "router_entropy": mean_of([mean_of(r["router_entropy"]) for r in tail]),
        "max_over_mean_load": mean_of([mean_of([max(l) * len(l) for l in r["expert_load"]])
                                       for r in tail]),
        "aux_loss": mean_of([r["moe_aux_loss"] for r in tail]),
    }


def arm_name(config):
    """A short name for a run's folder: moe8_gated_gelu, dense768_gated, ..."""
    if config.num_experts:
        return f"moe{config.num_experts}_{config.expert_activation}_{config.d_ff}" + (
            "" if config.dense_gated_gelu else "_plain")
    return f"dense{config.d_ff}_" + ("gated" if config.dense_gated_gelu else "plain")


def train(workdir, config, train_config, tokenizer):
    """One run, in a folder named by everything that sets it apart, so a rerun of the
    script with the same workdir reuses finished runs and resumes killed ones."""
    from glam_tf.training.command import run_train

    tc = train_config
    model_dir = os.path.join(workdir, f"{arm_name(config)}_lr{tc.peak_learning_rate:g}_"
                                      f"{tc.steps}x{tc.batch_size}x{tc.seq_len}_seed{tc.seed}")
    start = time.perf_counter()
    run_train(model_dir, config, train_config, tokenizer_path=tokenizer, log=lambda _: None)
    records = read_metrics(model_dir)
    curve = [(r["step"], r["validation_cross_entropy"]) for r in records
             if "validation_cross_entropy" in r]
    return Run(curve, time.perf_counter() - start, routing_summary(records))


def plot(curves, path, title, colors=None):
    """curves: {label: {seed: [(step, loss)]}} -> a PNG of validation curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    palette = itertools.cycle(["tab:red", "tab:blue", "tab:orange", "tab:green",
                               "tab:purple", "tab:brown", "tab:gray", "tab:olive"])
    for label, runs in curves.items():
        color = (colors or {}).get(label) or next(palette)
        for i, (seed, curve) in enumerate(sorted(runs.items())):
            steps, losses = zip(*curve)
            ax.plot(steps, losses, color=color, alpha=0.45 + 0.2 * (i % 3), lw=1.2,
                    label=label if i == 0 else None)
    ax.set_xlabel("training step (same batches for every arm at each seed)")
    ax.set_ylabel("validation cross-entropy (nats/token)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    low = min(loss for runs in curves.values() for c in runs.values() for _, loss in c)
    finals = [c[-1][1] for runs in curves.values() for c in runs.values()]
    ax.set_ylim(low - 0.05, max(finals) + 0.6)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
