"""The test run shared by the DTensor tests and the two-process worker."""

import contextlib
import dataclasses
import json
import shutil
import types

import tensorflow as tf

from glam_tf import sharding
from glam_tf.presets import PRESETS
from glam_tf.training.host_input import HostInput
from glam_tf.training.run_config import TrainConfig
from glam_tf.training.trainer import Trainer, check_model_dir

# glam_tiny cut to one MoE and one dense block: every kind of weight and layout,
# half the ops to trace and expand on the mesh.
CONFIG = dataclasses.replace(PRESETS["glam_tiny"], num_layers=2, vocab_size=512, group_size=64)
RUN = TrainConfig(steps=3, batch_size=8, seq_len=32, log_every=1, eval_every=3,
                  checkpoint_every=3, eval_batches=1)


def make_sharding(mesh="batch:2,expert:4", layout=sharding.DEFAULT_LAYOUT, strict=False):
    mesh = sharding.make_mesh(mesh)
    return sharding.Sharding(mesh, sharding.parse_layout(layout, mesh.dim_names, strict),
                             log=lambda _: None)


def random_rows(run, shard, count, seed):
    """Data shard `shard` of `count`: its row i is global row i * count + shard's
    draw, so the shards of any count join into one fixed stream of rows."""
    rows = tf.data.Dataset.range(1 << 20).map(lambda i: tf.random.stateless_uniform(
        [run.seq_len + 1], seed=[seed, i * count + shard], minval=3, maxval=512,
        dtype=tf.int32))
    rows = rows.batch(run.batch_size // count, drop_remainder=True)
    return rows.map(lambda x: {"token_ids": x, "segment_ids": tf.ones_like(x)})


def host_input(run, shards, count):
    """(train, validation) HostInputs of data shards `shards` of `count`."""
    return tuple(HostInput({s: random_rows(run, s, count, seed) for s in shards}, count)
                 for seed in (1, 2))


def trainer(model_dir, run=RUN, mesh_sharding=None, shards=None, log=lambda _: None):
    """A Trainer on the mesh's own batch shards, or on one device reading `shards`
    (default: the batch shards of `batch:2,...`, so it sees the mesh's batches)."""
    check_model_dir(str(model_dir), CONFIG, run)
    held, count = mesh_sharding.batch_shards() if mesh_sharding else (shards or ([0, 1], 2))
    return Trainer(str(model_dir), CONFIG, run, *host_input(run, held, count),
                   log=log, sharding=mesh_sharding)


def decisive_router(trainer):
    """Scales the gates up so that float noise between the sharded and the
    unsharded sums cannot flip a near-tied expert choice (at the default
    small init one flip in step 3 moved a whole expert's update)."""
    with trainer.sharding.active() if trainer.sharding else contextlib.nullcontext():
        for variable in trainer.model.variables:
            if "router" in variable.path:
                variable.assign(variable.value * 30.0)


def metrics(model_dir):
    with open(model_dir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def losses(model_dir):
    return [r["loss"] for r in metrics(model_dir) if "loss" in r]


def host_weights(model, mesh_sharding=None):
    read = mesh_sharding.to_host if mesh_sharding else tf.convert_to_tensor
    return [read(v.value).numpy() for v in model.variables]


def state(run, mesh_sharding=None):
    """Host values of every model and optimizer variable of Trainer `run`, in order."""
    variables = list(run.model.variables) + list(run.optimizer.variables)
    read = mesh_sharding.to_host if mesh_sharding else tf.convert_to_tensor
    return [read(v.value).numpy() for v in variables]


def mesh_run(model_dir, run=RUN, mesh="batch:2,expert:4"):
    """`run` trained on `mesh` with a decisive router: a namespace of its
    model_dir, trainer, sharding, initial (host weights before the first
    step), weights and state (`state`) after the last, and losses."""
    mesh_sharding = make_sharding(mesh)
    each = trainer(model_dir, run, mesh_sharding)
    decisive_router(each)
    initial = host_weights(each.model, mesh_sharding)
    each.train()
    return types.SimpleNamespace(
        model_dir=model_dir, trainer=each, sharding=mesh_sharding, initial=initial,
        weights=host_weights(each.model, mesh_sharding), state=state(each, mesh_sharding),
        losses=losses(model_dir))


def copy_of(run, model_dir):
    """A copy of `run`'s model dir at `model_dir`, for a test that trains on in it."""
    shutil.copytree(run.model_dir, model_dir)
    return model_dir
