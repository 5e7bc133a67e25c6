"""Weights and optimizer slots created shard by shard on a mesh."""

import keras
import numpy as np
import pytest
from tensorflow.experimental import dtensor

from glam_tf.training.trainer import create_model_and_optimizer
from runs import CONFIG, RUN, make_sharding


def _created(mesh_sharding, optimizer="adafactor"):
    import dataclasses

    keras.utils.set_random_seed(RUN.seed)  # the routers' noise-seed states
    run = dataclasses.replace(RUN, optimizer=optimizer)
    return create_model_and_optimizer(CONFIG, run, mesh_sharding)


@pytest.mark.parametrize("mesh", ["batch:2,expert:4", "batch:2,expert:2,model:2"])
def test_weights_created_shard_by_shard_equal_the_one_device_creation_bit_for_bit(mesh):
    mesh_sharding = make_sharding(mesh)
    sharded, _ = _created(mesh_sharding)
    plain, _ = _created(None)
    assert [v.path.split("/", 1)[-1] for v in sharded.variables] == \
        [v.path.split("/", 1)[-1] for v in plain.variables]
    for a, b in zip(sharded.variables, plain.variables):
        np.testing.assert_array_equal(mesh_sharding.to_host(a.value), b.numpy(), err_msg=a.path)


@pytest.mark.parametrize("optimizer", ["adafactor", "adam"])
def test_optimizer_slots_are_created_as_zeros_in_their_weights_layouts(optimizer):
    mesh_sharding = make_sharding()
    model, opt = _created(mesh_sharding, optimizer)
    for variable in opt.variables:
        np.testing.assert_array_equal(mesh_sharding.to_host(variable.value.read_value()), 0,
                                      err_msg=variable.path)
    names = ("_row", "_col") if optimizer == "adafactor" else ("_momentums", "_velocities")
    expert_weights = 0
    for index, weight in enumerate(opt._trainable_variables):
        if "/moe/w" in weight.path:
            expert_weights += 1
            for name in names:
                slot = getattr(opt, name)[index]
                layout = dtensor.fetch_layout(slot.value.read_value())
                assert layout.sharding_specs[0] == "expert", (weight.path, name)
    assert expert_weights == 2 * CONFIG.num_moe_layers  # wi_0 and wo of each MoE layer


def test_each_device_holds_only_its_block_after_creation():
    mesh_sharding = make_sharding()
    model, _ = _created(mesh_sharding)
    wi = next(v for v in model.variables if v.path.endswith("moe/wi_0"))
    shards = dtensor.unpack(wi.value.read_value())
    assert [s.shape[0] for s in shards] == [CONFIG.num_experts // 4] * 8
    # device d sits at expert position d % 4 of the batch:2,expert:4 mesh
    full = mesh_sharding.to_host(wi.value).numpy()
    for d, shard in enumerate(shards):
        start = (d % 4) * CONFIG.num_experts // 4
        np.testing.assert_array_equal(shard.numpy(), full[start:start + CONFIG.num_experts // 4])
    assert "/device:CPU:5" in shards[5].device
