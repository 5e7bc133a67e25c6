"""Tokens/s with and without XLA, and with 1 or N steps per tf.function call.

What it measures, in one run, every variant round-robin (all of them once,
then again, ...) so that noise on a shared machine hits them alike; every
figure is a median over rounds:
  glam_tiny   `Trainer.train_steps(N)`, what `glam train` runs: a real Trainer
      per variant in a temporary model directory (B=8, L=128 by default),
      reading pre-made random batches {"token_ids", "segment_ids"} from a
      tf.data iterator inside the loop (one document per row: every
      position is a target). Each sample is --steps steps, as --steps / N
      calls; the host reads every step's outputs after each call.
  moe_layer   the 0.1B/64E MoE layer of benchmarks/moe_layer.py
      (MoeFeedForward E=64, H=3072 on M=768, 2048 tokens as B=2 x L=1024,
      top-2, capacity factor 2.0, group size 1024, gather dispatch,
      training=True): forward, loss = sum(y * y), gradients and an SGD update
      (so that step k+1 depends on step k), N such steps in one tf.function
      (a tf.while_loop; with XLA the whole loop is compiled). One layer's
      weights are shared by the variants (the update is tiny).
Variants: plain (tf.function) and xla (jit_compile=True), each with N = 1 and
every --loops value. tokens/s = tokens per step * steps / time.
--workloads picks which of the two run (default both): glam_tiny's XLA
variants take minutes to compile on 2 cores, so `--workloads moe_layer`
measures the layer alone in a few minutes; the output says what was left out.

How to read the output: per workload and variant, the median ms per step and
tokens/s; then ratio lines (benchmarks/ratios.py format)
  compiled_steps[<workload>,<xla|plain>,N=<n>] tokens_per_s / tokens_per_s[plain,N=1] = R x
R > 1 is faster than today's default (plain, one step per call). The last
glam_tiny loss of each variant is printed too: they trained on the same
batches, so plain N=1 and plain N=10 agree exactly and xla within rounding.

Run from the repo root:
  python benchmarks/compiled_steps.py [--rounds N] [--loops 10] [--steps 10]
      [--batch-size B] [--seq-len L] [--layer tiny|paper] [--threads N]
      [--workloads glam_tiny,moe_layer]
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))
sys.path.insert(0, _HERE)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from glam_tf.layers.moe_feed_forward import MoeFeedForward  # noqa: E402
from glam_tf.presets import PRESETS  # noqa: E402
from glam_tf.training.run_config import TrainConfig  # noqa: E402
from glam_tf.training.trainer import Trainer  # noqa: E402
from ratios import ratio_line  # noqa: E402
from train_throughput import (add_threads_flag, apply_threads, cpu_model,  # noqa: E402
                              random_batch)

WORKLOADS = ("glam_tiny", "moe_layer")
# name: (label, d_model M, expert width H, experts E, batch B, length L, group size S)
LAYERS = {"paper": ("0.1B/64E", 768, 3072, 64, 2, 1024, 1024),
          "tiny": ("tiny", 128, 512, 8, 2, 256, 256)}


def glam_tiny_run(model_dir, jit, loop, steps, batch_size, seq_len):
    """A callable that runs `steps` train steps as steps/loop calls; returns ms."""
    config = PRESETS["glam_tiny"]
    batches = [random_batch(config, batch_size, seq_len, seed) for seed in range(4)]
    stacked = {k: tf.stack([b[k] for b in batches]) for k in batches[0]}

    data = tf.data.Dataset.from_tensor_slices(stacked).repeat().prefetch(2)
    run = TrainConfig(steps=1 << 30, batch_size=batch_size, seq_len=seq_len, eval_batches=1,
                      jit_compile=jit, steps_per_loop=loop)
    trainer = Trainer(model_dir, config, run, data, data, log=lambda _: None)
    losses = []

    def sample():
        start = time.perf_counter()
        for _ in range(steps // loop):
            outputs = trainer.train_steps(loop)  # numpy: the host has waited
        losses.append(float(outputs[-1].parts["loss"]))
        return (time.perf_counter() - start) * 1e3

    return sample, losses


def moe_layer_run(layer, x, jit, loop, steps):
    """`loop` forward+backward+SGD steps of `layer` on x in one tf.function."""
    def one_step():
        with tf.GradientTape() as tape:
            y, _ = layer(x, training=True)
            loss = tf.reduce_sum(y * y)
        grads = tape.gradient(loss, layer.trainable_variables)
        for var, grad in zip(layer.trainable_variables, grads):
            var.assign_sub(1e-9 * grad)
        return loss

    @tf.function(jit_compile=jit)
    def steps_fn():
        loss = one_step()
        if loop > 1:  # a tf.while_loop for the other loop - 1 steps
            for _ in tf.range(loop - 1):
                loss = one_step()
        return loss

    def sample():
        start = time.perf_counter()
        for _ in range(steps // loop):
            steps_fn().numpy()
        return (time.perf_counter() - start) * 1e3

    return sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--loops", default="10", help="steps per call besides 1 (comma list)")
    parser.add_argument("--steps", type=int, default=10,
                        help="steps per timed sample, a multiple of every --loops (default 10)")
    parser.add_argument("--batch-size", type=int, default=8, help="glam_tiny batch B (default 8)")
    parser.add_argument("--seq-len", type=int, default=128, help="glam_tiny length L (default 128)")
    parser.add_argument("--layer", choices=sorted(LAYERS), default="paper",
                        help="MoE layer shape (default paper: 0.1B/64E)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma list of glam_tiny, moe_layer (default both)")
    add_threads_flag(parser)
    args = parser.parse_args()
    chosen = args.workloads.split(",")
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown or not chosen:
        parser.error(f"--workloads {args.workloads!r}: {', '.join(unknown) or 'empty'} is not "
                     f"one of {', '.join(WORKLOADS)}")
    apply_threads(args.threads)
    loops = [1] + [int(n) for n in args.loops.split(",") if int(n) != 1]
    if any(args.steps % n for n in loops):
        parser.error(f"--steps {args.steps} is not a multiple of every --loops value {loops}")
    b, length = args.batch_size, args.seq_len
    print(f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}  "
          f"cpus: {os.cpu_count()} ({cpu_model()})  threads: {args.threads or 'default'}  "
          f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python {sys.version.split()[0]}  tensorflow {tf.__version__}  "
          f"keras {keras.__version__}  numpy {np.__version__}")

    label, m, h, e, lb, ll, s = LAYERS[args.layer]
    layer_name = f"moe_layer_{label}"
    tokens = {name: count for name, count, workload in (
        ("glam_tiny", b * length, "glam_tiny"), (layer_name, lb * ll, "moe_layer"))
        if workload in chosen}
    variants = [(jit, n) for jit in (False, True) for n in loops]
    x = tf.random.stateless_normal([lb, ll, m], seed=[1, 2])
    layer = MoeFeedForward(e, h, top_k=2, train_capacity_factor=2.0, group_size=s,
                           dispatch="gather", seed=0)
    layer.build(x.shape)
    runs, losses, first = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for jit, n in variants:
            key = ("glam_tiny", jit, n)
            if "glam_tiny" in tokens:
                runs[key], losses[key] = glam_tiny_run(os.path.join(tmp, f"{jit}_{n}"), jit, n,
                                                       args.steps, b, length)
            if layer_name in tokens:
                runs[(layer_name, jit, n)] = moe_layer_run(layer, x, jit, n, args.steps)
        for key, run in runs.items():  # warm-up: trace (and compile) + one more sample
            first[key] = run()
            run()
        times = {key: [] for key in runs}
        for _ in range(args.rounds):
            for key, run in runs.items():
                times[key].append(run())

    left_out = [w for w in WORKLOADS if w not in chosen]
    print(f"\n{args.rounds} rounds of {args.steps} steps per variant; glam_tiny B={b} L={length}; "
          f"{layer_name} M={m} H={h} E={e} tokens={lb * ll} S={s}, gather"
          + (f"; not run (--workloads): {', '.join(left_out)}" if left_out else ""))
    rate = {}
    for key, t in times.items():
        workload, jit, n = key
        per_step = statistics.median(t) / args.steps
        rate[key] = tokens[workload] / (per_step / 1e3)
        print(f"{workload} {'xla' if jit else 'plain'} N={n}: {per_step:.1f} ms/step "
              f"(min {min(t) / args.steps:.1f}, max {max(t) / args.steps:.1f}), "
              f"{rate[key]:,.0f} tokens/s; first sample (trace, compile) {first[key]:.0f} ms")
    for jit, n in variants if "glam_tiny" in tokens else ():
        print(f"glam_tiny {'xla' if jit else 'plain'} N={n} last loss: "
              f"{losses[('glam_tiny', jit, n)][-1]:.7f}")
    print()
    for workload in tokens:
        base = rate[(workload, False, 1)]
        for jit, n in variants[1:]:
            print(ratio_line(f"compiled_steps[{workload},{'xla' if jit else 'plain'},N={n}]",
                             "tokens_per_s", "tokens_per_s[plain,N=1]",
                             rate[(workload, jit, n)] / base,
                             note=f"medians of {args.rounds} rounds, this run"))


if __name__ == "__main__":
    main()
