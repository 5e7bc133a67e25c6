"""The memory plan and the real run lay out every tensor alike, and refuse alike."""

import dataclasses
import re

import pytest
import tensorflow as tf
from tensorflow.experimental import dtensor

from glam_tf import axes, plan, sharding
from glam_tf.layers import dims
from glam_tf.model import GlamModel
from glam_tf.presets import PRESETS

CONFIG = dataclasses.replace(PRESETS["glam_tiny"], vocab_size=512, group_size=64)


def _built(config):
    model = GlamModel(config)
    model(tf.constant([[1, 2, 3, 4]]))
    return model


def _run_layouts(model, mesh, rules):
    """{weight path as params names it: sharding specs} from the run's layout_for."""
    return {re.sub(r"^glam_model(_\d+)?/", "", v.path): tuple(sharding.layout_for(
        v.path, tuple(v.shape), dims.logical_axes(v), mesh, rules).sharding_specs)
        for v in model.variables if dims.logical_axes(v)}


@pytest.mark.parametrize("mesh_spec, layout", [
    ("batch:2,expert:4", None), ("batch:4,model:2", None),
    ("batch:2,expert:4", "batch:batch,expert:expert,heads:batch,vocab:expert")])
def test_plan_and_run_lay_out_every_weight_alike(mesh_spec, layout):
    mesh = sharding.make_mesh(mesh_spec)
    rules = axes.rules_for(layout, mesh.dim_names)
    run = _run_layouts(_built(CONFIG), mesh, rules)
    planned = {spec.path: tuple(s or dtensor.UNSHARDED for s in specs)
               for spec, specs in plan.weight_layouts(CONFIG, plan.mesh_sizes(mesh_spec), rules)}
    assert planned == run


def test_plan_refuses_exactly_the_weight_the_run_refuses():
    six = dataclasses.replace(CONFIG, num_experts=6)  # 6 experts on a 4-way expert axis
    mesh = sharding.make_mesh("batch:2,expert:4")
    rules = axes.rules_for(None, mesh.dim_names)
    with pytest.raises(axes.ShardingError) as planned:
        plan.memory_per_device(six, "batch:2,expert:4")
    with pytest.raises(axes.ShardingError) as run:
        _run_layouts(_built(six), mesh, rules)
    assert str(planned.value) == str(run.value)
    first_moe = next(i for i in range(six.num_layers) if six.is_moe_layer(i))
    assert (f"block_{first_moe}/moe/wi_0 [6, 128, 512]: dimension 0 (expert, size 6)"
            in str(run.value))


def test_plan_refuses_the_batch_the_run_cannot_lay_out():
    mesh = sharding.make_mesh("batch:2,expert:4")
    mesh_sharding = sharding.Sharding(mesh, axes.rules_for(None, mesh.dim_names),
                                      log=lambda _: None)
    rows = tf.ones([3, 33], tf.int32)  # 3 rows on a 2-way batch axis
    refused = "dimension 0 (batch, size 3) is not divisible by mesh axis 'batch' of size 2"
    with pytest.raises(axes.ShardingError, match=r"dimension 0 \(batch, size 3\)") as run:
        mesh_sharding.shard_batch({"token_ids": rows, "segment_ids": rows})
    with pytest.raises(axes.ShardingError) as planned:
        plan.plan_training(CONFIG, "batch:2,expert:4", batch_size=3, seq_len=32)
    assert refused in str(run.value) and refused in str(planned.value)
