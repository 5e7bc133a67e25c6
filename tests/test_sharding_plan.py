"""Memory planning from the config alone: no devices needed."""

import dataclasses

import pytest

from glam_tf import axes, plan, sharding
from glam_tf.layers.routing import expert_capacity
from glam_tf.presets import PRESETS

GIB = 2 ** 30


def test_sharding_lays_out_with_the_tf_free_module_s_names_and_errors():
    assert sharding.ShardingError is axes.ShardingError
    assert sharding.DEFAULT_LAYOUT is axes.DEFAULT_LAYOUT
    assert sharding.parse_mesh is axes.parse_mesh and sharding.parse_layout is axes.parse_layout


def test_default_mesh_spreads_experts_over_the_devices_that_divide_them():
    assert sharding.default_mesh(PRESETS["glam_0.1b_64e"], 64) == "batch:1,expert:64"
    assert sharding.default_mesh(PRESETS["glam_0.1b_64e"], 256) == "batch:4,expert:64"
    assert sharding.default_mesh(PRESETS["glam_tiny"], 12) == "batch:3,expert:4"
    assert sharding.default_mesh(PRESETS["dense_tiny"], 8) == "batch:8"


def test_memory_per_device_divides_expert_weights_by_the_expert_axis():
    config = PRESETS["glam_0.1b_64e"]
    one = plan.memory_per_device(config, "batch:1")
    spread = plan.memory_per_device(config, "batch:1,expert:64")
    expert_bytes = 4 * 6 * 2 * 64 * 768 * 3072  # 6 MoE layers, wi_0 and wo, float32
    assert one["weights"] - spread["weights"] == expert_bytes - expert_bytes // 64 + \
        4 * 6 * (768 * 64 - 768)  # the routers' [M, E] kernels are split by expert too
    assert spread["gradients"] == spread["weights"]
    assert spread["total"] == 2 * spread["weights"] + spread["optimizer"]


def test_plan_refuses_a_dimension_the_mesh_does_not_divide_instead_of_replicating_it():
    with pytest.raises(axes.ShardingError,
                       match=r"block_0/moe/wi_0 \[64, 8192, 32768\]: dimension 0 \(expert, "
                             r"size 64\) is not divisible by mesh axis 'expert' of size 48"):
        plan.memory_per_device(PRESETS["glam_64b_64e"], "batch:64,expert:48")


def test_adam_keeps_two_full_slots_and_adafactor_factored_ones():
    config = PRESETS["glam_0.1b_64e"]
    adam = plan.memory_per_device(config, "batch:1,expert:64", optimizer="adam")
    adafactor = plan.memory_per_device(config, "batch:1,expert:64")
    assert adam["optimizer"] == 2 * adam["weights"]
    assert adafactor["optimizer"] < adam["weights"] / 50


def test_plan_refuses_a_batch_the_batch_axis_cannot_split():
    with pytest.raises(axes.ShardingError, match=r"token_ids \[12, 1025\]: dimension 0 "
                                                 r"\(batch, size 12\) is not divisible by mesh "
                                                 r"axis 'batch' of size 8"):
        plan.plan_training(PRESETS["glam_0.1b_64e"], "batch:8,expert:8", batch_size=12)
    # 16 rows of 1024 tokens are 16 groups of 1024: 8 batch shards take 2 groups each,
    # but 4 rows of 128 tokens make 1 group of 512, which 8 shards cannot split.
    with pytest.raises(axes.ShardingError, match=r"MoE expert buffers .* dimension 1 \(batch"):
        plan.plan_training(PRESETS["glam_0.1b_64e"], "batch:8,expert:8", batch_size=8,
                           seq_len=64)


def test_default_batch_gives_every_batch_shard_rows():
    assert plan.default_batch_size({}, {}) == 8
    assert plan.default_batch_size({"batch": 64, "expert": 64}, {"batch": "batch"}) == 64
    assert plan.default_batch_size({"batch": 3}, {"batch": "batch"}) == 24
    assert plan.plan_training(PRESETS["glam_64b_64e"], "batch:64,expert:64").batch_size == 64


@pytest.mark.parametrize("group, factor", [(1024, 2.0), (100, 1.1), (7, 0.5), (64, None)])
def test_planned_expert_capacity_is_the_routers(group, factor):
    config = dataclasses.replace(PRESETS["glam_tiny"], train_capacity_factor=factor)
    assert plan.training_capacity(config, group) == expert_capacity(
        group, config.num_experts, factor, config.min_expert_capacity)


def test_activations_shrink_with_the_batch_split_and_with_bfloat16():
    config = PRESETS["glam_1.7b_64e"]
    one = plan.plan_training(config, "batch:2,expert:64", batch_size=128).activations
    two = plan.plan_training(config, "batch:4,expert:64", batch_size=128).activations
    assert two == pytest.approx(one / 2, rel=0.01)
    bf16 = dataclasses.replace(config, compute_dtype="bfloat16")
    half = plan.plan_training(bf16, "batch:2,expert:64", batch_size=128).activations
    assert 0.5 * one < half < 0.8 * one  # float32 attention logits and softmax logits stay


def test_plan_total_adds_its_parts_and_reuses_memory_per_device():
    config = PRESETS["glam_8b_64e"]
    memory = plan.plan_training(config, "batch:2,expert:64,model:8", optimizer="adam")
    state = plan.memory_per_device(config, "batch:2,expert:64,model:8", optimizer="adam")
    assert memory.weights + memory.gradients + memory.optimizer_state == state["total"]
    assert memory.total == state["total"] + memory.activations


@pytest.mark.parametrize("text, size", [("32GiB", 32 * GIB), ("34GB", 34 * 10 ** 9),
                                        ("16 gib", 16 * GIB), ("1.5TiB", int(1.5 * 2 ** 40))])
def test_device_memory_takes_binary_and_decimal_units(text, size):
    assert plan.parse_memory(text) == size


@pytest.mark.parametrize("text", ["32", "32G", "-1GiB", "lots", ""])
def test_device_memory_without_a_known_unit_is_one_clear_error(text):
    with pytest.raises(ValueError, match="give a size > 0 with a unit, e.g. 32GiB"):
        plan.parse_memory(text)


def test_report_flags_what_does_not_fit_and_why():
    config = PRESETS["glam_64b_64e"]
    big = plan.plan_training(config, "batch:64,expert:64")
    lines, fits = plan.format_plan(big, "glam_64b_64e", "float32", 32 * GIB)
    assert not fits and "DOES NOT FIT in 32.00 GiB" in lines[-1]
    assert "weights, gradients and optimizer state alone" in lines[-1]
    small = plan.plan_training(config, "batch:1,expert:64,model:32", batch_size=1)
    lines, fits = plan.format_plan(small, "glam_64b_64e", "float32", 95 * GIB)
    assert fits and lines[-1].startswith("Fits in 95.00 GiB")
