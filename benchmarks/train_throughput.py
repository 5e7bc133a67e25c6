"""Training tokens/s and model FLOPs utilization (MFU) of glam_tiny and dense_tiny.

What it measures, in one run, round-robin (A B C D A B C D ...) so that
machine noise hits all variants alike; every figure is a median over rounds:
  train_step[<preset>]  the step `Trainer` compiles (glam_tf.training.trainer:
      forward, lm_loss, gradients, finite check, Adafactor update), built by a
      real `Trainer` in a temporary model directory with a synthetic dataset;
      timed on pre-made random batches {"token_ids", "segment_ids"} int32
      [B, L + 1] (one document per row), so the input pipeline is not timed.
      Each sample is --steps-per-round consecutive steps (per-step time).
  moe_layer[0.1B/64E]   one compiled step of MoeFeedForward(E=64, H=3072) on
      M=768, 2048 tokens (B=2, L=1024), top-2, capacity factor 2.0, group size
      1024, gather dispatch, training=True: forward, loss = sum(y * y),
      gradients (the step of benchmarks/moe_layer.py; no optimizer update).
  matmul peak           a float32 tf.matmul of two n x n matrices (default
      n = 2048) in a tf.function: 2 * n^3 FLOPs per run.

Model FLOPs (the usual "6N + 12 layers L N D" count of the PaLM paper's MFU):
  train FLOPs/token = 6 * P + 12 * layers * L * N * D
    P = activated non-embedding parameters (params.count_parameters:
        activated - embedding: top_k experts per MoE block, plus the gate)
        + V * M for the output-logit matmul (the tied embedding is the softmax
        weight; the embedding lookup itself is not a matmul);
    12 * layers * L * N * D = 3 (fwd + bwd) * 2 matmuls (q.k, probs.v)
        * 2 FLOPs/MAC * L keys * N * D per token and layer, with the full L
        (the causal half that is masked out is counted, as in PaLM).
  moe layer FLOPs/step = 3 (fwd+bwd) * 2 * tokens * top_k * 2 * M * H
        (two expert matrices, wi_0 and wo; router and dispatch not counted).
  MFU = (model FLOPs per step / median step time) / peak,
  peak = 2 n^3 / fastest (best-of) matmul time over the rounds.
The peak is a best-of because it is meant as what the machine can do: single
~40 ms matmuls are easily slowed by a stray process or a frequency dip, and a
median peak moved by 25% between quiet runs (361 vs 466 GFLOP/s) while the
best-of stayed at 471-476. The MFU against the median matmul is printed too
(higher whenever some matmul samples were slowed). P, taken as activated -
embedding, also holds the RMSNorm scales and relative-bias tables (1,664 of
1.45M for glam_tiny; negligible). Softmax, masking, norms, GELU, routing and
dispatch, the loss and the optimizer add no model FLOPs (they are overhead).

How to read the output: one line per figure,
  train_step[<preset>] tokens/s: T (B=.., L=..)
  mfu[<name>]: U (achieved X GFLOP/s / peak Y GFLOP/s)
  train_tokens_per_s[glam_tiny] / train_tokens_per_s[dense_tiny]: R x
then the target line: MFU >= 0.5 for the 0.1B/64E MoE layer step.
Absolute figures depend on the (shared) machine; compare only within a run.

Run from the repo root:
  python benchmarks/train_throughput.py [--rounds N] [--batch-size B] [--seq-len L]
      [--steps-per-round K] [--matmul-n N] [--no-moe-layer] [--threads N]
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
from glam_tf.layers.routing import expert_capacity  # noqa: E402
from glam_tf.params import count_parameters  # noqa: E402
from glam_tf.presets import PRESETS  # noqa: E402
from glam_tf.training.run_config import TrainConfig  # noqa: E402
from glam_tf.training.trainer import Trainer, check_model_dir  # noqa: E402
from moe_layer import make_step  # noqa: E402  (benchmarks/moe_layer.py)
from ratios import ratio_line  # noqa: E402

MODELS = ("glam_tiny", "dense_tiny")
# The 0.1B/64E MoE layer: d_model M, expert width H, experts E, batch B, length L, group size S
PAPER_LAYER = ("0.1B/64E", 768, 3072, 64, 2, 1024, 1024)
TOP_K = 2
TARGET_MFU = 0.5


def train_flops_terms(config, seq_len):
    """(P, attention FLOPs per token): P = activated non-embedding + V*M logit matmul."""
    counts = count_parameters(config)
    matmul_params = counts.activated_non_embedding + config.vocab_size * config.d_model
    attention = 12 * config.num_layers * seq_len * config.num_heads * config.head_dim
    return matmul_params, attention


def train_flops_per_token(config, seq_len):
    """6 * (activated non-embedding + V*M logit matmul) + 12 * layers * L * N * D."""
    matmul_params, attention = train_flops_terms(config, seq_len)
    return 6 * matmul_params + attention


def moe_layer_flops(tokens, m, h, top_k=TOP_K):
    """Useful FLOPs of one MoE forward+backward: 3 * 2 * tokens * top_k * 2 * M * H."""
    return 3 * 2 * tokens * top_k * 2 * m * h


def random_batch(config, batch_size, seq_len, seed):
    ids = tf.random.stateless_uniform([batch_size, seq_len + 1], seed=[seed, 7], minval=0,
                                      maxval=config.vocab_size, dtype=tf.int32)
    return {"token_ids": ids, "segment_ids": tf.ones_like(ids)}


def make_train_step(name, batch_size, seq_len, model_dir, steps_per_round):
    """A `Trainer` for preset `name` and a callable timing steps_per_round of its steps."""
    config = PRESETS[name]
    batches = [random_batch(config, batch_size, seq_len, seed) for seed in range(4)]

    data = tf.data.Dataset.from_tensors(batches[0]).repeat()
    train_config = TrainConfig(steps=1, batch_size=batch_size, seq_len=seq_len, eval_batches=1)
    check_model_dir(model_dir, config, train_config)
    trainer = Trainer(model_dir, config, train_config, data, data, log=lambda _: None)
    calls = [0]

    def run():
        start = time.perf_counter()
        for _ in range(steps_per_round):
            parts, _ = trainer.train_step(batches[calls[0] % len(batches)])
            calls[0] += 1
        parts["loss"].numpy()  # make sure the last step has finished
        return (time.perf_counter() - start) * 1e3 / steps_per_round

    return trainer, run


def make_moe_layer_step():
    _, m, h, e, b, length, s = PAPER_LAYER
    x = tf.random.stateless_normal([b, length, m], seed=[1, 2])
    layer = MoeFeedForward(e, h, top_k=TOP_K, train_capacity_factor=2.0, group_size=s,
                           dispatch="gather", seed=0)
    step = make_step(layer, x, moe=True)

    def run():
        start = time.perf_counter()
        loss, _ = step()
        loss.numpy()
        return (time.perf_counter() - start) * 1e3

    return run


def make_matmul(n):
    a = tf.random.stateless_normal([n, n], seed=[3, 4])
    b = tf.random.stateless_normal([n, n], seed=[5, 6])
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1, :1]))

    def run():
        start = time.perf_counter()
        matmul().numpy()
        return (time.perf_counter() - start) * 1e3

    return run


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def add_threads_flag(parser) -> None:
    parser.add_argument("--threads", type=int, default=0,
                        help="intra- and inter-op threads (0 = TensorFlow default)")


def apply_threads(count: int) -> None:
    """--threads: both TensorFlow thread pools at `count` (0 leaves TF's default)."""
    if count:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--batch-size", type=int, default=8, help="train batch B (default 8)")
    parser.add_argument("--seq-len", type=int, default=128, help="train length L (default 128)")
    parser.add_argument("--steps-per-round", type=int, default=5,
                        help="consecutive train steps per timed sample (default 5)")
    parser.add_argument("--matmul-n", type=int, default=2048,
                        help="n of the n x n x n float32 matmul peak (default 2048)")
    parser.add_argument("--no-moe-layer", action="store_true",
                        help="skip the 0.1B/64E MoE layer step (and its target line)")
    add_threads_flag(parser)
    args = parser.parse_args()
    apply_threads(args.threads)
    b, length, n = args.batch_size, args.seq_len, args.matmul_n
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  "
          f"cpus: {os.cpu_count()} ({cpu_model()})  threads: {args.threads or 'default'}")
    print(f"python {sys.version.split()[0]}  tensorflow {tf.__version__}  "
          f"keras {keras.__version__}  numpy {np.__version__}")

    runs, flops = {}, {}  # name -> timing callable; name -> model FLOPs per run
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            _, runs[name] = make_train_step(name, b, length, os.path.join(tmp, name),
                                            args.steps_per_round)
            flops[name] = train_flops_per_token(PRESETS[name], length) * b * length
        if not args.no_moe_layer:
            label, m, h, e, pb, pl, s = PAPER_LAYER
            runs["moe_layer"] = make_moe_layer_step()
            flops["moe_layer"] = moe_layer_flops(pb * pl, m, h)
        runs["matmul"] = make_matmul(n)
        flops["matmul"] = 2 * n ** 3

        for run in runs.values():  # warm-up: trace + 2 runs
            for _ in range(3):
                run()
        times = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                times[name].append(run())

    med = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: flops[name] / (med[name] / 1e3) for name in runs}  # FLOP/s
    median_peak, peak = rate["matmul"], flops["matmul"] / (min(times["matmul"]) / 1e3)
    print(f"\n{args.rounds} rounds; train steps: B={b}, L={length}, "
          f"{args.steps_per_round} steps per sample")
    print(f"matmul_peak[{n}x{n}x{n} float32]: {peak / 1e9:.1f} GFLOP/s best-of "
          f"({min(times['matmul']):.1f} ms; median {median_peak / 1e9:.1f} GFLOP/s, "
          f"{med['matmul']:.1f} ms)")
    tokens_per_s = {}
    for name in MODELS:
        tokens_per_s[name] = b * length / (med[name] / 1e3)
        print(f"train_step[{name}] tokens/s: {tokens_per_s[name]:,.0f} (B={b}, L={length}; "
              f"{med[name]:.1f} ms/step, min {min(times[name]):.1f}, max {max(times[name]):.1f})")
    for name in MODELS:
        params, attention = train_flops_terms(PRESETS[name], length)
        print(f"model_flops_per_token[{name}]: {(6 * params + attention) / 1e6:.2f} MFLOP "
              f"(6 * {params:,} params + attention {attention:,})")
    for name in MODELS:
        print(f"mfu[{name}]: {rate[name] / peak:.3f} "
              f"(achieved {rate[name] / 1e9:.1f} GFLOP/s / peak {peak / 1e9:.1f} GFLOP/s;"
              f" vs median matmul {rate[name] / median_peak:.3f})")
    if not args.no_moe_layer:
        capacity = expert_capacity(s, e, 2.0, 4)
        mfu = rate["moe_layer"] / peak
        print(f"moe_layer[{label}, gather, S={s} G={pb * pl // s} C={capacity}] step: "
              f"{med['moe_layer']:.1f} ms (min {min(times['moe_layer']):.1f}, "
              f"max {max(times['moe_layer']):.1f}); {flops['moe_layer'] / 1e9:.1f} GFLOP useful")
        print(f"mfu[moe_layer {label}]: {mfu:.3f} "
              f"(achieved {rate['moe_layer'] / 1e9:.1f} GFLOP/s / peak {peak / 1e9:.1f} GFLOP/s;"
              f" vs median matmul {rate['moe_layer'] / median_peak:.3f})")
    print(f"train_tokens_per_s[{MODELS[0]}] / train_tokens_per_s[{MODELS[1]}]: "
          f"{tokens_per_s[MODELS[0]] / tokens_per_s[MODELS[1]]:.2f}x")
    if not args.no_moe_layer:
        print(f"target: {label} MoE layer step at >= {TARGET_MFU} of the matmul peak: "
              f"{mfu:.2f} -> {'MET' if mfu >= TARGET_MFU else 'NOT MET'}")
    # The same figures as ratio lines (benchmarks/ratios.py; benchmarks/run_all.py prints them).
    print()
    peak_note = f"peak {peak / 1e9:.0f} GFLOP/s best-of {n}^3 float32 matmul, this run"
    for name in MODELS:
        print(ratio_line(f"mfu[{name}]", "achieved_flops", "matmul_peak", rate[name] / peak,
                         note=f"train step B={b} L={length}; {peak_note}"))
    if not args.no_moe_layer:
        print(ratio_line(f"mfu[moe_layer_{label}]", "achieved_flops", "matmul_peak", mfu,
                         TARGET_MFU, ">=", note=f"gather fwd+bwd, 2048 tokens; {peak_note}"))
    print(ratio_line(f"train_tokens_per_s[B={b},L={length}]", MODELS[0], MODELS[1],
                     tokens_per_s[MODELS[0]] / tokens_per_s[MODELS[1]]))


if __name__ == "__main__":
    main()
