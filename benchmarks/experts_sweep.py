"""The paper's experts figure at small scale: more experts, same compute, lower loss.

Models shaped like glam_tiny in one style (`lm_runs.STYLES`, default gated)
with E experts in every second block, E in --experts, and the dense model
FLOP-matched to the smallest E (E = 1 in the paper's figure: one FFN per
block). Every top-2 model activates the same FLOPs per token, whatever E,
up to the router's d_model x E matrix (printed). All train on the same
batches for --steps at one learning rate; the script prints per E

  experts_sweep[E=N] val_ce / val_ce_dense = Rx; ...

(mean over --seeds) and writes the curves to --plot. Runs are kept in
--workdir under the names moe_vs_dense.py uses, so a shared workdir trains
each (model, rate, budget, seed) once.

    python benchmarks/experts_sweep.py [--experts 8,16,32] [--steps 3000] [--seeds 0]
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
from moe_vs_dense import DEFAULT_PLOT_DIR, train_config  # noqa: E402
from ratios import mean_std, ratio_line  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=lm_runs.KNOWLEDGE_SPEC)
    parser.add_argument("--style", default="gated", choices=sorted(lm_runs.STYLES))
    parser.add_argument("--experts", default="8,16,32")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--eval_every", type=int, default=250)
    parser.add_argument("--eval_batches", type=int, default=32)
    parser.add_argument("--tokenizer_documents", type=int, default=50_000)
    parser.add_argument("--workdir")
    parser.add_argument("--plot", default=os.path.join(DEFAULT_PLOT_DIR, "experts_sweep.png"))
    args = parser.parse_args(argv)
    try:
        args.experts = sorted({int(e) for e in args.experts.split(",") if e})
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError as error:
        parser.error(str(error))
    if not args.experts or min(args.experts) < 2 or not args.seeds:
        parser.error("--experts: at least one count, each >= 2 (top-2); --seeds: at least one")
    for name in ("steps", "batch_size", "seq_len", "eval_every", "eval_batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if not args.learning_rate > 0:
        parser.error("--learning_rate must be > 0")
    args.sweep_steps, args.learning_rates = args.steps, [args.learning_rate]
    return args


def main(argv=None):
    args = parse_args(argv)
    import tensorflow as tf

    from train_throughput import train_flops_per_token

    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  cpus: {os.cpu_count()}"
          f"  tensorflow {tf.__version__}  data {args.data}")
    source = lm_runs.check_data(args.data)
    models = {e: lm_runs.moe_config(args.style, e) for e in args.experts}
    models[1] = lm_runs.dense_config(models[args.experts[0]])
    for e, config in sorted(models.items()):
        print(f"E={e}: {lm_runs.describe(config)}; "
              f"{train_flops_per_token(config, args.seq_len) / 1e6:.3f} train MFLOP/token")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        tokenizer = lm_runs.prepare_tokenizer(workdir, source, models[1].vocab_size,
                                              args.tokenizer_documents)
        runs = {e: {} for e in models}
        for seed in args.seeds:
            for e, config in sorted(models.items()):
                run = lm_runs.train(workdir, config, train_config(args, args.steps, seed,
                                                                  args.learning_rate), tokenizer)
                runs[e][seed] = run
                print(f"  E={e} seed {seed}: final validation cross-entropy {run.final:.4f} "
                      f"({run.seconds:.0f} s)", flush=True)
    dense = mean_std(r.final for r in runs[1].values())[0]
    if args.plot:
        lm_runs.plot({f"E={e}" if e > 1 else "dense (E=1)": {s: r.curve for s, r in rs.items()}
                      for e, rs in sorted(runs.items())}, args.plot,
                     f"experts sweep ({args.style}): {args.steps} steps of {args.batch_size}x"
                     f"{args.seq_len} tokens, lr {args.learning_rate:g}, seeds {args.seeds}")
        print(f"plot: {args.plot}")
    print()
    tokens = args.steps * args.batch_size * args.seq_len
    for e in args.experts:
        mean, std = mean_std(r.final for r in runs[e].values())
        routing = runs[e][args.seeds[0]].routing
        print(ratio_line(f"experts_sweep[E={e}]", "val_ce", "val_ce_dense", mean / dense,
                         digits=4, note=f"{mean:.4f} +- {std:.4f} vs {dense:.4f} nats; "
                                        f"{args.style}; {tokens:,} tokens; dropped "
                                        f"{routing['dropped_token_fraction']:.4f}, max/mean "
                                        f"load {routing['max_over_mean_load']:.2f}"))


if __name__ == "__main__":
    main()
