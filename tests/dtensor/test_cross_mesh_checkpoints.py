"""A checkpoint written on one mesh restores, shard by shard, onto another mesh or one device.

The checkpoint is the shared run's (`shared_mesh_run`: written on batch:2,expert:4
at step 3); each test restores a copy of its model dir.
"""

import dataclasses

import numpy as np
from tensorflow.experimental import dtensor

from runs import RUN, copy_of, make_sharding, state, trainer


def _assert_equal(got, expected):
    assert len(got) == len(expected)
    for index, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(a, b, err_msg=f"variable {index}")


def test_a_checkpoint_from_batch2_expert4_restores_on_batch4_expert2_and_on_one_device(
        tmp_path, shared_mesh_run):
    model_dir = copy_of(shared_mesh_run, tmp_path / "run")
    messages = []
    other_mesh = make_sharding("batch:4,expert:2")
    resumed = trainer(model_dir, RUN, other_mesh, log=messages.append)
    assert resumed.steps_done == RUN.steps
    _assert_equal(state(resumed, other_mesh), shared_mesh_run.state)
    # Restored straight into the new layout: each device holds E/2 experts.
    wi = next(v for v in resumed.model.variables if v.path.endswith("moe/wi_0"))
    assert {s.shape[0] for s in dtensor.unpack(wi.value.read_value())} == {4}
    # The input was cut into 2 batch shards and now 4: said, not hidden.
    assert any("split into other batch shards" in m for m in messages)

    one_device = trainer(model_dir, RUN)
    assert one_device.steps_done == RUN.steps
    _assert_equal(state(one_device), shared_mesh_run.state)


def test_one_device_resumes_a_mesh_run_with_its_data_position(tmp_path, shared_mesh_run):
    model_dir = copy_of(shared_mesh_run, tmp_path / "mesh")
    messages = []
    # One device reading the same two data shards picks up where the mesh stopped.
    resumed = trainer(model_dir, dataclasses.replace(RUN, steps=4), log=messages.append)
    assert resumed.steps_done == RUN.steps
    assert not any("split into other batch shards" in m for m in messages)
    straight = trainer(tmp_path / "straight", RUN)
    for _ in range(RUN.steps):
        next(straight.data)
    np.testing.assert_array_equal(next(resumed.data)["token_ids"],
                                  next(straight.data)["token_ids"])
