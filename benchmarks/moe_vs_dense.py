"""GLaM's central claim at small scale: MoE against dense at the same activated FLOPs.

Trains `glam_tiny` (4 layers, d_model 128, 8 experts of width 512 in every
second block, top-2) and a dense model with the same activated FLOPs per
token on the same data for the same steps, one run per seed and model, with
the project's own `run_train` (glam_tf/training/command.py) into a temporary
directory, and compares their validation cross-entropy.

Matched FLOPs. `dense_tiny` (d_ff=512) is NOT FLOP-matched to `glam_tiny`: a
top-2 MoE block activates two plain-GELU experts (2 * 2 * M * H = 4 M H
weights) where a dense block has a gated-GELU FFN (3 M d_ff), so glam_tiny
activates 1,445,504 parameters and dense_tiny 1,312,384 (9.46 vs 8.66 train
MFLOP per token at L=128). The dense arm here is dense_tiny with d_ff=600
(--dense_d_ff): 1,447,552 activated parameters (+0.14%). The script prints
both models' FLOPs per token (6 * matmul params + attention, as in
benchmarks/train_throughput.py).

Same data: one SentencePiece tokenizer (2048 pieces) is trained once on the
embedded corpus and shared; seed s fixes both the data order and the
initialization of both models, so MoE and dense with seed s see the same
batches. Runs alternate MoE, dense, MoE, dense ... so machine load hits both.
Validation: --eval_batches batches of the embedded validation split, every
--eval_every steps.

Output: per-seed final validation cross-entropy, mean +- std, the ratio line
  moe_vs_dense[glam_tiny] val_ce_moe / val_ce_dense = Rx; ...
and a PNG of the validation curves (--plot).

    python benchmarks/moe_vs_dense.py [--steps 1000] [--seeds 0,1,2] [--plot PATH]
"""

import argparse
import dataclasses
import datetime
import itertools
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
sys.path.insert(0, _HERE)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from glam_tf.data import parse_data_spec  # noqa: E402
from glam_tf.params import count_parameters  # noqa: E402
from glam_tf.presets import PRESETS  # noqa: E402
from glam_tf.tokenizer import train_tokenizer  # noqa: E402
from glam_tf.training.command import TOKENIZER_DOCUMENTS, run_train  # noqa: E402
from glam_tf.training.run_config import TrainConfig  # noqa: E402
from ratios import mean_std, ratio_line  # noqa: E402
from train_throughput import train_flops_per_token  # noqa: E402

DEFAULT_PLOT = os.path.join(os.path.dirname(_HERE), "docs", "figures", "moe_vs_dense.png")


def models(dense_d_ff):
    return {"moe": ("glam_tiny", PRESETS["glam_tiny"]),
            "dense": (f"dense_tiny(d_ff={dense_d_ff})",
                      dataclasses.replace(PRESETS["dense_tiny"], d_ff=dense_d_ff))}


def validation_curve(model_dir):
    """[(step, validation cross-entropy)] from the run's metrics.jsonl."""
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [(r["step"], r["validation_cross_entropy"]) for r in records
            if "validation_cross_entropy" in r]


