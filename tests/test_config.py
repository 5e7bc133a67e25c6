import dataclasses

import pytest

from glam_tf.config import ConfigError, GlamConfig


@pytest.mark.parametrize("field, value, rule", [
    ("num_layers", 0, "must be >= 1"),
    ("num_experts", 1, "must be 0 (dense) or >= 2"),
    ("top_k", 3, "must be 1 or 2"),
    ("train_capacity_factor", -1.0, "finite number > 0"),
    ("eval_capacity_factor", float("nan"), "finite number > 0"),
    ("second_expert_policy", "best", "must be one of all, sampling, random"),
    ("expert_activation", "swish", "must be one of relu, gelu, gated_gelu"),
    ("compute_dtype", "float16", "must be one of float32, bfloat16"),
    ("second_expert_threshold", 0.0, "must be in (0, 1]"),
    ("aux_loss_weight", -0.1, "must be a finite number >= 0"),
    ("d_model", 12.5, "must be of type int"),
    ("tie_embeddings", "yes", "must be of type bool"),
    ("group_size", True, "must be of type int"),
])
def test_bad_value_error_names_field_value_and_rule(field, value, rule):
    with pytest.raises(ConfigError) as error:
        GlamConfig(**{field: value})
    message = str(error.value)
    assert field in message and repr(value) in message and rule in message
    assert error.value.field == field


def test_a_model_without_an_moe_block_is_rejected():
    with pytest.raises(ConfigError, match="moe_offset=5"):
        GlamConfig(num_layers=4, moe_interval=8, moe_offset=5)


@pytest.mark.parametrize("offset", [-1, 2])
def test_moe_offset_outside_its_interval_is_rejected(offset):
    with pytest.raises(ConfigError, match=rf"moe_offset={offset}.*\[0, 2\)"):
        GlamConfig(moe_interval=2, moe_offset=offset)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GlamConfig().d_model = 3


def test_override_parses_each_field_type():
    config = GlamConfig().override(["d_model=256", "train_capacity_factor=none",
                                    "tie_embeddings=false", "aux_loss_weight=0.1",
                                    "second_expert_policy=random"])
    assert config.d_model == 256 and config.train_capacity_factor is None
    assert config.tie_embeddings is False and config.aux_loss_weight == 0.1
    assert config.second_expert_policy == "random"


@pytest.mark.parametrize("assignment, message", [
    ("d_model", "must look like key=value"),
    ("dmodel=3", "is not a GlamConfig field"),
    ("d_model=big", "cannot be read as type int"),
    ("tie_embeddings=maybe", "cannot be read as type bool"),
    ("num_layers=0", "must be >= 1"),
])
def test_bad_override_is_a_clear_error(assignment, message):
    with pytest.raises(ConfigError, match=message):
        GlamConfig().override([assignment])


def test_json_round_trip_keeps_every_field():
    config = GlamConfig(num_experts=0, eval_capacity_factor=1.5, compute_dtype="bfloat16")
    assert GlamConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("interval", [2, 4])
def test_a_stored_config_from_before_moe_offset_keeps_the_last_block_of_each_group(interval):
    stored = GlamConfig(num_layers=8, moe_interval=interval).to_dict()
    del stored["moe_offset"]
    config = GlamConfig.from_dict(stored)
    assert config.moe_offset == interval - 1
    assert [i for i in range(8) if config.is_moe_layer(i)] == list(range(interval - 1, 8, interval))


def test_from_dict_rejects_unknown_field():
    with pytest.raises(ConfigError, match="not a GlamConfig field"):
        GlamConfig.from_dict({"d_model": 8, "colour": "red"})


def test_moe_block_is_the_first_of_each_pair_as_in_praxis_glam():
    config = GlamConfig(num_layers=6, moe_interval=2)
    assert [config.is_moe_layer(i) for i in range(6)] == [True, False] * 3
    last = GlamConfig(num_layers=6, moe_interval=3, moe_offset=2)
    assert [last.is_moe_layer(i) for i in range(6)] == [False, False, True] * 2
    assert config.num_moe_layers == 3
    assert GlamConfig(num_experts=0).num_moe_layers == 0
