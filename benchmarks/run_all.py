"""Every benchmark of docs/benchmarks.md in one command, one ratio line per figure.

  1  benchmarks/compare_moe.py     MoE layer fwd+bwd: ours (gather, einsum) vs the
                                   dense equivalent, keras-hub's Mixtral block and
                                   Model Garden's MoeLayer (anchor venv), tiny and
                                   0.1B/64E shapes
  2  benchmarks/train_throughput.py  training MFU of glam_tiny, dense_tiny and the
                                   0.1B/64E MoE layer step against the matmul peak
  3  benchmarks/moe_vs_dense.py    8-expert MoE vs a FLOP-matched dense model, per
                                   FFN style, learning rates swept, 3 seeds: validation
                                   cross-entropy and curves (PNG); knowledge corpus
                                   (bash benchmarks/corpus/setup.sh first)
  4  benchmarks/decode.py          decoding tokens/s with and without the KV cache
  5  benchmarks/compiled_steps.py  tokens/s of glam_tiny training and the 0.1B/64E
                                   MoE layer step, with and without XLA, 1 or 10
                                   steps per tf.function call
  6  benchmarks/experts_sweep.py   8, 16, 32 experts vs dense at the same activated
                                   FLOPs: validation cross-entropy and curves (PNG)
  7  benchmarks/quickstart_icl.py  the default `glam quickstart`: each task's best
                                   score over chance, lookup's k-shot gain over 0-shot

Each item runs as its own process (one after the other, never two at once);
its full output goes to --log_dir and its ratio lines (benchmarks/ratios.py
format) are printed here as they come:
  <figure> <num> / <den> = Rx [(target <= T x) MET|NOT MET][; note]
--quick runs every item at toy sizes (about a minute; what tests/benchmarks
runs): the figures of a quick run are not the documented ones.

    python benchmarks/run_all.py [--items 1,2,3,4,5,6,7] [--quick] [--no-anchors] [--log_dir DIR]

Items 1-4 take about 20-25 minutes on 2 cores (item 3 about 13, item 1 about
5: Mixtral's step at the 0.1B/64E shape alone takes 25-50 s; items 2 and 4
about 2). Item 5 takes longer than all of them: XLA compiles the glam_tiny
step for 4-5 minutes per variant (the 0.1B/64E layer step compiles in about
10 s); `--args5 "--workloads moe_layer"` leaves glam_tiny out. Item 7 runs
the quickstart once (about 6 minutes on a quiet machine). Item 1 needs up to ~13 GB of
memory at its peak.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from ratios import parse_ratio_line  # noqa: E402

ITEMS = {
    "1": ("moe layer vs dense and anchors", "compare_moe.py", [],
          ["--shapes", "tiny", "--rounds", "2"]),
    "2": ("training MFU", "train_throughput.py", [],
          ["--rounds", "2", "--steps-per-round", "1", "--batch-size", "2", "--seq-len", "32",
           "--matmul-n", "1024", "--no-moe-layer"]),
    "3": ("MoE vs dense quality", "moe_vs_dense.py", [],
          ["--steps", "4", "--seeds", "0", "--eval_every", "2", "--eval_batches", "1",
           "--batch_size", "2", "--seq_len", "32", "--tokenizer_documents", "300",
           "--data", "embedded", "--learning_rates", "0.01,0.02", "--sweep_steps", "2"]),
    "4": ("decode with and without cache", "decode.py", [],
          ["--prompt_lengths", "16", "--new_tokens", "4", "--rounds", "1"]),
    "5": ("XLA and steps per call", "compiled_steps.py", [],
          ["--rounds", "1", "--loops", "2", "--steps", "2", "--batch-size", "2",
           "--seq-len", "32", "--layer", "tiny"]),
    "6": ("experts sweep", "experts_sweep.py", [],
          ["--steps", "4", "--seeds", "0", "--eval_every", "2", "--eval_batches", "1",
           "--batch_size", "2", "--seq_len", "32", "--tokenizer_documents", "300",
           "--data", "embedded", "--experts", "2,4"]),
    "7": ("quickstart in-context learning", "quickstart_icl.py", [], ["--quick"]),
}


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), model)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (f"{os.cpu_count()} CPUs ({model}), python {platform.python_version()}, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def run_item(key, quick, no_anchors, log_dir, extra):
    """Runs one item, writes its log, prints its ratio lines; returns them parsed."""
    title, script, full_args, quick_args = ITEMS[key]
    command = [sys.executable, os.path.join(_HERE, script)] + (quick_args if quick else full_args)
    if key == "1" and no_anchors:
        command.append("--no-anchors")
    if key == "3" and quick:
        command += ["--plot_dir", log_dir]
    if key == "6" and quick:
        command += ["--plot", os.path.join(log_dir, "experts_sweep.png")]
    command += extra.get(key, [])
    log_path = os.path.join(log_dir, f"item{key}_{os.path.splitext(script)[0]}.log")
    print(f"# item {key}: {title}: {' '.join(command[1:])}", flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        parsed = []
        for line in proc.stdout:
            log.write(line)
            fields = parse_ratio_line(line)
            if fields:
                parsed.append(fields)
                print(line.rstrip(), flush=True)
        code = proc.wait()
    if code:
        print(f"# item {key} FAILED (exit {code}); see {log_path}", flush=True)
    return code, parsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default=",".join(ITEMS), help=f"comma list of {','.join(ITEMS)}")
    parser.add_argument("--quick", action="store_true", help="toy sizes (a smoke run)")
    parser.add_argument("--no-anchors", action="store_true",
                        help="item 1 without the anchor venv (our variants only)")
    parser.add_argument("--log_dir", help="full outputs here (default: a new temp dir)")
    for key in ITEMS:
        parser.add_argument(f"--args{key}", default="",
                            help=f"extra arguments for item {key}, one string")
    args = parser.parse_args()
    items = [key for key in args.items.split(",") if key]
    unknown = [key for key in items if key not in ITEMS]
    if unknown or not items:
        parser.error(f"--items {args.items!r}: {', '.join(unknown) or 'empty'}: "
                     f"choose from {','.join(ITEMS)}")
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="glam_benchmarks_")
    os.makedirs(log_dir, exist_ok=True)
    extra = {key: getattr(args, f"args{key}").split() for key in ITEMS}
    print(f"# {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}  "
          f"{machine()}  logs: {log_dir}" + ("  QUICK (toy sizes)" if args.quick else ""),
          flush=True)
    failed = []
    for key in items:
        code, _ = run_item(key, args.quick, args.no_anchors, log_dir, extra)
        if code:
            failed.append(key)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
