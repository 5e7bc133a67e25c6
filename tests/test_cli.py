import subprocess
import sys

import pytest

from glam_tf.presets import PRESETS


def _glam(*args):
    return subprocess.run([sys.executable, "-m", "glam_tf.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_glam_presets_lists_every_preset_with_its_sizes():
    result = _glam("presets")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in PRESETS:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert "1.16T" in result.stdout and "96.6B" in result.stdout


def test_glam_help_and_missing_command():
    assert "presets" in _glam("--help").stdout
    result = _glam()
    assert result.returncode == 2 and "required" in result.stderr


def _glam_in_8gb(tmp_path, *args):
    """glam in a fresh process limited to 8 GB of address space, importtime on."""
    command = " ".join([sys.executable, "-X", "importtime", "-m", "glam_tf.cli", *args])
    return subprocess.run(["bash", "-c", f"ulimit -v 8000000; exec {command}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_dry_run_of_the_largest_preset_fits_in_8_gb_imports_no_tensorflow_writes_nothing(
        tmp_path):
    model_dir = tmp_path / "run"
    result = _glam_in_8gb(tmp_path, "train", "--preset", "glam_64b_64e", "--mesh",
                          "batch:64,expert:64", "--dry_run", "--model_dir", str(model_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "glam_64b_64e (1.16T parameters) on mesh batch:64,expert:64, 4096 devices" in out
    assert "every rule divides all 642 weights" in out and "Batch 64 x 1024 tokens" in out
    for part in ("weights (float32)", "gradients (float32)", "optimizer state (adafactor)",
                 "activations (estimate)", "total"):
        assert any(line.strip().startswith(part) and line.endswith(" GiB")
                   for line in out.splitlines()), part
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "glam_tf.plan" in imported
    assert not [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]
    assert list(tmp_path.iterdir()) == []  # no --model_dir, nothing else either


def test_dry_run_flags_what_does_not_fit_the_device_memory_with_exit_1(tmp_path):
    result = _glam_in_8gb(tmp_path, "train", "--preset", "glam_64b_64e", "--mesh",
                          "batch:64,expert:64", "--dry_run", "--device_memory", "32GiB",
                          "--optimizer", "adam")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "optimizer state (adam)" in result.stdout
    assert "DOES NOT FIT in 32.00 GiB per device" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("--mesh", "batch:64,expert:48"),
     "glam train: error: block_0/moe/wi_0 [64, 8192, 32768]: dimension 0 (expert, size 64) is "
     "not divisible by mesh axis 'expert' of size 48 (rule expert:expert)"),
    (("--mesh", "batch:64,expert:64", "--device_memory", "32"),
     "glam train: error: --device_memory '32': give a size > 0 with a unit"),
    (("--mesh", "auto"), "glam train: error: --dry_run needs an explicit --mesh"),
])
def test_dry_run_of_bad_input_is_one_clear_error(tmp_path, args, message):
    result = _glam("train", "--preset", "glam_64b_64e", "--dry_run", *args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout


def test_train_without_a_model_dir_is_refused_unless_dry_run():
    result = _glam("train", "--preset", "glam_tiny")
    assert result.returncode == 2
    assert "--model_dir and --steps required (only --dry_run runs without)" in result.stderr


def test_presets_on_a_mesh_mark_the_presets_it_cannot_lay_out_and_say_why():
    result = _glam("presets", "--mesh", "batch:1,expert:64,model:16")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert rows["glam_64b_64e"][-1] == "37.8" and rows["glam_1.7b_32e"][-1] == "-"
    assert ("glam_1.7b_32e: block_0/moe/wi_0 [32, 2048, 8192]: dimension 0 (expert, size 32)"
            in result.stdout)


def test_main_run_again_in_one_process_logs_each_line_once(capsys):
    import logging

    from glam_tf.cli import main

    for _ in range(3):
        assert main(["presets"]) == 0
    capsys.readouterr()
    logging.getLogger("glam_tf.test").info("one line")
    assert capsys.readouterr().err.splitlines() == ["one line"]


def test_argparse_refusals_are_one_line_and_main_returns_their_exit_code(capsys):
    from glam_tf.cli import main

    assert main(["train", "--steps", "-1e3"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "glam train: error: argument --steps: invalid int value: '-1e3' (see glam train --help)"]
    assert main(["--help"]) == 0 and "presets" in capsys.readouterr().out
