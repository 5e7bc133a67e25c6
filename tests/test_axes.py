"""Axis names, mesh and layout specs and the layout decision: no TensorFlow needed."""

import pytest

from glam_tf import axes
from glam_tf.params import weight_specs
from glam_tf.presets import PRESETS

MESH = {"batch": 2, "expert": 4}


def test_mesh_and_layout_use_mesh_tensorflow_syntax():
    assert axes.parse_mesh("batch:2,expert:4") == [("batch", 2), ("expert", 4)]
    rules = axes.parse_layout(axes.DEFAULT_LAYOUT, ("batch", "expert"), strict=False)
    assert rules == {"batch": "batch", "expert": "expert"}


@pytest.mark.parametrize("spec, message", [
    ("batch:0", "is not NAME:SIZE"), ("batch=2", "is not NAME:SIZE"),
    ("batch:2,batch:2", "appears twice"), ("", "no axes")])
def test_bad_mesh_is_a_clear_error(spec, message):
    with pytest.raises(axes.ShardingError, match=message):
        axes.parse_mesh(spec)


def test_default_rules_adapt_to_the_mesh_but_explicit_rules_must_match_it():
    assert axes.rules_for(None, ("batch", "model")) == {
        "batch": "batch", "mlp": "model", "heads": "model", "vocab": "model"}
    with pytest.raises(axes.ShardingError, match="mesh has no axis 'model'"):
        axes.rules_for("mlp:model", ("batch", "expert"))
    with pytest.raises(axes.ShardingError, match="unknown logical axis 'experts'"):
        axes.rules_for("experts:expert", ("batch", "expert"))


def test_a_dimension_its_mesh_axis_does_not_divide_is_refused_naming_weight_dimension_rule():
    with pytest.raises(axes.ShardingError,
                       match=r"block_1/moe/wi_0 \[6, 128, 512\]: dimension 0 \(expert, size 6\)"
                             r" is not divisible by mesh axis 'expert' of size 4 "
                             r"\(rule expert:expert\)"):
        axes.mesh_axes_for("block_1/moe/wi_0", (6, 128, 512), ("expert", "embed", "mlp"), MESH,
                           {"expert": "expert"})


def test_a_mesh_axis_splits_only_the_first_dimension_that_asks_for_it():
    rules = {"embed": "batch", "mlp": "batch", "expert": "expert"}
    specs = axes.mesh_axes_for("w", (8, 6, 5), ("expert", "embed", "mlp"), MESH, rules)
    assert specs == ("expert", "batch", None)
    assert axes.local_shape((8, 6, 5), specs, MESH) == (2, 3, 5)


def test_unknown_sizes_are_not_checked():
    assert axes.mesh_axes_for("x", (None, 3), ("batch", None), MESH, {"batch": "batch"}) == (
        "batch", None)


def test_sharding_errors_are_value_errors_so_the_cli_reports_them_in_one_line():
    assert issubclass(axes.ShardingError, ValueError)


def test_every_planned_weight_names_only_known_logical_axes():
    for config in PRESETS.values():
        for spec in weight_specs(config):
            assert len(spec.axes) == len(spec.shape), spec.path
            assert set(spec.axes) <= set(axes.LOGICAL_AXES), spec.path
