"""`steps_per_loop` on a DTensor mesh: N stacked batches, one mesh function call."""

import dataclasses

import numpy as np
from tensorflow.experimental import dtensor

from runs import RUN, decisive_router, host_weights, make_sharding, metrics, trainer

# 4 steps: loops of 3 end at steps 3 and 4 (a shorter last loop), and the
# checkpoint at step 3 is one loop's end.
FOUR = dataclasses.replace(RUN, steps=4, eval_every=2, checkpoint_every=3)


def _train_records(model_dir):
    return [{k: v for k, v in r.items() if k != "tokens_per_second"}
            for r in metrics(model_dir) if "loss" in r]


def _run(model_dir, run, until=None):
    mesh_sharding = make_sharding("batch:2,expert:4")
    each = trainer(model_dir, run if until is None else dataclasses.replace(run, steps=until),
                   mesh_sharding)
    if each.steps_done == 0:
        decisive_router(each)
    each.train()
    return each, mesh_sharding


def _assert_close_records(got, expected):
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7,
                                       err_msg=f"step {a['step']} {key}")


def test_three_steps_per_loop_on_a_mesh_train_like_one_step_per_call(tmp_path):
    one, one_sharding = _run(tmp_path / "one", FOUR)
    three, three_sharding = _run(tmp_path / "three", dataclasses.replace(FOUR, steps_per_loop=3))
    expected = _train_records(tmp_path / "one")
    assert [r["step"] for r in expected] == [1, 2, 3, 4]
    _assert_close_records(_train_records(tmp_path / "three"), expected)
    for a, b, v in zip(host_weights(three.model, three_sharding),
                       host_weights(one.model, one_sharding), one.model.variables):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=v.path)
    # Validation and checkpoints at the ends of loops: eval_every=2 passes in
    # the loop ending at 3, checkpoint_every=3 at 3, and the last step.
    validated = [r["step"] for r in metrics(tmp_path / "three") if "validation_cross_entropy" in r]
    assert validated == [3, 4]
    assert [p.rsplit("-", 1)[1] for p in three.checkpoints.checkpoints] == ["3", "4"]


def test_a_mesh_run_resumed_from_a_loop_end_checkpoint_continues_exactly(tmp_path):
    looped = dataclasses.replace(FOUR, steps_per_loop=3)
    _run(tmp_path / "whole", looped)
    first, _ = _run(tmp_path / "resumed", looped, until=3)
    assert first.checkpoints.latest_checkpoint.endswith("ckpt-3")
    resumed, _ = _run(tmp_path / "resumed", looped)
    assert resumed.steps_done == 4
    assert _train_records(tmp_path / "resumed") == _train_records(tmp_path / "whole")


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
