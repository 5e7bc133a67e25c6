"""`glam train` end to end, as a user runs it: subprocesses, SIGKILL, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ARGS = ["--preset", "glam_tiny", "--steps", "24", "--batch_size", "4", "--seq_len", "32",
        "--log_every", "1", "--eval_every", "12", "--checkpoint_every", "8",
        "--set", "vocab_size=512"]


def _glam(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "glam_tf.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, **kwargs)


def _losses(model_dir):
    with open(model_dir / "metrics.jsonl") as f:
        return {r["step"]: r["loss"] for r in map(json.loads, f) if "loss" in r}


@pytest.mark.slow
def test_run_killed_with_sigkill_resumes_with_the_uninterrupted_losses(tmp_path, tokenizer):
    # XLA loops of 4 steps: the mode with more to lose (a checkpoint at the end of a
    # compiled loop, the data iterator's place after it). One step per call resumes
    # with the same losses in test_trainer.py and test_steps_per_loop.py (in process).
    args = [*ARGS, "--steps_per_loop", "4", "--jit_compile"]  # checkpoints every 8 steps
    whole = _glam("train", "--model_dir", str(tmp_path / "whole"), "--tokenizer", tokenizer, *args)
    output, _ = whole.communicate(timeout=600)
    assert whole.returncode == 0, output
    expected = _losses(tmp_path / "whole")
    assert sorted(expected) == list(range(1, 25))

    killed_dir = tmp_path / "killed"
    run = _glam("train", "--model_dir", str(killed_dir), "--tokenizer", tokenizer, *args)
    # Killed once ckpt-8 is complete: its index written and the state file naming it.
    # (A kill between the two resumes from ckpt-8 as well: test_model_dir_recovery.py.)
    state = killed_dir / "checkpoints" / "checkpoint"
    complete = lambda: ((killed_dir / "checkpoints" / "ckpt-8.index").exists() and state.exists()
                        and '"ckpt-8"' in state.read_text())
    deadline = time.time() + 600
    while not complete() and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    logged = _losses(killed_dir)
    assert max(logged) < 24, "the run must be killed before it finishes"

    resumed = _glam("train", "--model_dir", str(killed_dir), "--tokenizer", tokenizer, *args)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    assert "Resuming" in output and "from step 8" in output
    assert _losses(killed_dir) == expected


@pytest.mark.slow
def test_cli_reports_bad_input_without_a_traceback(tmp_path, tokenizer):
    bad_set = _glam("train", "--model_dir", str(tmp_path / "a"), "--steps", "1",
                    "--set", "d_model=big")
    output, _ = bad_set.communicate(timeout=300)
    assert bad_set.returncode == 2 and "Traceback" not in output
    assert "GlamConfig.d_model='big': cannot be read as type int" in output

    missing = _glam("train", "--model_dir", str(tmp_path / "b"), "--steps", "1",
                    "--data", f"files:{tmp_path}/nothing-*.txt", "--tokenizer", tokenizer,
                    "--set", "vocab_size=512")
    output, _ = missing.communicate(timeout=300)
    assert missing.returncode == 2 and "nothing-*.txt" in output and "Traceback" not in output


@pytest.mark.slow
def test_glam_train_on_a_virtual_mesh_logs_the_layout_of_every_weight(tmp_path, tokenizer):
    run = _glam("train", "--preset", "glam_tiny", "--virtual_devices", "8", "--mesh",
                "batch:2,expert:4", "--steps", "5", "--batch_size", "4", "--seq_len", "32",
                "--model_dir", str(tmp_path / "run"), "--tokenizer", tokenizer,
                "--set", "vocab_size=512", "--set", "group_size=64")
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    assert "Mesh {'batch': 2, 'expert': 4}" in output
    assert "block_1/moe/wi_0" in output and "['expert', 'unsharded', 'unsharded']" in output
    assert "step 5/5" in output and "Done: 5 steps" in output

    too_big = _glam("train", "--virtual_devices", "8", "--mesh", "batch:4,expert:4",
                    "--steps", "1", "--model_dir", str(tmp_path / "other"))
    output, _ = too_big.communicate(timeout=300)
    assert too_big.returncode == 2 and "Traceback" not in output
    assert "mesh 'batch:4,expert:4' has 16 devices but there are 8 CPU devices" in output
