import contextlib
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.experimental import dtensor

from glam_tf import sharding
from glam_tf.config import GlamConfig
from glam_tf.layers import dims
from glam_tf.model import GlamModel
from glam_tf.presets import PRESETS
from glam_tf.training.run_config import TrainConfig
from glam_tf.training.trainer import Trainer

CONFIG = dataclasses.replace(PRESETS["glam_tiny"], vocab_size=512, group_size=64)
RUN = TrainConfig(steps=3, batch_size=8, seq_len=32, log_every=1, eval_every=3,
                  checkpoint_every=3, eval_batches=1)


def _sharding(mesh="batch:2,expert:4", layout=sharding.DEFAULT_LAYOUT, strict=False):
    mesh = sharding.make_mesh(mesh)
    return sharding.Sharding(mesh, sharding.parse_layout(layout, mesh.dim_names, strict),
                             log=lambda _: None)


def _random_rows(train_config, tokenizer):
    def make(seed):
        rows = tf.data.Dataset.range(1 << 20).map(lambda i: tf.random.stateless_uniform(
            [train_config.seq_len + 1], seed=[seed, i], minval=3, maxval=512, dtype=tf.int32))
        rows = rows.batch(train_config.batch_size, drop_remainder=True)
        return rows.map(lambda x: {"token_ids": x, "segment_ids": tf.ones_like(x)})
    return make(1), make(2)


def _metrics(model_dir):
    with open(model_dir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def _host_weights(model, mesh_sharding=None):
    read = mesh_sharding.to_host if mesh_sharding else tf.convert_to_tensor
    return [read(v.value).numpy() for v in model.variables]


@pytest.mark.parametrize("dispatch", ["einsum", "gather"])
def test_sharded_forward_equals_unsharded(dispatch):
    plain = GlamModel(CONFIG, dispatch=dispatch)
    sharded = GlamModel(CONFIG, dispatch=dispatch)
    sharded.set_weights(plain.get_weights())
    mesh_sharding = _sharding()
    mesh_sharding.shard_model(sharded)
    ids = np.random.default_rng(0).integers(1, 512, size=(8, 32)).astype(np.int32)
    batch = mesh_sharding.shard_batch({"ids": ids})
    with mesh_sharding.active():
        logits = tf.function(lambda x: sharded(x))(batch["ids"])
    assert dtensor.fetch_layout(logits).sharding_specs[0] == "batch"
    np.testing.assert_allclose(mesh_sharding.to_host(logits), plain(ids), rtol=1e-4, atol=1e-5)


def _decisive_router(trainer):
    """Scales the gates up so that float noise between the sharded and the
    unsharded sums cannot flip a near-tied expert choice (at the default
    small init one flip in step 3 moved a whole expert's update)."""
    with trainer.sharding.active() if trainer.sharding else contextlib.nullcontext():
        for variable in trainer.model.variables:
            if "router" in variable.path:
                variable.assign(variable.value * 30.0)


@pytest.mark.parametrize("optimizer", ["adafactor", "adam"])
def test_three_sharded_training_steps_equal_three_unsharded_steps(tmp_path, optimizer):
    run = dataclasses.replace(RUN, optimizer=optimizer)
    plain = Trainer(str(tmp_path / "plain"), CONFIG, run, _random_rows, log=lambda _: None)
    mesh_sharding = _sharding()
    sharded = Trainer(str(tmp_path / "sharded"), CONFIG, run, _random_rows, log=lambda _: None,
                      sharding=mesh_sharding)
    for trainer in (plain, sharded):
        _decisive_router(trainer)
        trainer.train()
    losses = lambda d: [r["loss"] for r in _metrics(d) if "loss" in r]
    np.testing.assert_allclose(losses(tmp_path / "sharded"), losses(tmp_path / "plain"),
                               rtol=1e-5)
    for a, b, v in zip(_host_weights(sharded.model, mesh_sharding),
                       _host_weights(plain.model), plain.model.variables):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=v.path)


