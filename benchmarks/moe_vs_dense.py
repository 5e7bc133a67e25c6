"""GLaM's central claim at small scale: MoE beats dense at the same activated FLOPs.

For each style (`lm_runs.STYLES`), an 8-expert top-2 MoE model shaped like
glam_tiny (4 blocks, d_model 128, MoE in every second block, experts of
d_ff 512) and a dense model with the same activated FLOPs per token
(`lm_runs.matched_dense_d_ff`) train on the same batches for the same steps:

  glam   plain-GELU experts, gated dense FFNs (the public GLaM code; the
         dense arm gets the gated units' advantage everywhere)
  gated  gated-GELU experts and dense FFNs (like with like)
  plain  plain-GELU experts and dense FFNs (like with like)

Learning rate: each arm's own, picked from --learning_rates by a sweep of
--sweep_steps at seed 0 (lowest final validation cross-entropy). Then every
arm trains --steps at its rate for every seed; seed s fixes the data order
and both models' initialization, so both arms of a seed see the same batches.

Corpus (--data, default the knowledge corpus: GCIDE, WordNet and FOLDOC from
Debian packages, about 20M tokens; `bash benchmarks/corpus/setup.sh` makes
it): large enough that no run sees a document twice at the default budget.

Prints the sweep, each arm's final validation cross-entropy (mean +- std over
seeds) with its routing health (dropped tokens, router entropy, load), and
one ratio line per style,
  moe_vs_dense[gated] val_ce_moe / val_ce_dense = Rx (target <= 0.98x) MET|NOT MET; ...
and writes the validation curves to --plot_dir/moe_vs_dense_<style>.png.

    python benchmarks/moe_vs_dense.py [--styles glam,gated] [--steps 3000] [--seeds 0,1,2]
"""

import argparse
import datetime
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import lm_runs  # noqa: E402
from ratios import mean_std, ratio_line  # noqa: E402

