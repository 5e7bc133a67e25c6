"""Forward+backward time of `MoeFeedForward` against a dense-equivalent FFN.

What it measures: for each shape, one compiled training step (tf.function:
forward, loss = sum(y * y), gradients w.r.t. all trainable variables) of
  dense      FeedForward(d_ff=2H, gated=False): a GELU FFN of width 2H, the
             same activated expert FLOPs as top-2 over experts of width H
             (capacity factor 2.0 with top-2 gives E*C*G = 2 * tokens slots);
  gather     MoeFeedForward(E, H, top_k=2, dispatch="gather");
  einsum     MoeFeedForward(E, H, top_k=2, dispatch="einsum").
Top-2, train capacity factor 2.0, training=True. Each step is traced and run
twice as warm-up, then the variants run round-robin (A B C A B C ...) so that
machine noise hits them alike; the figures are medians over the rounds.

How to read the output: one line per MoE variant,
  moe_layer[<shape>, <dispatch>, S=<group size> G=<groups> C=<capacity>] / dense_equivalent:
      R x (moe ms vs dense ms; min, max)
then a target line: R <= 1.3 for the better dispatch at the first (default
1024) group size meets it. The paper shape also runs S=2048 (one group).
Only ratios measured in the same run are comparable; absolute times depend on
the (shared) machine.

Run from the repo root:
  python benchmarks/moe_layer.py [--rounds N] [--shapes tiny,paper] [--threads N]
"""

import argparse
import datetime
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from glam_tf.layers.feed_forward import FeedForward  # noqa: E402
from glam_tf.layers.moe_feed_forward import MoeFeedForward  # noqa: E402
from glam_tf.layers.routing import expert_capacity  # noqa: E402

TARGET = 1.3
# name: (d_model M, expert width H, experts E, batch B, length L, group sizes to try)
SHAPES = {
    "tiny": ("tiny", 128, 512, 8, 2, 256, (1024,)),
    "paper": ("0.1B/64E", 768, 3072, 64, 2, 1024, (1024, 2048)),
}


def make_step(layer, x, moe):
    """A compiled training step: forward, loss, gradients of all weights."""
    layer.build(x.shape)  # explicit: Keras 3 cannot infer MoeFeedForward.build's arguments

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = layer(x, training=True)[0] if moe else layer(x)
            loss = tf.reduce_sum(y * y)
        grads = tape.gradient(loss, layer.trainable_variables)
        return loss, grads

    return step


def timed(step):
    start = time.perf_counter()
    loss, _ = step()
    loss.numpy()  # make sure the step has finished
    return (time.perf_counter() - start) * 1e3


def bench(shape, rounds, group_sizes):
    label, m, h, e, b, length, _ = shape
    x = tf.random.stateless_normal([b, length, m], seed=[1, 2])
    steps = {"dense": make_step(FeedForward(2 * h, gated=False), x, moe=False)}
    for s in group_sizes:
        for dispatch in ("gather", "einsum"):
            layer = MoeFeedForward(e, h, top_k=2, train_capacity_factor=2.0, group_size=s,
                                   dispatch=dispatch, seed=0)
            steps[(dispatch, s)] = make_step(layer, x, moe=True)
    for step in steps.values():  # warm-up: trace + 2 runs
        for _ in range(3):
            timed(step)
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(timed(step))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n[{label}] M={m} H={h} E={e} tokens={b * length} (B={b}, L={length}), "
          f"top-2, capacity factor 2.0, {rounds} rounds")
    print(f"  dense_equivalent FeedForward(d_ff={2 * h}): {med['dense']:.1f} ms "
          f"(min {min(times['dense']):.1f}, max {max(times['dense']):.1f})")
    best = None
    for name, t in med.items():
        if name == "dense":
            continue
        dispatch, s = name
        ratio = t / med["dense"]
        size = min(s, b * length)
        capacity = expert_capacity(size, e, 2.0, 4)
        print(f"  moe_layer[{label}, {dispatch}, S={size} G={-(-b * length // size)} C={capacity}]"
              f" / dense_equivalent: {ratio:.2f}x ({t:.1f} ms vs {med['dense']:.1f} ms;"
              f" min {min(times[name]):.1f}, max {max(times[name]):.1f})")
        if s == group_sizes[0]:
            best = ratio if best is None else min(best, ratio)
    print(f"  target: better dispatch within {TARGET}x of dense-equivalent "
          f"(S={min(group_sizes[0], b * length)}): {best:.2f}x -> "
          f"{'MET' if best <= TARGET else 'NOT MET'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed rounds per shape (default: 15 tiny, 7 paper)")
    parser.add_argument("--shapes", default="tiny,paper", help="comma list of tiny,paper")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra- and inter-op threads (0 = TensorFlow default)")
    parser.add_argument("--paper-group-sizes", default="1024,2048",
                        help="group sizes for the paper shape (first one is the target)")
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  "
          f"cpus: {os.cpu_count()}  threads: {args.threads or 'default'}")
    print(f"tensorflow {tf.__version__}  keras {keras.__version__}  numpy {np.__version__}")
    for name in args.shapes.split(","):
        shape = SHAPES[name]
        groups = (tuple(int(s) for s in args.paper_group_sizes.split(","))
                  if name == "paper" else shape[-1])
        rounds = args.rounds or (15 if name == "tiny" else 7)
        bench(shape, rounds, groups)


if __name__ == "__main__":
    main()
