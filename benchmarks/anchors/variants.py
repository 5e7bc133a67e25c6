"""MoE-layer variants as compiled training steps, timed on request (a worker process).

Runs in this project's environment and in the anchor environment
(benchmarks/anchors/setup_env.sh): `benchmarks/compare_moe.py` starts one
worker per environment and asks them in turn to time one step, so that the
variants alternate A B C A B C ... across processes and only one runs at a time.

Every variant is one `tf.function` step: forward in training mode,
loss = reduce_sum(y * y), gradients of all trainable variables, float32.

  dense          ours: FeedForward(d_ff=2H, gated=False), the dense FFN with the
                 same activated FLOPs as top-2 over experts of width H
  gather/einsum  ours: MoeFeedForward(E, H, top_k=2, train_capacity_factor=2.0,
                 group_size=S, dispatch=...), plain-GELU experts (2 matrices)
  gather_gated   ours, expert_activation="gated_gelu" (3 matrices per expert,
                 the same expert weights as Mixtral's SwiGLU experts)
  mixtral        keras-hub's MixtralSparseMoeBlock(hidden_dim=M, intermediate_dim=H,
                 num_experts=E, top_k=2): routes top-2 but runs every expert on
                 every token. With --mixtral-chunk N the step runs the tokens as
                 consecutive micro-batches of N tokens, gradients summed (the same
                 work with a smaller peak memory; see docs/benchmarks.md)
  model_garden   Model Garden's official.nlp.modeling.layers.moe.MoeLayer with
                 FeedForwardExperts(E, H) (GELU, 2 matrices, biases) and
                 ExpertsChooseMaskedRouter (expert choice), train_capacity_factor=2.0,
                 groups of S tokens: each expert takes round(2.0 * S / E) tokens

Protocol (stdin/stdout, one line each): the worker builds its variants, warms
each up (trace + 2 runs), prints `READY <json: versions>`; then `run NAME`
answers `<NAME> <ms>`, and `quit` ends it.

    python benchmarks/anchors/variants.py --shape tiny --variants dense,gather
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name: (label, d_model M, expert width H, experts E, batch B, length L, group size S)
SHAPES = {
    "tiny": ("tiny", 128, 512, 8, 2, 256, 512),
    "paper": ("0.1B/64E", 768, 3072, 64, 2, 1024, 1024),
}
OURS = ("dense", "gather", "einsum", "gather_gated")
ANCHORS = ("mixtral", "model_garden")


def _step(call, variables_of, x, chunk=None):
    """tf.function: y = call(x); loss = sum(y*y); grads of variables_of() (summed over chunks)."""
    import tensorflow as tf

    chunks = [x] if not chunk else tf.split(tf.reshape(x, [-1, chunk, x.shape[-1]]),
                                            x.shape[0] * x.shape[1] // chunk)

    @tf.function
    def step():
        total, grads = 0.0, None
        for part in chunks:
            # Each micro-batch after the previous one's gradients: one at a time in memory.
            with tf.control_dependencies(grads or []):
                with tf.GradientTape() as tape:
                    y = call(tf.identity(part))
                    loss = tf.reduce_sum(y * y)
                g = tape.gradient(loss, variables_of())
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
            total += loss
        return total, grads

    return step


def build(name, shape, mixtral_chunk=None):
    import tensorflow as tf

    _, m, h, e, b, length, s = shape
    x = tf.random.stateless_normal([b, length, m], seed=[1, 2])
    if name in OURS:
        sys.path.insert(0, _REPO)
        from glam_tf.layers.feed_forward import FeedForward
        from glam_tf.layers.moe_feed_forward import MoeFeedForward

        if name == "dense":
            layer = FeedForward(2 * h, gated=False)
            layer.build(x.shape)
            return _step(lambda v: layer(v), lambda: layer.trainable_variables, x)
        layer = MoeFeedForward(e, h, top_k=2, train_capacity_factor=2.0, group_size=s,
                               dispatch="einsum" if name == "einsum" else "gather",
                               expert_activation="gated_gelu" if name == "gather_gated" else "gelu",
                               seed=0)
        layer.build(x.shape)
        return _step(lambda v: layer(v, training=True)[0], lambda: layer.trainable_variables, x)
    if name == "mixtral":
        from keras_hub.src.models.mixtral.mixtral_decoder import MixtralSparseMoeBlock

        block = MixtralSparseMoeBlock(hidden_dim=m, intermediate_dim=h, num_experts=e, top_k=2)
        block.build(x.shape)
        return _step(lambda v: block(v, training=True)[0], lambda: block.trainable_variables,
                     x, chunk=mixtral_chunk if mixtral_chunk and mixtral_chunk < b * length
                     else None)
    if name == "model_garden":
        from official.nlp.modeling.layers import moe

        layer = moe.MoeLayer(
            moe.FeedForwardExperts(e, h),
            moe.ExpertsChooseMaskedRouter(e, export_metrics=False),
            train_capacity_factor=2.0, eval_capacity_factor=2.0,
            examples_per_group=s / length)
        layer(x, training=True)  # tf_keras builds on the first call
        return _step(lambda v: layer(v, training=True), lambda: layer.trainable_variables, x)
    raise ValueError(f"unknown variant {name!r}")


def versions():
    import keras
    import numpy as np
    import tensorflow as tf

    found = {"python": sys.version.split()[0], "tensorflow": tf.__version__,
             "keras": keras.__version__, "numpy": np.__version__}
    for module, key in (("tf_keras", "tf_keras"), ("keras_hub", "keras_hub")):
        try:
            found[key] = __import__(module).__version__
        except ImportError:
            pass
    try:
        from importlib.metadata import version
        found["tf_models_official"] = version("tf-models-official")
    except Exception:  # noqa: BLE001  (not installed in this environment)
        pass
    return found


def timed(step):
    start = time.perf_counter()
    loss, _ = step()
    loss.numpy()  # the step has finished
    return (time.perf_counter() - start) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--variants", required=True, help=f"comma list of {OURS + ANCHORS}")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--mixtral-chunk", type=int, default=0,
                        help="tokens per Mixtral micro-batch (0 = all at once)")
    parser.add_argument("--warmup", type=int, default=2, help="runs after the trace")
    args = parser.parse_args()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one tf.function per variant is not retracing
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    steps = {}
    for name in args.variants.split(","):
        steps[name] = build(name, SHAPES[args.shape], args.mixtral_chunk)
        for _ in range(1 + args.warmup):
            timed(steps[name])
    print("READY " + json.dumps(versions()), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        print(f"{command[1]} {timed(steps[command[1]]):.3f}", flush=True)


if __name__ == "__main__":
    main()
