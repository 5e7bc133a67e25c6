"""A checkpoint written on one mesh restores, shard by shard, onto another mesh or one device."""

import dataclasses

import numpy as np
from tensorflow.experimental import dtensor

from runs import RUN, make_sharding, trainer


def _state(run, mesh_sharding=None):
    """Host values of every model and optimizer variable, in order."""
    variables = list(run.model.variables) + list(run.optimizer.variables)
    if mesh_sharding:
        return [mesh_sharding.to_host(v.value).numpy() for v in variables]
    return [v.numpy() for v in variables]


def _assert_equal(got, expected):
    assert len(got) == len(expected)
    for index, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(a, b, err_msg=f"variable {index}")


def test_a_checkpoint_from_batch2_expert4_restores_on_batch4_expert2_and_on_one_device(
        tmp_path):
    written_on = make_sharding("batch:2,expert:4")
    first = trainer(tmp_path, RUN, written_on)
    first.train()
    expected = _state(first, written_on)

    messages = []
    other_mesh = make_sharding("batch:4,expert:2")
    resumed = trainer(tmp_path, RUN, other_mesh, log=messages.append)
    assert resumed.steps_done == RUN.steps
    _assert_equal(_state(resumed, other_mesh), expected)
    # Restored straight into the new layout: each device holds E/2 experts.
    wi = next(v for v in resumed.model.variables if v.path.endswith("moe/wi_0"))
    assert {s.shape[0] for s in dtensor.unpack(wi.value.read_value())} == {4}
    # The input was cut into 2 batch shards and now 4: said, not hidden.
    assert any("split into other batch shards" in m for m in messages)

    one_device = trainer(tmp_path, RUN)
    assert one_device.steps_done == RUN.steps
    _assert_equal(_state(one_device), expected)


def test_one_device_resumes_a_mesh_run_with_its_data_position(tmp_path):
    mesh_sharding = make_sharding("batch:2,expert:4")
    trainer(tmp_path / "mesh", dataclasses.replace(RUN, steps=2, checkpoint_every=2),
            mesh_sharding).train()
    messages = []
    # One device reading the same two data shards picks up where the mesh stopped.
    resumed = trainer(tmp_path / "mesh", RUN, log=messages.append)
    assert resumed.steps_done == 2
    assert not any("split into other batch shards" in m for m in messages)
    straight = trainer(tmp_path / "straight", RUN)
    for _ in range(2):
        next(straight.data)
    np.testing.assert_array_equal(next(resumed.data)["token_ids"],
                                  next(straight.data)["token_ids"])
