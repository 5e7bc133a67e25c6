"""Our MoE layer against a dense FFN and other projects' MoE layers, in one run.

Starts one worker (benchmarks/anchors/variants.py) in this environment, with
our variants, and one in the anchor environment (benchmarks/anchors/setup_env.sh:
TensorFlow 2.20, keras-hub, tf-models-official), with the anchors and, for a
same-process comparison, our layer again. Workers build and warm up (trace + 2
runs) one after the other; then the driver asks for one step at a time,
round-robin over every variant of both workers (A B C ... A B C ...), so
background load hits all alike and only one step runs at a time. Figures are
medians over the rounds; every ratio is taken within this one run, between
variants alternated together. At the paper shape the variants are timed in
three such groups (see GROUPS: they do not fit in memory all at once).

What each variant is: see benchmarks/anchors/variants.py. Shapes (top-2,
capacity factor 2.0, float32, forward + sum(y*y) + gradients of all weights):
  tiny      M=128, H=512, E=8, 512 tokens (B=2, L=256), groups of S=512 (C=128)
  paper     the GLaM 0.1B/64E layer: M=768, H=3072, E=64, 2048 tokens (B=2,
            L=1024), groups of S=1024 (our C=32; Model Garden's C=32)

Output: details per variant, then one ratio line per figure (benchmarks/ratios.py):
  moe_layer[<shape>] <num> / <den> = Rx [(target ...) MET|NOT MET]; <note>
Figures named moe_layer[<shape>,anchor_env] come from the anchor worker alone
(our layer and the anchors under the same TensorFlow, in one process).

    python benchmarks/compare_moe.py [--shapes tiny,paper] [--rounds N] [--no-anchors]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(_HERE, "anchors"))

from ratios import capacity, expert_choice_capacity, median, ratio_line  # noqa: E402
from variants import SHAPES  # noqa: E402  (no TensorFlow at import)

WORKER = os.path.join(_HERE, "anchors", "variants.py")
DEFAULT_ANCHOR_PYTHON = "/work/venvs/anchors/bin/python"
DENSE_TARGET = 1.3      # our layer within 1.3x of its dense equivalent
EVERY_EXPERT_TARGET = 10.0  # at least 10x faster than the run-every-expert block at E=64

# Variants alive at the same time are timed round-robin; each group is one such
# set (workers started for it and ended after it). At the paper shape the sets
# are small because every variant holds 1.2-1.8 GB of expert weights and
# Mixtral's step peaks at ~9 GB: all of them at once reached ~21 GB.
# A group: ({"main": variants, "anchor": variants}, rounds or None, warm-up runs,
# whether it is there only for the anchors).
GROUPS = {
    "tiny": [({"main": "dense,gather,einsum,gather_gated",
               "anchor": "dense,gather,gather_gated,mixtral,model_garden"}, None, 2, False)],
    "paper": [({"main": "dense,gather,einsum"}, None, 2, False),
              ({"main": "dense,gather", "anchor": "dense,gather,model_garden"}, None, 2, True),
              ({"main": "gather_gated", "anchor": "mixtral"}, 3, 1, True)],
}
MAIN, ANCHOR = "main", "anchor"


def ratio_specs(e, cross, one):
    """(figure suffix, numerator, denominator, target, op, note) of every ratio line."""
    every = EVERY_EXPERT_TARGET if e == 64 else None
    return [
        ("", (MAIN, "gather"), (MAIN, "dense"), DENSE_TARGET, "<=",
         "default dispatch vs a dense FFN of width 2H"),
        ("", (MAIN, "einsum"), (MAIN, "dense"), None, "<=",
         "GShard dispatch (the form that shards)"),
        ("", (MAIN, "gather_gated"), (MAIN, "dense"), None, "<=",
         "3-matrix experts vs the 2-matrix dense FFN"),
        ("", (ANCHOR, "mixtral"), (MAIN, "gather_gated"), every, ">=",
         f"keras-hub runs all {e} experts; both with 3-matrix gated experts; {cross}"),
        ("", (ANCHOR, "mixtral"), (MAIN, "gather"), None, "<=", f"ours with GELU experts; {cross}"),
        ("", (ANCHOR, "model_garden"), (MAIN, "gather"), None, "<=",
         f"expert choice, same E and C; {cross}"),
        ("", (ANCHOR, "model_garden"), (MAIN, "dense"), None, "<=", cross),
        (",anchor_env", (ANCHOR, "gather"), (ANCHOR, "dense"), None, "<=", one),
        (",anchor_env", (ANCHOR, "mixtral"), (ANCHOR, "gather_gated"), every, ">=", one),
        (",anchor_env", (ANCHOR, "model_garden"), (ANCHOR, "gather"), None, "<=", one),
    ]


class Worker:
    """A variants.py process: build + warm up at start, then `run NAME` -> ms."""

    def __init__(self, python, shape, variants, threads, mixtral_chunk, env_name, warmup=2):
        self.env_name = env_name
        command = [python, WORKER, "--shape", shape, "--variants", variants,
                   "--threads", str(threads), "--mixtral-chunk", str(mixtral_chunk),
                   "--warmup", str(warmup)]
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            error = self.proc.stderr.read()
            raise RuntimeError(f"{env_name} worker failed to start ({' '.join(command)}):\n"
                               + "\n".join(error.strip().splitlines()[-15:]))
        self.versions = json.loads(line[len("READY "):])
        self.variants = variants.split(",")

    def run(self, name):
        self.proc.stdin.write(f"run {name}\n")
        self.proc.stdin.flush()
        got, ms = self.proc.stdout.readline().split()
        assert got == name, (got, name)
        return float(ms)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=120)


def describe(versions):
    keys = ("tensorflow", "keras", "tf_keras", "keras_hub", "tf_models_official")
    return ", ".join(f"{k} {versions[k]}" for k in keys if k in versions)


def run_group(shape_name, group, rounds, warmup, threads, anchor_python, mixtral_chunk):
    """Times one set of variants round-robin; returns ({(env, variant): [ms]}, versions)."""
    workers = []
    try:
        if group.get(MAIN):
            workers.append(Worker(sys.executable, shape_name, group[MAIN], threads, 0, MAIN,
                                  warmup))
        if group.get(ANCHOR) and anchor_python:
            workers.append(Worker(anchor_python, shape_name, group[ANCHOR], threads,
                                  mixtral_chunk, ANCHOR, warmup))
        times = {(w.env_name, v): [] for w in workers for v in w.variants}
        for _ in range(rounds):
            for worker in workers:
                for variant in worker.variants:
                    times[(worker.env_name, variant)].append(worker.run(variant))
    finally:
        for worker in workers:
            worker.close()
    return times, {w.env_name: w.versions for w in workers}


def bench(shape_name, rounds, threads, anchor_python, mixtral_chunk):
    """Times one shape, group by group; prints details and returns the ratio lines."""
    label, m, h, e, b, length, s = SHAPES[shape_name]
    print(f"\n[{label}] M={m} H={h} E={e} tokens={b * length} (B={b}, L={length}), top-2, "
          f"capacity factor 2.0, groups of S={s}: our C={capacity(s, e, 2.0)}, "
          f"expert-choice C={expert_choice_capacity(s, e, 2.0)}")
    results, versions = [], {}
    for group, group_rounds, warmup, for_anchors in GROUPS[shape_name]:
        if for_anchors and not anchor_python:
            continue
        n = rounds or group_rounds or (15 if shape_name == "tiny" else 5)
        times, found = run_group(shape_name, group, n, warmup, threads, anchor_python,
                                 mixtral_chunk)
        versions.update(found)
        results.append(times)
        print(f"  group of {len(times)}, {n} rounds round-robin:")
        for (env, variant), t in times.items():
            print(f"    {env:6s} {variant:13s} median {median(t):9.1f} ms "
                  f"(min {min(t):.1f}, max {max(t):.1f})")
    for env, found in versions.items():
        print(f"  {env} env: {describe(found)}")

    tf_of = lambda env: versions.get(env, {}).get("tensorflow", "?")  # noqa: E731
    cross = f"anchor under TF {tf_of(ANCHOR)}, ours under TF {tf_of(MAIN)}"
    one = f"one process, TF {tf_of(ANCHOR)}"
    name = lambda v: "dense_equivalent" if v == "dense" else v  # noqa: E731
    lines = []
    for suffix, num, den, target, op, note in ratio_specs(e, cross, one):
        for times in results:  # the first group that timed both
            if num in times and den in times:
                ratio = median(times[num]) / median(times[den])
                lines.append(ratio_line(f"moe_layer[{label}{suffix}]", name(num[1]),
                                        name(den[1]), ratio, target, op, note))
                break
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="tiny,paper", help="comma list of tiny,paper")
    parser.add_argument("--rounds", type=int, default=0,
                        help="timed rounds (default: 15 tiny, 5 paper, 3 with Mixtral)")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra- and inter-op threads (0 = TensorFlow default)")
    parser.add_argument("--anchor-python",
                        default=os.environ.get("GLAM_ANCHOR_PYTHON", DEFAULT_ANCHOR_PYTHON),
                        help="python of the anchor venv (benchmarks/anchors/setup_env.sh)")
    parser.add_argument("--no-anchors", action="store_true",
                        help="time only our variants, in this environment")
    parser.add_argument("--mixtral-chunk", type=int, default=256,
                        help="Mixtral micro-batch in tokens at the paper shape (0 = all "
                             "2048 at once: about 21 GB peak memory; 256: about 9 GB)")
    args = parser.parse_args()
    anchor_python = None
    if not args.no_anchors:
        if os.path.exists(args.anchor_python):
            anchor_python = args.anchor_python
        else:
            print(f"anchors skipped: no {args.anchor_python} "
                  "(build it with: bash benchmarks/anchors/setup_env.sh)")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  "
          f"cpus: {os.cpu_count()}  threads: {args.threads or 'default'}")
    lines = []
    for name in args.shapes.split(","):
        chunk = args.mixtral_chunk if name == "paper" else 0
        lines += bench(name, args.rounds, args.threads, anchor_python, chunk)
    print()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
