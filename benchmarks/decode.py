"""Decoding speed: the key/value cache against recomputing the whole prefix.

For each prompt length, times greedy decoding of `--new_tokens` tokens with
`glam_tf.decoding.generate` (prefill once, then one cached step per token)
and with a loop that runs the full model over the whole prefix for every new
token, alternating the two (A B A B ...) and reporting medians. The figure
is the cached per-token time over the recomputing one (target: at most 0.1
at 512 tokens of context). With `--saved_model DIR` it also times loading an
export (`glam export`) in a fresh process, as TF Serving would at start-up.

    python benchmarks/decode.py [--prompt_lengths 128,512] [--new_tokens 64]
"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from glam_tf import decoding  # noqa: E402
from glam_tf.model import GlamModel  # noqa: E402
from glam_tf.presets import PRESETS  # noqa: E402
from ratios import ratio_line  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="glam_tiny")
    parser.add_argument("--prompt_lengths", default="128,512")
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--saved_model", help="an exported version dir to time loading")
    args = parser.parse_args()
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  cpus: {os.cpu_count()}")
    print(f"tensorflow {tf.__version__}  keras {keras.__version__}  numpy {np.__version__}")

    keras.utils.set_random_seed(0)
    config = PRESETS[args.preset]
    model = GlamModel(config)
    n = args.new_tokens
    print(f"model {args.preset}: {config.num_layers} layers, d_model {config.d_model}, "
          f"{config.num_experts} experts; greedy, batch 1, {n} new tokens")

    forward = tf.function(lambda ids: model(ids)[:, -1],
                          input_signature=[tf.TensorSpec([1, None], tf.int32)])
    cached = tf.function(lambda ids, mask: decoding.generate(model, ids, mask, n, eos_id=-1))

    lines = []
    for length in map(int, args.prompt_lengths.split(",")):
        prompt = np.random.default_rng(length).integers(2, config.vocab_size, (1, length))
        prompt = tf.constant(prompt, tf.int32)
        mask = tf.ones_like(prompt)

        def recompute():
            ids = prompt
            for _ in range(n):
                token = tf.argmax(forward(ids), axis=-1, output_type=tf.int32)
                ids = tf.concat([ids, token[:, None]], axis=1)
            return ids

        def with_cache():
            return cached(prompt, mask)["token_ids"].numpy()

        expected = recompute()[0, length:].numpy()
        np.testing.assert_array_equal(with_cache()[0], expected)  # same tokens both ways
        times = {"cache": [], "recompute": []}
        for _ in range(args.rounds):
            times["cache"].append(timed(with_cache))
            times["recompute"].append(timed(recompute))
        cache_ms = 1000 * statistics.median(times["cache"]) / n
        full_ms = 1000 * statistics.median(times["recompute"]) / n
        ratio = cache_ms / full_ms
        print(f"decode_per_token[prompt {length}] cache / recompute: {ratio:.3f}x "
              f"({cache_ms:.1f} ms vs {full_ms:.1f} ms per token; "
              f"{1000 / cache_ms:.0f} vs {1000 / full_ms:.0f} tokens/s)"
              + ("  target <= 0.1: " + ("MET" if ratio <= 0.1 else "NOT MET")
                 if length == 512 else ""))
        lines.append(ratio_line(f"decode[{args.preset},prompt{length}]", "tokens_per_s_cached",
                                "tokens_per_s_recompute", full_ms / cache_ms,
                                10.0 if length == 512 else None, ">=",
                                note=f"greedy, batch 1, {n} new tokens; "
                                     f"{1000 / cache_ms:.0f} vs {1000 / full_ms:.0f} tokens/s"))

    print()
    for line in lines:
        print(line)

    if args.saved_model:
        probe = ("import time, tensorflow as tf, tensorflow_text; t = time.perf_counter(); "
                 f"m = tf.saved_model.load({args.saved_model!r}); "
                 "print(time.perf_counter() - t)")
        loads = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                      text=True, check=True).stdout.split()[-1])
                 for _ in range(args.rounds)]
        print(f"saved_model_load: {statistics.median(loads):.2f} s (median of {args.rounds}, "
              "fresh process, after importing tensorflow and tensorflow_text)")


if __name__ == "__main__":
    main()