def test_each_device_holds_a_quarter_of_every_expert_weight_and_its_slots(tmp_path):
    mesh_sharding = _sharding()
    trainer = Trainer(str(tmp_path), CONFIG, RUN, _random_rows, log=lambda _: None,
                      sharding=mesh_sharding)
    experts = CONFIG.num_experts
    expert_weights = [v for v in trainer.model.variables if "/moe/w" in v.path]
    assert expert_weights
    for weight in expert_weights:
        shards = dtensor.unpack(weight.value.read_value())
        assert len(shards) == 8
        assert all(s.shape == (experts // 4,) + tuple(weight.shape[1:]) for s in shards)
        full = mesh_sharding.to_host(weight.value).numpy()
        # device d holds experts of its position on the expert axis
        expert_position = [d % 4 for d in range(8)]
        for shard, position in zip(shards, expert_position):
            start = position * experts // 4
            np.testing.assert_array_equal(shard.numpy(), full[start:start + experts // 4])
    optimizer = trainer.optimizer
    for index, weight in enumerate(optimizer._trainable_variables):
        if "/moe/w" in weight.path:
            for slot in (optimizer._row[index], optimizer._col[index]):
                layout = dtensor.fetch_layout(slot.value.read_value())
                assert layout.sharding_specs[0] == "expert", slot.path
                assert dtensor.unpack(slot.value.read_value())[0].shape[0] == experts // 4


def test_every_glam_tiny_variable_is_laid_out_by_rules_of_its_rank():
    mesh_sharding = _sharding("batch:2,expert:2,model:2")
    assert mesh_sharding.rules == {"batch": "batch", "expert": "expert", "mlp": "model",
                                   "heads": "model", "vocab": "model"}
    model = GlamModel(PRESETS["glam_tiny"])
    messages = []
    mesh_sharding.log = messages.append
    layouts = mesh_sharding.shard_model(model)
    assert set(layouts) == {v.path for v in model.variables}
    for variable in model.trainable_variables:
        specs = layouts[variable.path].sharding_specs
        axes = dims.logical_axes(variable)
        assert len(specs) == len(variable.shape) == len(axes), variable.path
        for axis, spec in zip(axes, specs):
            assert spec == mesh_sharding.rules.get(axis, dtensor.UNSHARDED), variable.path
    # Only the routers' noise-seed states have no axis names; they are listed.
    listed = [m for m in messages if m.startswith("Replicated")]
    unnamed = [v.path for v in model.variables if dims.logical_axes(v) is None]
    assert all("seed" in path for path in unnamed)
    assert len(listed) == 1 and all(path in listed[0] for path in unnamed)
    for variable in model.variables:  # every variable's layout is in the log
        assert any(m.strip().startswith(variable.path + " ") for m in messages), variable.path
    wi = [v for v in model.variables if v.path.endswith("moe/wi_0")][0]
    assert layouts[wi.path].sharding_specs == ["expert", dtensor.UNSHARDED, "model"]


def test_layout_errors_name_the_variable_its_shape_and_the_rule():
    mesh = sharding.make_mesh("batch:2,expert:4")
    with pytest.raises(sharding.ShardingError, match="mesh has no axis 'model'"):
        sharding.parse_layout("mlp:model", mesh.dim_names)
    with pytest.raises(sharding.ShardingError, match="unknown logical axis 'experts'"):
        sharding.parse_layout("experts:expert", mesh.dim_names)
    with pytest.raises(sharding.ShardingError,
                       match=r"block_1/moe/wi_0 \[6, 128, 512\]: dimension 0 \(expert, size 6\)"
                             r" is not divisible by mesh axis 'expert' of size 4 "
                             r"\(rule expert:expert\)"):
        sharding.layout_for("block_1/moe/wi_0", (6, 128, 512), ("expert", "embed", "mlp"),
                            mesh, {"expert": "expert"})
    with pytest.raises(sharding.ShardingError, match="has 16 devices but there are 8 CPU"):
        sharding.make_mesh("batch:4,expert:4")
    with pytest.raises(sharding.ShardingError, match="is not NAME:SIZE"):
        sharding.parse_mesh("batch=2")


def test_variables_without_axis_names_are_replicated_and_listed():
    import keras

    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    mesh_sharding = _sharding()
    messages = []
    mesh_sharding.log = messages.append
    mesh_sharding.shard_model(layer)
    assert any(m.startswith("Replicated (no logical axes)") and "kernel" in m
               for m in messages)


def test_sharded_checkpoint_restores_into_an_unsharded_model_and_back(tmp_path):
    mesh_sharding = _sharding()
    sharded = Trainer(str(tmp_path / "run"), CONFIG, RUN, _random_rows, log=lambda _: None,
                      sharding=mesh_sharding)
    sharded.train()
    expected = _host_weights(sharded.model, mesh_sharding)
    # unsharded resume of the sharded run: same weights, same step
    plain = Trainer(str(tmp_path / "run"), CONFIG, dataclasses.replace(RUN, steps=4),
                    _random_rows, log=lambda _: None)
    assert plain.steps_done == 3
    for a, b in zip(_host_weights(plain.model), expected):
        np.testing.assert_array_equal(a, b)
    plain.train()  # one more unsharded step, then back onto the mesh
    after = _host_weights(plain.model)
    resharded = Trainer(str(tmp_path / "run"), CONFIG, dataclasses.replace(RUN, steps=4),
                        _random_rows, log=lambda _: None, sharding=_sharding())
    assert resharded.steps_done == 4
    for a, b in zip(_host_weights(resharded.model, resharded.sharding), after):
        np.testing.assert_array_equal(a, b)


def _free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_processes_on_loopback_form_one_mesh_and_train_like_one_process(tmp_path):
    import os
    import subprocess
    import sys

    worker = os.path.join(os.path.dirname(__file__), "multi_client_worker.py")
    ports = ",".join(map(str, _free_ports(2)))
    runs = [subprocess.Popen([sys.executable, worker, str(i), ports, str(tmp_path / f"client{i}")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for i, (run, output) in enumerate(zip(runs, outputs)):
        assert run.returncode == 0, f"client {i}:\n{output[-4000:]}"
        assert f"client {i} done at step 3" in output

    single = Trainer(str(tmp_path / "single"), CONFIG, RUN, _random_rows, log=lambda _: None,
                     sharding=_sharding())
    _decisive_router(single)
    single.train()
    losses = lambda d: [r["loss"] for r in _metrics(d) if "loss" in r]
    expected = losses(tmp_path / "single")
    for i in range(2):
        np.testing.assert_allclose(losses(tmp_path / f"client{i}"), expected, rtol=1e-5)


def test_planned_memory_per_device_equals_the_shards_each_device_holds(tmp_path):
    mesh_sharding = _sharding()
    trainer = Trainer(str(tmp_path), CONFIG, RUN, _random_rows, log=lambda _: None,
                      sharding=mesh_sharding)
    local = lambda v: int(np.prod(dtensor.unpack(v.value.read_value())[0].shape))
    weights = sum(local(v) for v in trainer.model.variables if dims.logical_axes(v))
    slots = sum(local(v) for v in trainer.optimizer.variables
                if v.path not in (trainer.optimizer.iterations.path,))
    planned = sharding.memory_per_device(CONFIG, "batch:2,expert:4")
    assert planned["weights"] == 4 * weights
    assert planned["optimizer"] == 4 * slots
