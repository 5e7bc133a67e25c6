"""`steps_per_loop` on a DTensor mesh: N stacked batches, one mesh function call.

One set of runs on batch:2,expert:4 serves every check (built once per module):
5 steps at one step per call; the same 5 steps at 3 per call (loops end at 3
and at 5, a shorter last loop; checkpoints at both); and that looped run
resumed from its step-3 checkpoint, as if killed right after saving it.
"""

import dataclasses
import os
import shutil

import numpy as np
import pytest
from tensorflow.experimental import dtensor

from glam_tf.training import checkpoints
from runs import RUN, decisive_router, host_weights, make_sharding, metrics, trainer

FIVE = dataclasses.replace(RUN, steps=5, eval_every=2, checkpoint_every=3)
LOOPED = dataclasses.replace(FIVE, steps_per_loop=3)


def _train_records(model_dir):
    return [{k: v for k, v in r.items() if k != "tokens_per_second"}
            for r in metrics(model_dir) if "loss" in r]


def _trained(model_dir, run):
    mesh_sharding = make_sharding("batch:2,expert:4")
    each = trainer(model_dir, run, mesh_sharding)
    if each.steps_done == 0:
        decisive_router(each)
    each.train()
    return each, host_weights(each.model, mesh_sharding)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("loops")
    one = _trained(root / "one", FIVE)
    three = _trained(root / "three", LOOPED)
    # The looped run as a kill right after its step-3 checkpoint leaves it.
    shutil.copytree(root / "three", root / "resumed")
    for path in checkpoints.file_steps(str(root / "resumed" / "checkpoints"))[5]:
        os.remove(path)
    resumed = _trained(root / "resumed", LOOPED)
    return root, one, three, resumed


def test_three_steps_per_loop_on_a_mesh_train_like_one_step_per_call(runs):
    root, (_, one_weights), (three, three_weights), _ = runs
    expected = _train_records(root / "one")
    got = _train_records(root / "three")
    assert [r["step"] for r in expected] == [r["step"] for r in got] == [1, 2, 3, 4, 5]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7,
                                       err_msg=f"step {a['step']} {key}")
    for index, (a, b) in enumerate(zip(three_weights, one_weights)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"variable {index}")
    # Validation and checkpoints at the ends of loops: eval_every=2 passes in
    # the loop ending at 3 and in the one ending at 5, checkpoint_every=3 at 3,
    # and the last step.
    validated = [r["step"] for r in metrics(root / "three") if "validation_cross_entropy" in r]
    assert validated == [3, 5]
    assert [p.rsplit("-", 1)[1] for p in three.checkpoints.checkpoints] == ["3", "5"]


def test_a_mesh_run_resumed_from_a_loop_end_checkpoint_continues_exactly(runs):
    root, _, (_, three_weights), (resumed, resumed_weights) = runs
    assert resumed.steps_done == 5
    assert _train_records(root / "resumed") == _train_records(root / "three")
    for index, (a, b) in enumerate(zip(resumed_weights, three_weights)):
        np.testing.assert_array_equal(a, b, err_msg=f"variable {index}")


def test_stacked_batches_keep_the_batch_layout_of_one_step():
    mesh_sharding = make_sharding("batch:2,expert:4")
    rows = [{"token_ids": np.arange(8 * 5, dtype=np.int32).reshape(8, 5) + 100 * n}
            for n in range(3)]
    stacked = mesh_sharding.shard_steps(rows)["token_ids"]
    assert dtensor.fetch_layout(stacked).sharding_specs == [dtensor.UNSHARDED, "batch",
                                                            dtensor.UNSHARDED]
    np.testing.assert_array_equal(mesh_sharding.to_host(stacked), np.stack(
        [r["token_ids"] for r in rows]))
    one = mesh_sharding.shard_batch(rows[1])["token_ids"]
    for step_shard, one_shard in zip(dtensor.unpack(stacked), dtensor.unpack(one)):
        np.testing.assert_array_equal(step_shard[1], one_shard)