TARGET = 0.98
DEFAULT_PLOT_DIR = os.path.join(os.path.dirname(_HERE), "docs", "figures")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=lm_runs.KNOWLEDGE_SPEC, help="--data spec of the corpus")
    parser.add_argument("--styles", default="glam,gated",
                        help=f"comma list of {', '.join(lm_runs.STYLES)}")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--learning_rates", default="0.005,0.01,0.02",
                        help="the sweep; one value skips it")
    parser.add_argument("--sweep_steps", type=int, default=1000)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--eval_every", type=int, default=250)
    parser.add_argument("--eval_batches", type=int, default=32)
    parser.add_argument("--tokenizer_documents", type=int, default=50_000)
    parser.add_argument("--workdir", help="keep the runs here; a rerun reuses them")
    parser.add_argument("--plot_dir", default=DEFAULT_PLOT_DIR)
    args = parser.parse_args(argv)
    try:
        args.styles = [s for s in args.styles.split(",") if s]
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.learning_rates = [float(r) for r in args.learning_rates.split(",")]
    except ValueError as error:
        parser.error(str(error))
    unknown = [s for s in args.styles if s not in lm_runs.STYLES]
    if unknown or not args.styles:
        parser.error(f"--styles: {unknown or 'empty'}: choose from {', '.join(lm_runs.STYLES)}")
    for name in ("steps", "sweep_steps", "batch_size", "seq_len", "eval_every", "eval_batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if not args.seeds or not args.learning_rates or min(args.learning_rates) <= 0:
        parser.error("--seeds and --learning_rates need at least one value (rates > 0)")
    return args


def train_config(args, steps, seed, rate):
    from glam_tf.training.run_config import TrainConfig

    return TrainConfig(steps=steps, batch_size=args.batch_size, seq_len=args.seq_len, seed=seed,
                       data=args.data, peak_learning_rate=rate,
                       eval_every=min(args.eval_every, steps), eval_batches=args.eval_batches,
                       log_every=max(1, min(50, steps // 10)), checkpoint_every=steps,
                       keep_checkpoints=1)


def pick_rates(args, arms, workdir, tokenizer):
    """{arm: learning rate}: each arm's best at --sweep_steps, seed 0."""
    if len(args.learning_rates) == 1:
        return {arm: args.learning_rates[0] for arm in arms}
    print(f"learning-rate sweep: {args.sweep_steps} steps, seed {args.seeds[0]}", flush=True)
    best = {}
    for arm, config in arms.items():
        finals = {}
        for rate in args.learning_rates:
            run = lm_runs.train(workdir, config, train_config(args, args.sweep_steps,
                                                              args.seeds[0], rate), tokenizer)
            finals[rate] = run.final
        best[arm] = min(finals, key=finals.get)
        print(f"  {arm}: " + ", ".join(f"lr {r:g} -> {v:.4f}" for r, v in finals.items())
              + f"; picked {best[arm]:g}", flush=True)
    return best


def main(argv=None):
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    from train_throughput import train_flops_per_token

    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  cpus: {os.cpu_count()}")
    print(f"tensorflow {tf.__version__}  keras {keras.__version__}  data {args.data}")
    source = lm_runs.check_data(args.data)
    arms = {}
    for style in args.styles:
        moe = lm_runs.moe_config(style)
        arms[f"{style}/moe"], arms[f"{style}/dense"] = moe, lm_runs.dense_config(moe)
    for arm, config in arms.items():
        print(f"{arm}: {lm_runs.describe(config)}; "
              f"{train_flops_per_token(config, args.seq_len) / 1e6:.3f} train MFLOP/token")
    tokens = args.steps * args.batch_size * args.seq_len
    print(f"{args.steps} steps x B={args.batch_size} x L={args.seq_len} = {tokens:,} tokens per "
          f"run; seeds {args.seeds}; validation: {args.eval_batches} batches every "
          f"{args.eval_every} steps", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        tokenizer = lm_runs.prepare_tokenizer(workdir, source, lm_runs.PRESETS["glam_tiny"].vocab_size,
                                              args.tokenizer_documents)
        rates = pick_rates(args, arms, workdir, tokenizer)
        runs = {arm: {} for arm in arms}
        for seed in args.seeds:
            for arm, config in arms.items():  # MoE, dense, MoE, dense, ...: load hits both alike
                run = lm_runs.train(workdir, config, train_config(args, args.steps, seed,
                                                                  rates[arm]), tokenizer)
                runs[arm][seed] = run
                print(f"  {arm} seed {seed}: final validation cross-entropy {run.final:.4f} "
                      f"({run.seconds:.0f} s)", flush=True)

    lines = []
    for style in args.styles:
        finals = {}
        for arm in (f"{style}/moe", f"{style}/dense"):
            finals[arm] = [runs[arm][s].final for s in args.seeds]
            mean, std = mean_std(finals[arm])
            routing = runs[arm][args.seeds[0]].routing
            health = ("; routing (last quarter, seed {}): dropped {:.4f}, entropy {:.3f} nats, "
                      "max/mean load {:.2f}, aux {:.3f}".format(
                          args.seeds[0], routing["dropped_token_fraction"],
                          routing["router_entropy"], routing["max_over_mean_load"],
                          routing["aux_loss"]) if routing else "")
            print(f"final_val_ce[{arm}]: {mean:.4f} +- {std:.4f} (lr {rates[arm]:g}; seeds: "
                  f"{', '.join(f'{v:.4f}' for v in finals[arm])}){health}")
        moe, dense = (mean_std(finals[f"{style}/{a}"])[0] for a in ("moe", "dense"))
        wins = sum(m < d for m, d in zip(finals[f"{style}/moe"], finals[f"{style}/dense"]))
        flops = (train_flops_per_token(arms[f"{style}/moe"], args.seq_len)
                 / train_flops_per_token(arms[f"{style}/dense"], args.seq_len))
        lines.append(ratio_line(
            f"moe_vs_dense[{style}]", "val_ce_moe", "val_ce_dense", moe / dense, TARGET,
            digits=4, note=f"{moe:.4f} vs {dense:.4f} nats; MoE lower at {wins} of "
                           f"{len(args.seeds)} seeds; {tokens:,} tokens; FLOPs ratio {flops:.4f}"))
        if args.plot_dir:
            path = os.path.join(args.plot_dir, f"moe_vs_dense_{style}.png")
            curves = {f"{arm} (lr {rates[arm]:g})": {s: r.curve for s, r in runs[arm].items()}
                      for arm in (f"{style}/moe", f"{style}/dense")}
            lm_runs.plot(curves, path, f"{style}: {lm_runs.describe(arms[f'{style}/moe'])}\nvs "
                         f"{lm_runs.describe(arms[f'{style}/dense'])}; {args.steps} steps of "
                         f"{args.batch_size}x{args.seq_len} tokens, seeds {args.seeds}")
            print(f"plot: {path}")
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
