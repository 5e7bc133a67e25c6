"""Mesh and layout parsing and memory planning: no devices needed."""

import pytest

from glam_tf import sharding
from glam_tf.params import EMBED, EXPERT, HEADS, KV, MLP, REL, VOCAB
from glam_tf.layers import dims
from glam_tf.presets import PRESETS


def test_params_axis_names_are_the_layers_axis_names():
    assert {VOCAB, EMBED, HEADS, KV, MLP, EXPERT, REL} == set(dims.LOGICAL_AXES)


def test_mesh_and_layout_use_mesh_tensorflow_syntax():
    assert sharding.parse_mesh("batch:2,expert:4") == [("batch", 2), ("expert", 4)]
    rules = sharding.parse_layout(sharding.DEFAULT_LAYOUT, ("batch", "expert"), strict=False)
    assert rules == {"batch": "batch", "expert": "expert"}


@pytest.mark.parametrize("spec, message", [
    ("batch:0", "is not NAME:SIZE"), ("batch:2,batch:2", "appears twice"), ("", "no axes")])
def test_bad_mesh_is_a_clear_error(spec, message):
    with pytest.raises(sharding.ShardingError, match=message):
        sharding.parse_mesh(spec)


def test_default_mesh_spreads_experts_over_the_devices_that_divide_them():
    assert sharding.default_mesh(PRESETS["glam_0.1b_64e"], 64) == "batch:1,expert:64"
    assert sharding.default_mesh(PRESETS["glam_0.1b_64e"], 256) == "batch:4,expert:64"
    assert sharding.default_mesh(PRESETS["glam_tiny"], 12) == "batch:3,expert:4"
    assert sharding.default_mesh(PRESETS["dense_tiny"], 8) == "batch:8"


def test_memory_per_device_divides_expert_weights_by_the_expert_axis():
    config = PRESETS["glam_0.1b_64e"]
    one = sharding.memory_per_device(config, "batch:1")
    spread = sharding.memory_per_device(config, "batch:1,expert:64")
    expert_bytes = 4 * 6 * 2 * 64 * 768 * 3072  # 6 MoE layers, wi_0 and wo, float32
    assert one["weights"] - spread["weights"] == expert_bytes - expert_bytes // 64 + \
        4 * 6 * (768 * 64 - 768)  # the routers' [M, E] kernels are split by expert too
    assert spread["gradients"] == spread["weights"]
    assert spread["total"] == 2 * spread["weights"] + spread["optimizer"]
