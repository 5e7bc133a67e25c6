"""sharded_memory: each client of a two-host mesh holds about its share of the model.

  sharded_memory[clients=2]  two DTensor clients on loopback (4 virtual CPUs
      each, one `batch:1,expert:8` mesh: each client's devices hold half of
      the experts) build a GLaM whose weights exceed 2 GB (4 blocks of 64
      experts, d_ff 4096; weights + gradients + Adafactor state 4.02 GiB),
      train 2 steps and write a checkpoint. Each client reports its peak
      resident memory above its own baseline (measured before the model is
      built: VmHWM - VmRSS from /proc/self/status); the ratio is the larger
      client's peak over half the model state (weights + gradients + optimizer
      state). 1.0x would be a client holding exactly its half and nothing else.
      The runtime's fixed part (about 0.4 GiB: the traced and DTensor-expanded
      step) does not grow with the model, so a larger model reads lower.

usage: python benchmarks/sharded_memory.py [--experts 64] [--layers 4] [--d_ff 4096]
                                           [--allocator system|tf]
About 3-5 minutes on 2 cores; needs about 7 GB of free memory (2.6 GiB above
a 0.65 GiB baseline per client).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ratios import ratio_line  # noqa: E402

from glam_tf import loopback  # noqa: E402  (no TensorFlow: clients set DTENSOR_* first)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
MESH = "batch:1,expert:8"
TARGET = 1.3
# How each client's process allocates (`--allocator`). "system": oneDNN's
# allocator hands every tensor to malloc (which maps large ones and unmaps
# them when freed) instead of pooling them in its BFC allocator, and malloc
# keeps one arena instead of one per thread. "tf": TensorFlow's defaults.
ALLOCATORS = {
    "system": {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1", "MALLOC_ARENA_MAX": "1"},
    "tf": {},
}


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def config_for(experts, layers, d_ff=2048):
    """Large experts (split between the clients) in every block, small replicated
    parts: on virtual CPUs each of a client's 4 devices keeps its own copy of
    a replicated weight in the same host memory."""
    from glam_tf.config import GlamConfig

    return GlamConfig(vocab_size=512, num_layers=layers, d_model=256, d_ff=d_ff, num_heads=4,
                      head_dim=64, num_experts=experts, moe_interval=1, group_size=256,
                      max_seq_len=64)


def model_state_bytes(config):
    """float32 weights + gradients + Adafactor state of the whole model, from the plan."""
    from glam_tf.sharding import memory_per_device

    plan = memory_per_device(config, "batch:1")
    return plan["total"]


def client(client_id, ports, model_dir, experts, layers, d_ff):
    os.environ.update({**loopback.client_env(client_id, ports), "TF_CPP_MIN_LOG_LEVEL": "3"})
    from glam_tf import sharding

    sharding.configure_virtual_devices(4)
    import tensorflow as tf

    from glam_tf.training.run_config import TrainConfig
    from glam_tf.training.trainer import Trainer, check_model_dir

    config = config_for(experts, layers, d_ff)
    run = TrainConfig(steps=2, batch_size=8, seq_len=32, log_every=1, eval_every=2,
                      checkpoint_every=2, eval_batches=1)
    mesh = sharding.make_mesh(MESH)
    mesh_sharding = sharding.Sharding(
        mesh, sharding.parse_layout(sharding.DEFAULT_LAYOUT, mesh.dim_names, strict=False),
        log=lambda _: None)
    rows = tf.random.stateless_uniform([run.batch_size, run.seq_len + 1], seed=[1, 2],
                                       minval=3, maxval=config.vocab_size, dtype=tf.int32)
    data = tf.data.Dataset.from_tensors({"token_ids": rows,
                                         "segment_ids": tf.ones_like(rows)}).repeat()
    check_model_dir(model_dir, config, run)
    next(iter(data))  # the input pipeline's own memory belongs to the baseline
    baseline = _status_bytes("VmRSS")
    peaks = {}

    def mark(phase):  # the high-water mark above the baseline once `phase` is done
        peaks[phase] = _status_bytes("VmHWM") - baseline

    trainer = Trainer(model_dir, config, run, data, data, log=lambda _: None,
                      sharding=mesh_sharding)
    mark("built")
    for step in range(run.steps):
        trainer.train_step(next(trainer.data))
        mark(f"step {step + 1}")
    trainer.checkpoints.save(checkpoint_number=trainer.steps_done)
    mark("checkpoint")
    print(json.dumps({"client": client_id, "baseline": baseline, "peaks": peaks,
                      "peak": peaks["checkpoint"], "steps": trainer.steps_done,
                      "checkpoint": trainer.checkpoints.latest_checkpoint}), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experts", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d_ff", type=int, default=4096)
    parser.add_argument("--allocator", choices=sorted(ALLOCATORS), default="system")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--model_dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client is not None:
        return client(args.client, args.ports.split(","), args.model_dir, args.experts,
                      args.layers, args.d_ff)
    from glam_tf.config import ConfigError

    try:  # a bad size is one line here, not a traceback from each client
        config_for(args.experts, args.layers, args.d_ff)
    except ConfigError as error:
        parser.error(str(error))
    if args.experts % 8:
        parser.error(f"--experts {args.experts}: must be a multiple of 8 (the mesh's expert axis)")
    ports = ",".join(map(str, loopback.free_ports(2)))
    with tempfile.TemporaryDirectory() as work:
        runs = [subprocess.Popen(
            [sys.executable, __file__, "--client", str(i), "--ports", ports,
             "--model_dir", os.path.join(work, f"client{i}"), "--experts", str(args.experts),
             "--layers", str(args.layers), "--d_ff", str(args.d_ff)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **ALLOCATORS[args.allocator]}) for i in range(2)]
        outputs = [run.communicate(timeout=3600)[0] for run in runs]
    reports = []
    for i, (run, output) in enumerate(zip(runs, outputs)):
        lines = [line for line in output.splitlines() if line.startswith('{"client"')]
        if run.returncode or not lines:
            print(f"client {i} failed:\n{output[-4000:]}", file=sys.stderr)
            return 1
        reports.append(json.loads(lines[-1]))
    state = model_state_bytes(config_for(args.experts, args.layers, args.d_ff))
    gib = 1 << 30
    for r in reports:
        phases = ", ".join(f"{k} {v / gib:.2f}" for k, v in r["peaks"].items())
        print(f"client {r['client']}: peak {r['peak'] / gib:.2f} GiB above a baseline of "
              f"{r['baseline'] / gib:.2f} GiB (GiB after each phase: {phases}), "
              f"{r['steps']} steps, checkpoint {os.path.basename(r['checkpoint'])}")
    print(f"model state (weights + gradients + Adafactor): {state / gib:.2f} GiB; "
          f"each client's half {state / 2 / gib:.2f} GiB")
    peak = max(r["peak"] for r in reports)
    print(ratio_line("sharded_memory[clients=2]", "peak_client_bytes",
                     "(model_state_bytes / 2)", peak / (state / 2), target=TARGET,
                     note=f"mesh {MESH}, {args.experts} experts of d_ff {args.d_ff}, {args.layers} layers, "
                          f"{args.allocator} allocator"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