def plot(curves, names, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    colors = {"moe": "tab:red", "dense": "tab:blue"}
    for arm, runs in curves.items():
        for i, (seed, curve) in enumerate(sorted(runs.items())):
            steps, losses = zip(*curve)
            ax.plot(steps, losses, color=colors[arm], alpha=0.35 + 0.2 * i, lw=1.2,
                    label=f"{names[arm]}, seed {seed}")
    ax.set_xlabel("training step (same batches for both models at each seed)")
    ax.set_ylabel("validation cross-entropy (nats/token)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    low = min(loss for runs in curves.values() for c in runs.values() for _, loss in c)
    first = [c[0][1] for runs in curves.values() for c in runs.values()]
    ax.set_ylim(low - 0.1, min(max(first), low + 2.5))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--eval_batches", type=int, default=32)
    parser.add_argument("--dense_d_ff", type=int, default=600,
                        help="d_ff of the dense arm (600 matches glam_tiny's activated FLOPs)")
    parser.add_argument("--plot", default=DEFAULT_PLOT, help="PNG of the validation curves")
    parser.add_argument("--tokenizer_documents", type=int, default=TOKENIZER_DOCUMENTS,
                        help="training documents the shared tokenizer is trained on")
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary dir)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = models(args.dense_d_ff)
    names = {arm: name for arm, (name, _) in arms.items()}
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  cpus: {os.cpu_count()}")
    print(f"tensorflow {tf.__version__}  keras {keras.__version__}")
    flops = {}
    for arm, (name, config) in arms.items():
        counts = count_parameters(config)
        flops[arm] = train_flops_per_token(config, args.seq_len)
        print(f"{name}: {counts.total:,} parameters, {counts.activated:,} activated; "
              f"{flops[arm] / 1e6:.3f} train MFLOP/token at L={args.seq_len}")
    tokens = args.steps * args.batch_size * args.seq_len
    print(f"{args.steps} steps x B={args.batch_size} x L={args.seq_len} = {tokens:,} tokens "
          f"per run; seeds {seeds}; validation: {args.eval_batches} batches every "
          f"{args.eval_every} steps")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        source = parse_data_spec("embedded")
        texts = (t.decode("utf-8") for t in itertools.islice(
            source.documents("train").as_numpy_iterator(), args.tokenizer_documents))
        tokenizer = train_tokenizer(texts, PRESETS["glam_tiny"].vocab_size,
                                    os.path.join(workdir, "tokenizer"))
        curves = {arm: {} for arm in arms}
        seconds = {arm: [] for arm in arms}
        for seed, arm in itertools.product(seeds, arms):  # MoE, dense, MoE, dense, ...
            name, config = arms[arm]
            model_dir = os.path.join(workdir, f"{arm}_seed{seed}")
            train_config = TrainConfig(
                steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, seed=seed,
                eval_every=args.eval_every, eval_batches=args.eval_batches,
                log_every=args.eval_every, checkpoint_every=args.steps, keep_checkpoints=1)
            start = time.perf_counter()
            run_train(model_dir, config, train_config, tokenizer_path=tokenizer,
                      log=lambda _: None)
            seconds[arm].append(time.perf_counter() - start)
            curves[arm][seed] = validation_curve(model_dir)
            print(f"  {name} seed {seed}: final validation cross-entropy "
                  f"{curves[arm][seed][-1][1]:.4f} ({seconds[arm][-1]:.0f} s)", flush=True)

    final = {arm: [curves[arm][seed][-1][1] for seed in seeds] for arm in arms}
    stats = {arm: mean_std(final[arm]) for arm in arms}
    for arm in arms:
        mean, std = stats[arm]
        print(f"final_val_ce[{names[arm]}]: {mean:.4f} +- {std:.4f} "
              f"(seeds: {', '.join(f'{v:.4f}' for v in final[arm])}); "
              f"{sum(seconds[arm]) / len(seeds):.0f} s per run")
    wins = sum(m < d for m, d in zip(final["moe"], final["dense"]))
    difference = stats["moe"][0] - stats["dense"][0]
    if args.plot:
        plot(curves, names, args.plot,
             f"glam_tiny (MoE, 8 experts) vs {names['dense']}: {flops['moe'] / 1e6:.2f} vs "
             f"{flops['dense'] / 1e6:.2f} train MFLOP/token\n{args.steps} steps of "
             f"{args.batch_size}x{args.seq_len} tokens, embedded corpus, seeds {args.seeds}")
        print(f"plot: {args.plot}")
    print()
    print(ratio_line("moe_vs_dense[glam_tiny]", "val_ce_moe", "val_ce_dense",
                     stats["moe"][0] / stats["dense"][0], digits=4,
                     note=f"{stats['moe'][0]:.4f} vs {stats['dense'][0]:.4f} nats, "
                          f"difference {difference:+.4f}; MoE lower at {wins} of {len(seeds)} "
                          f"seeds; {args.steps} steps"))
    print(ratio_line("moe_vs_dense[glam_tiny]", "flops_per_token_moe", "flops_per_token_dense",
                     flops["moe"] / flops["dense"], note="activated train FLOPs"))
    print(ratio_line("moe_vs_dense[glam_tiny]", "train_time_moe", "train_time_dense",
                     sum(seconds["moe"]) / sum(seconds["dense"]),
                     note="wall clock incl. validation, this machine"))


if __name__ == "__main__":
    main()
