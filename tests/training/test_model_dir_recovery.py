"""Damaged model dirs and killed runs (issue 15): work is never lost or replaced in silence.

Each test copies the session's checkpointed_model_dir (ckpt-3, 4 and 5 of a
glam_tiny run), damages it as a crash or a user would, and runs `glam` on it.
"""

import json
import logging
import os
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

from glam_tf.cli import main
from glam_tf.export import exporter
from glam_tf.training import checkpoints

STEPS = ["--checkpoint_every", "1", "--log_every", "1", "--eval_every", "100"]


@pytest.fixture
def model_dir(tmp_path, checkpointed_model_dir):
    directory = tmp_path / "model"
    shutil.copytree(checkpointed_model_dir, directory)
    return directory


def _train(capsys, model_dir, args, steps):
    code = main(["train", *args, *STEPS, "--steps", str(steps), "--model_dir", str(model_dir)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _train_steps(model_dir):
    """Steps of metrics.jsonl's training records, in file order."""
    lines = (model_dir / "metrics.jsonl").read_text().splitlines()
    return [r["step"] for r in map(json.loads, lines) if "loss" in r]


def _corrupt(path, how):
    with open(path, "r+b") as f:
        if how == "truncated":
            f.truncate(os.path.getsize(path) // 2)
        else:
            f.seek(100)
            f.write(b"\x07" * 4096)


def test_a_truncated_newest_checkpoint_is_skipped_by_name_and_training_resumes_before_it(
        capsys, model_dir, trained_model_args):
    data = model_dir / "checkpoints" / "ckpt-5.data-00000-of-00001"
    _corrupt(data, "truncated")
    code, output = _train(capsys, model_dir, trained_model_args, 6)
    assert code == 0, output
    assert "Skipping ckpt-5.index, ckpt-5.data-00000-of-00001" in output
    assert "truncated" in output and "Resuming" in output and "from step 4" in output
    assert _train_steps(model_dir) == [3, 4, 5, 6]  # one record per logged step


def test_an_unreadable_state_file_or_one_a_save_behind_resumes_from_the_newest_checkpoint(
        capsys, model_dir, trained_model_args):
    directory = model_dir / "checkpoints"
    (directory / "checkpoint").write_text("garbage {{")
    # What killed saves leave, beside a file of the user's.
    (directory / f"checkpoint.tmp{'a' * 32}").write_text("half")
    (directory / "data" / f"checkpoint.tmp{'b' * 32}").write_text("half")
    (directory / "ckpt-6_temp").mkdir()
    (directory / "ckpt-6_temp" / "part-00000-of-00001.index").write_text("")
    (directory / "notes.txt").write_text("mine")
    # ... and what killed writes of the model dir's own files leave (glam_tf.fileio's names).
    for name in (".train.json.tmp", ".metrics.jsonl.tmp", f".tokenizer.model.tmp-{'c' * 12}"):
        (model_dir / name).write_text("half")
    (model_dir / ".notes.txt.tmp").write_text("mine")
    code, output = _train(capsys, model_dir, trained_model_args, 6)
    assert code == 0 and "is unreadable" in output and "from step 5" in output, output
    assert sorted(os.listdir(directory)) == [
        "checkpoint", "ckpt-4.data-00000-of-00001", "ckpt-4.index",
        "ckpt-5.data-00000-of-00001", "ckpt-5.index", "ckpt-6.data-00000-of-00001",
        "ckpt-6.index", "data", "notes.txt"]  # the state file repaired: ckpt-3 deleted in turn
    assert not any(name.startswith("checkpoint.tmp") for name in os.listdir(directory / "data"))
    assert sorted(n for n in os.listdir(model_dir) if n.startswith(".")) == [".notes.txt.tmp"]

    # Killed between ckpt-6.index and the state file's update: it still names ckpt-5.
    (directory / "checkpoint").write_text('model_checkpoint_path: "ckpt-5"\n'
                                          'all_model_checkpoint_paths: "ckpt-4"\n'
                                          'all_model_checkpoint_paths: "ckpt-5"\n')
    code, output = _train(capsys, model_dir, trained_model_args, 7)
    assert code == 0, output
    assert "names ckpt-5, not the newest one, ckpt-6" in output and "from step 6" in output
    assert _train_steps(model_dir) == [3, 4, 5, 6, 7]


def test_a_failed_first_start_leaves_nothing_and_its_own_advice_then_works(
        capsys, tmp_path, tokenizer, trained_model_args):
    model_dir = tmp_path / "fresh"
    for bad, words in ((["--data", "embeded"], "embeded"),
                       (["--data", f"files:{tmp_path}/none/*.txt"], "none/*.txt"),
                       (["--set", "vocab_size=300"], "use --set vocab_size=512")):
        code, output = _train(capsys, model_dir, [*trained_model_args, "--tokenizer", tokenizer,
                                                  *bad], 1)
        assert code == 2 and words in output, output
        assert not model_dir.exists()
    code, output = _train(capsys, model_dir, [*trained_model_args, "--tokenizer", tokenizer], 1)
    assert code == 0, output
    assert json.loads((model_dir / "train.json").read_text())["data"] == "embedded"


def test_export_and_eval_restore_the_newest_checkpoint_that_restores(capsys, model_dir):
    from glam_tf.evaluation.backends import ModelDirBackend

    _corrupt(model_dir / "checkpoints" / "ckpt-5.data-00000-of-00001", "overwritten")
    config, _, _, newest = exporter.read_model_dir(model_dir)
    assert newest == str(model_dir / "checkpoints" / "ckpt-5")
    lines, warnings = [], []
    tensorflow_log = logging.getLogger("tensorflow")
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    tensorflow_log.addHandler(handler)
    try:
        model = exporter.restore_model(config, newest, log=lines.append)
    finally:
        tensorflow_log.removeHandler(handler)
    assert len(lines) == 1 and "Skipping ckpt-5.index" in lines[0] and "Checksum" in lines[0]
    # Not buried under TensorFlow's warning per optimizer value the failed attempt left.
    assert not [w for w in warnings if "unrestored values" in w or "could not be found" in w]
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints" / "ckpt-4"))
    key = next(k for k in reader.get_variable_to_shape_map() if k.startswith("model/")
               and tuple(reader.get_variable_to_shape_map()[k]) == tuple(model.embedding.shape))
    np.testing.assert_array_equal(model.embedding.numpy(), reader.get_tensor(key))
    ModelDirBackend(str(model_dir))  # eval's backend: the same fallback, said on stderr
    assert "Skipping ckpt-5.index" in capsys.readouterr().err


def test_export_refuses_a_checkpoint_whose_weights_are_not_finite(model_dir):
    config, _, _, newest = exporter.read_model_dir(model_dir)
    model = exporter.restore_model(config, newest)
    poisoned = model.embedding.numpy()
    poisoned[7, 3] = np.inf
    model.embedding.assign(poisoned)
    checkpoint = tf.train.Checkpoint(model=model)
    checkpoint.save_counter  # noqa: B018 (made on first use; the trainer's checkpoints hold it)
    checkpoint.write(str(model_dir / "checkpoints" / "ckpt-9"))
    newest = exporter.read_model_dir(model_dir)[3]
    with pytest.raises(checkpoints.CheckpointError, match="ckpt-9 holds NaN or Inf in 1 weights"):
        exporter.restore_model(config, newest)


def test_killed_exports_temporary_versions_are_removed_and_running_ones_kept(tmp_path):
    base = tmp_path / "glam"
    old, running = base / ".tmp-3-0123456789ab", base / ".tmp-3-ba9876543210"
    for directory in (old, running, base / ".tmp-keep"):
        (directory / "variables").mkdir(parents=True)
        (directory / "variables" / "variables.index").write_text("x")
    hours_ago = time.time() - 2 * 3600
    for path in (old, old / "variables", old / "variables" / "variables.index"):
        os.utime(path, (hours_ago, hours_ago))
    assert exporter.remove_stale_exports(str(base), log=lambda _: None) == [str(old)]
    assert sorted(os.listdir(base)) == [".tmp-3-ba9876543210", ".tmp-keep"]


def test_checkpoint_data_without_any_index_or_state_file_is_refused_not_trained_over(
        capsys, model_dir, trained_model_args):
    directory = model_dir / "checkpoints"
    for name in os.listdir(directory):
        if name.endswith(".index") or name == "checkpoint":
            os.remove(directory / name)
    data = sorted(n for n in os.listdir(directory) if ".data-" in n)
    before = {n: (directory / n).read_bytes() for n in data}
    code, output = _train(capsys, model_dir, trained_model_args, 6)
    assert code == 2, output
    assert f"{directory} holds files of the checkpoints of steps 3, 4, 5" in output
    assert "no ckpt-N.index of the model's" in output and "Starting" not in output
    assert {n: (directory / n).read_bytes() for n in data} == before

    # A save killed before the first checkpoint was whole leaves one step's files: a new start.
    for name in os.listdir(directory):
        if name.startswith(("ckpt-3.", "ckpt-4.")):
            os.remove(directory / name)
    shutil.rmtree(directory / "data")
    code, output = _train(capsys, model_dir, trained_model_args, 1)
    assert code == 0 and "from step 0" in output, output
