import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.experimental import dtensor

from glam_tf import sharding
from glam_tf.layers import dims
from glam_tf.model import GlamModel
from glam_tf.presets import PRESETS

from runs import (CONFIG, RUN, copy_of, decisive_router, host_weights, losses, make_sharding,
                  mesh_run, trainer)


@pytest.mark.parametrize("dispatch", ["einsum", "gather"])
def test_sharded_forward_equals_unsharded(dispatch):
    plain = GlamModel(CONFIG, dispatch=dispatch)
    sharded = GlamModel(CONFIG, dispatch=dispatch)
    sharded.set_weights(plain.get_weights())
    mesh_sharding = make_sharding()
    mesh_sharding.shard_model(sharded)
    ids = np.random.default_rng(0).integers(1, 512, size=(8, 32)).astype(np.int32)
    batch = mesh_sharding.shard_batch({"ids": ids})
    with mesh_sharding.active():
        logits = tf.function(lambda x: sharded(x))(batch["ids"])
    assert dtensor.fetch_layout(logits).sharding_specs[0] == "batch"
    np.testing.assert_allclose(mesh_sharding.to_host(logits), plain(ids), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adafactor", "adam"])
def test_three_sharded_training_steps_equal_three_unsharded_steps(tmp_path, optimizer,
                                                                  shared_mesh_run):
    run = dataclasses.replace(RUN, optimizer=optimizer)
    sharded = shared_mesh_run if run == RUN else mesh_run(tmp_path / "sharded", run)
    plain = trainer(tmp_path / "plain", run)
    decisive_router(plain)
    # Created shard by shard or whole, the two start from the same values.
    for a, b, v in zip(sharded.initial, host_weights(plain.model), plain.model.variables):
        np.testing.assert_array_equal(a, b, err_msg=v.path)
    plain.train()
    np.testing.assert_allclose(sharded.losses, losses(tmp_path / "plain"), rtol=1e-5)
    # Adam divides by sqrt(v): where a gradient is near zero, the sharded and
    # unsharded sums' last-bit differences grow (one element of 65536 by 1.7e-5).
    atol = 5e-5 if optimizer == "adam" else 1e-5
    for a, b, v in zip(sharded.weights, host_weights(plain.model), plain.model.variables):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=atol, err_msg=v.path)


def test_each_device_holds_a_quarter_of_every_expert_weight_and_its_slots(shared_mesh_run):
    run, mesh_sharding = shared_mesh_run.trainer, shared_mesh_run.sharding
    experts = CONFIG.num_experts
    expert_weights = [v for v in run.model.variables if "/moe/w" in v.path]
    assert expert_weights
    for weight in expert_weights:
        shards = dtensor.unpack(weight.value.read_value())
        assert len(shards) == 8
        assert all(s.shape == (experts // 4,) + tuple(weight.shape[1:]) for s in shards)
        assert all(f"/device:CPU:{d}" in s.device for d, s in enumerate(shards))
        full = mesh_sharding.to_host(weight.value).numpy()
        # device d holds experts of its position on the expert axis
        expert_position = [d % 4 for d in range(8)]
        for shard, position in zip(shards, expert_position):
            start = position * experts // 4
            np.testing.assert_array_equal(shard.numpy(), full[start:start + experts // 4])
    optimizer = run.optimizer
    for index, weight in enumerate(optimizer._trainable_variables):
        if "/moe/w" in weight.path:
            for slot in (optimizer._row[index], optimizer._col[index]):
                layout = dtensor.fetch_layout(slot.value.read_value())
                assert layout.sharding_specs[0] == "expert", slot.path
                assert dtensor.unpack(slot.value.read_value())[0].shape[0] == experts // 4


def test_every_glam_tiny_variable_is_laid_out_by_rules_of_its_rank():
    mesh_sharding = make_sharding("batch:2,expert:2,model:2")
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
    mesh_sharding = make_sharding()
    messages = []
    mesh_sharding.log = messages.append
    mesh_sharding.shard_model(layer)
    assert any(m.startswith("Replicated (no logical axes)") and "kernel" in m
               for m in messages)


def test_sharded_checkpoint_restores_into_an_unsharded_model_and_back(tmp_path,
                                                                      shared_mesh_run):
    model_dir = copy_of(shared_mesh_run, tmp_path / "run")
    # unsharded resume of the sharded run: same weights, same step
    plain = trainer(model_dir, dataclasses.replace(RUN, steps=4))
    assert plain.steps_done == 3
    for a, b in zip(host_weights(plain.model), shared_mesh_run.weights):
        np.testing.assert_array_equal(a, b)
    plain.train()  # one more unsharded step, then back onto the mesh
    after = host_weights(plain.model)
    resharded = trainer(model_dir, dataclasses.replace(RUN, steps=4), make_sharding())
    assert resharded.steps_done == 4
    for a, b in zip(host_weights(resharded.model, resharded.sharding), after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_two_processes_on_loopback_form_one_mesh_and_train_like_one_process(tmp_path,
                                                                             shared_mesh_run):
    import os
    import subprocess
    import sys

    worker = os.path.join(os.path.dirname(__file__), "multi_client_worker.py")
    from glam_tf import loopback

    ports = ",".join(map(str, loopback.free_ports(2)))
    runs = [subprocess.Popen([sys.executable, worker, str(i), ports, str(tmp_path / f"client{i}")],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for i, (run, output) in enumerate(zip(runs, outputs)):
        assert run.returncode == 0, f"client {i}:\n{output[-4000:]}"
        assert f"client {i} done at step 3" in output

    # One process with all eight devices (the shared run) reads both data shards
    # and so assembles the same global batches the two clients build half each.
    for i in range(2):
        np.testing.assert_allclose(losses(tmp_path / f"client{i}"), shared_mesh_run.losses,
                                   rtol=1e-5)


def test_planned_memory_per_device_equals_the_shards_each_device_holds(shared_mesh_run):
    run = shared_mesh_run.trainer
    local = lambda v: int(np.prod(dtensor.unpack(v.value.read_value())[0].shape))
    weights = sum(local(v) for v in run.model.variables if dims.logical_axes(v))
    slots = sum(local(v) for v in run.optimizer.variables
                if v.path not in (run.optimizer.iterations.path,))
    planned = sharding.memory_per_device(CONFIG, "batch:2,expert:4")
    assert planned["weights"] == 4 * weights
    assert planned["optimizer"] == 4 * slots
