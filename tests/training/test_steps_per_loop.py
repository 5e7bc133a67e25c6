"""`steps_per_loop`: several steps per tf.function call, with per-step results and exact resume."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from glam_tf.config import ConfigError
from glam_tf.training.run_config import TrainConfig
from glam_tf.training.trainer import Trainer, _check_step_options, check_model_dir
from test_trainer import RUN, SMALL, _counting_data, _metrics, _trainer

QUIET = dict(log=lambda _: None)


def _train_records(model_dir):
    """Training lines of metrics.jsonl without their speed (the one thing that varies)."""
    return [{k: v for k, v in r.items() if k != "tokens_per_second"}
            for r in _metrics(model_dir) if "loss" in r]


def test_a_loop_of_steps_logs_the_same_metrics_as_one_step_per_call(tmp_path):
    run = dataclasses.replace(RUN, log_every=1)
    _trainer(tmp_path / "one", SMALL, run).train()
    # 12 steps in loops of 5, 5 and 2: every step still gets its own line.
    _trainer(tmp_path / "five", SMALL, dataclasses.replace(run, steps_per_loop=5)).train()
    expected = _train_records(tmp_path / "one")
    assert [r["step"] for r in expected] == list(range(1, 13))
    assert _train_records(tmp_path / "five") == expected


def test_validation_and_checkpoints_round_up_to_the_end_of_a_loop(tmp_path):
    # eval_every=6 and checkpoint_every=4 with loops ending at steps 5, 10, 12.
    trainer = _trainer(tmp_path, SMALL, dataclasses.replace(RUN, steps_per_loop=5))
    trainer.train()
    validated = [r["step"] for r in _metrics(tmp_path) if "validation_cross_entropy" in r]
    assert validated == [10, 12]
    kept = [path.rsplit("-", 1)[1] for path in trainer.checkpoints.checkpoints]
    assert kept == ["5", "10", "12"]
    assert [r["step"] for r in _metrics(tmp_path) if "loss" in r] == [2, 4, 6, 8, 10, 12]


def test_run_resumed_with_another_steps_per_loop_logs_the_uninterrupted_losses(tmp_path):
    _trainer(tmp_path / "whole", SMALL, dataclasses.replace(RUN, steps_per_loop=4)).train()
    # Stopped at a checkpoint after loops of 3 steps (4 is crossed at step 6),
    # then resumed in loops of 4 (steps 7-10, 11-12).
    first = _trainer(tmp_path / "resumed", SMALL,
                     dataclasses.replace(RUN, steps=6, steps_per_loop=3))
    first.train()
    assert first.checkpoints.latest_checkpoint.endswith("ckpt-6")
    messages = []
    _trainer(tmp_path / "resumed", SMALL, dataclasses.replace(RUN, steps_per_loop=4),
             log=messages.append).train()
    assert messages[0].startswith(f"Resuming {tmp_path / 'resumed'} from step 6")
    assert _train_records(tmp_path / "resumed") == _train_records(tmp_path / "whole")


def _one_poisoned_batch(poisoned_step, token):
    """datasets() whose batch number `poisoned_step` (1-based) alone holds `token`."""
    def datasets(train_config):
        train, validation = _counting_data(train_config)
        ids = tf.data.Dataset.range(1 << 20)

        def mark(index, batch):
            hit = tf.equal(index, poisoned_step - 1)
            first = tf.where(hit, token, batch["token_ids"][0, 0])
            token_ids = tf.tensor_scatter_nd_update(batch["token_ids"], [[0, 0]], [first])
            return {**batch, "token_ids": token_ids}
        return tf.data.Dataset.zip(ids, train).map(mark), validation
    return datasets


@pytest.mark.parametrize("jit", [False, True], ids=["plain", "xla"])
def test_a_nan_step_inside_a_loop_is_skipped_alone(tmp_path, jit):
    # Untied embeddings: a NaN row of the input embedding reaches only the
    # batches that hold its token (tied, it would also be every softmax logit).
    config = dataclasses.replace(SMALL, tie_embeddings=False)
    token = SMALL.vocab_size - 1  # _counting_data never produces it
    data = _one_poisoned_batch(poisoned_step=2, token=token)
    results = {}
    for loop in (1, 4):
        run = dataclasses.replace(RUN, steps_per_loop=loop, jit_compile=jit)
        check_model_dir(str(tmp_path / str(loop)), config, run)
        keras.utils.set_random_seed(run.seed)
        trainer = Trainer(str(tmp_path / str(loop)), config, run, *data(run), **QUIET)
        poisoned = trainer.model.embedding.numpy()
        poisoned[token] = np.nan
        trainer.model.embedding.assign(poisoned)
        outputs = [o for _ in range(4 // loop) for o in trainer.train_steps(loop)]
        results[loop] = trainer, outputs
    trainer, outputs = results[4]
    assert [int(o.skipped) for o in outputs] == [0, 1, 1, 1]
    assert [int(o.iterations) for o in outputs] == [1, 1, 2, 3]
    assert not np.isfinite(outputs[1].parts["loss"])
    assert all(np.isfinite(o.parts["loss"]) for k, o in enumerate(outputs) if k != 1)
    single, single_outputs = results[1]
    finite = lambda outs: [float(o.parts["loss"]) for k, o in enumerate(outs) if k != 1]
    assert finite(outputs) == finite(single_outputs)
    for weight, expected in zip(trainer.model.weights, single.model.weights):
        # NaN only in the poisoned row, in both runs (assert_array_equal matches NaNs).
        np.testing.assert_array_equal(weight.numpy(), expected.numpy(), err_msg=weight.path)


def test_time_limit_stops_at_the_end_of_a_loop(tmp_path):
    trainer = _trainer(tmp_path, SMALL, dataclasses.replace(RUN, steps_per_loop=4))
    trainer.train(time_limit=0.0)
    assert trainer.stopped_early and trainer.steps_done == 4
    assert trainer.checkpoints.latest_checkpoint.endswith("ckpt-4")


def test_steps_per_loop_and_jit_compile_are_validated_and_not_data_settings():
    with pytest.raises(ConfigError, match="--steps_per_loop 0"):
        TrainConfig(steps=1, steps_per_loop=0)
    with pytest.raises(ConfigError, match="--jit_compile .yes."):
        TrainConfig(steps=1, jit_compile="yes")
    # They change how steps run, not which batches: a run may resume with them changed.
    assert TrainConfig(steps=1, steps_per_loop=8, jit_compile=True).data_identity() == \
        TrainConfig(steps=1).data_identity()


def test_jit_compile_is_refused_on_a_mesh_with_a_clear_error_and_loops_are_not():
    mesh = object()  # any sharding: the check only asks whether there is one
    with pytest.raises(ValueError, match="jit_compile does not apply on a DTensor mesh"):
        _check_step_options(TrainConfig(steps=1, steps_per_loop=4, jit_compile=True), mesh)
    _check_step_options(TrainConfig(steps=1, steps_per_loop=4), mesh)
    _check_step_options(TrainConfig(steps=1, steps_per_loop=4, jit_compile=True), None)


def test_glam_train_rejects_a_bad_steps_per_loop_in_one_line(tmp_path, capsys):
    from glam_tf.cli import main

    for bad in ("0", "-2", "2.5", "ten"):
        assert main(["train", "--model_dir", str(tmp_path / "run"), "--steps", "1",
                     "--steps_per_loop", bad]) == 2
        error = capsys.readouterr().err
        assert error == f"glam train: error: --steps_per_loop {bad!r}: must be an integer >= 1\n"
    assert not (tmp_path / "run").exists()
