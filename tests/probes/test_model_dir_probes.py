"""A careless or hostile user's probe campaign through `glam` (issue 15).

Each probe is bad input: a flag, or a damaged copy of one small trained model
dir. Every probe must end with a non-zero exit, one `glam X: error:` line, no
traceback, and every directory it touched exactly as it was (hashed before and
after). They run in this process through `main()`; a few run as subprocesses
to show the real exit path.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from glam_tf.cli import main

# Flags that continue checkpointed_model_dir (its model and data settings).
STEPS = ["--steps", "7", "--checkpoint_every", "1", "--log_every", "1", "--eval_every", "100"]


def tree_hash(path) -> str:
    """Every name and byte below `path` ("absent" when there is nothing there)."""
    if not os.path.exists(path):
        return "absent"
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        digest.update(os.path.relpath(root, path).encode() + b"/\0")
        for name in sorted(files):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(root, name), "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def _truncate_all(model_dir):
    for root, _, files in os.walk(model_dir / "checkpoints"):
        for name in files:
            if ".data-" in name:
                path = os.path.join(root, name)
                with open(path, "r+b") as f:
                    f.truncate(os.path.getsize(path) // 2)


def _overwrite_all(model_dir):
    for name in os.listdir(model_dir / "checkpoints"):
        if ".data-" in name:
            with open(model_dir / "checkpoints" / name, "r+b") as f:
                f.seek(100)
                f.write(b"\x07" * 4096)


def _remove_checkpoint_files(model_dir):
    for name in os.listdir(model_dir / "checkpoints"):
        if name.startswith("ckpt-"):
            os.remove(model_dir / "checkpoints" / name)


def _write(relative, data):
    def damage(model_dir):
        (model_dir / relative).write_bytes(data)
    return damage


def _remove(relative):
    return lambda model_dir: os.remove(model_dir / relative)


# (id, damage to a copy of the model dir (None: a fresh, absent one), argv after
#  the command with {dir} for the model dir, words the error line must hold).
TRAIN_PROBES = [
    ("steps_0", None, ["--steps", "0"], "--steps 0: must be an integer >= 1"),
    ("learning_rate_inf", None, ["--learning_rate", "inf"], "--learning_rate inf"),
    ("learning_rate_nan", None, ["--learning_rate", "nan"], "--learning_rate nan"),
    ("learning_rate_negative", None, ["--learning_rate", "-1"], "finite number > 0"),
    # Negative numbers argparse took for options ("expected one argument"), and a
    # float64 that float32 cannot hold (numpy's overflow warning, then NaN).
    ("learning_rate_minus_inf", None, ["--learning_rate", "-inf"],
     "--learning_rate -inf: must be a finite number > 0"),
    ("learning_rate_negative_exponent", None, ["--learning_rate", "-1e-3"],
     "--learning_rate -0.001: must be a finite number > 0"),
    ("learning_rate_overflows_float32", None, ["--learning_rate", "1e300"],
     "--learning_rate 1e+300: must be in float32's range"),
    ("learning_rate_underflows_float32", None, ["--learning_rate", "1e-300"],
     "--learning_rate 1e-300: must be in float32's range"),
    ("steps_negative_exponent", None, ["--steps", "-1e3"],
     "argument --steps: invalid int value: '-1e3'"),
    ("virtual_devices_minus_inf", None, ["--virtual_devices", "-inf"],
     "argument --virtual_devices: invalid int value: '-inf'"),
    ("steps_per_loop_minus_inf", None, ["--steps_per_loop", "-inf"],
     "--steps_per_loop '-inf': must be an integer >= 1"),
    ("constant_steps_0", None, ["--constant_steps", "0"],
     "--constant_steps 0: must be an integer >= 1 (1 decays from the first step"),
    ("seed_negative", None, ["--seed", "-1"], "--seed -1: must be an integer in [0, 2**32 - 1]"),
    ("seq_len_0", None, ["--seq_len", "0"], "--seq_len 0: must be an integer >= 1"),
    ("seq_len_above_max", None, ["--seq_len", "512"], "above the model's max_seq_len 128"),
    ("batch_size_0", None, ["--batch_size", "0"], "--batch_size 0"),
    ("warmup_negative", None, ["--warmup_steps", "-1"], "--warmup_steps -1"),
    ("checkpoint_every_0", None, ["--checkpoint_every", "0"], "--checkpoint_every 0"),
    ("steps_per_loop_0", None, ["--steps_per_loop", "0"], "--steps_per_loop '0'"),
    ("virtual_devices_negative", None, ["--virtual_devices", "-3"], "--virtual_devices -3"),
    ("data_typo", None, ["--data", "embeded"], "data spec 'embeded'"),
    ("data_missing_files", None, ["--data", "files:/nonexistent/*.txt"], "/nonexistent/*.txt"),
    ("tokenizer_missing", None, ["--tokenizer", "/nonexistent/tok"], "--tokenizer /nonexistent"),
    ("tokenizer_too_large", None, ["--set", "vocab_size=300"], "--set vocab_size=512"),
    ("model_too_large_for_host", None, ["--preset", "glam_64b_64e", "--set", "vocab_size=512"],
     "GiB to train here"),
    ("model_dir_below_a_file", _write("notes.txt", b"x"), ["--model_dir_below", "notes.txt"],
     "notes.txt (Not a directory)"),
    ("tokenizer_removed", _remove("tokenizer.model"), [], "tokenizer.model is missing"),
    ("tokenizer_garbage", _write("tokenizer.model", b"not a model"), [],
     "is not a SentencePiece model"),
    ("config_garbage", _write("config.json", b"{nope"), [], "config.json is not valid JSON"),
    ("config_removed", _remove("config.json"), [], "config.json is missing"),
    ("train_json_garbage", _write("train.json", b"\xff\xfe"), [], "train.json is not valid"),
    ("checkpoints_truncated", _truncate_all, [], "no checkpoint in"),
    ("checkpoints_overwritten", _overwrite_all, [], "Checksum does not match"),
    ("checkpoint_files_gone", _remove_checkpoint_files, [], "no ckpt-N.index file"),
    ("other_learning_rate", lambda d: None, ["--learning_rate", "0.02"],
     "peak_learning_rate=0.01 (asked: 0.02)"),
    ("other_batch_size", lambda d: None, ["--batch_size", "4"], "batch_size=2 (asked: 4)"),
    ("other_model", lambda d: None, ["--set", "d_ff=64"], "d_ff=512 (asked: 64)"),
]


@pytest.fixture
def probe_dir(tmp_path, checkpointed_model_dir):
    def make(damage):
        directory = tmp_path / "model"
        if damage is not None:
            shutil.copytree(checkpointed_model_dir, directory)
            damage(directory)
        return directory
    return make


def _run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _assert_refused(code, err, command, words):
    errors = [line for line in err.splitlines() if line.startswith(f"glam {command}: error:")]
    assert code == 2 and "Traceback" not in err, err
    assert len(errors) == 1, err
    assert "Warning" not in err and "usage:" not in err, err
    assert words in errors[0], errors[0]


@pytest.mark.parametrize("damage,args,words", [p[1:] for p in TRAIN_PROBES],
                         ids=[p[0] for p in TRAIN_PROBES])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # e.g. numpy's overflow in a cast
def test_bad_train_input_is_one_line_and_leaves_the_model_dir_as_it_was(
        capsys, probe_dir, tokenizer, trained_model_args, damage, args, words):
    model_dir = probe_dir(damage)
    before = tree_hash(model_dir)
    # A fresh dir gets the session's tokenizer (not trained anew for each probe).
    tokenizer_flags = [] if damage or "--tokenizer" in args else ["--tokenizer", tokenizer]
    target = model_dir
    if "--model_dir_below" in args:  # the run's model dir is below this file
        target = model_dir / args[args.index("--model_dir_below") + 1] / "run"
        args = args[:args.index("--model_dir_below")]
    code, err = _run(capsys, ["train", *trained_model_args, *STEPS, *tokenizer_flags, *args,
                              "--model_dir", str(target)])
    _assert_refused(code, err, "train", words)
    assert tree_hash(model_dir) == before


EXPORT_PROBES = [
    ("checkpoints_truncated", _truncate_all, {}, "no checkpoint in"),
    ("checkpoint_files_gone", _remove_checkpoint_files, {}, "no checkpoint in"),
    ("config_removed", _remove("config.json"), {}, "config.json is missing"),
    ("base_is_a_file", lambda d: None, {"base_file": True}, "is a file, not a directory"),
    ("base_below_a_file", lambda d: None, {"base_file": True, "below": "sub"},
     "exports (Not a directory)"),
    ("name_is_a_file", lambda d: None, {"name_file": True}, "is a file, not a directory"),
    ("bad_name", lambda d: None, {"name": "a/b"}, "--name 'a/b'"),
]


@pytest.mark.parametrize("damage,how,words", [p[1:] for p in EXPORT_PROBES],
                         ids=[p[0] for p in EXPORT_PROBES])
def test_bad_export_input_is_one_line_and_writes_nothing(capsys, tmp_path, probe_dir, damage,
                                                         how, words):
    model_dir = probe_dir(damage)
    base = tmp_path / "exports"
    name = how.get("name", "glam")
    if how.get("base_file"):
        base.write_text("a file")
    if how.get("name_file"):
        base.mkdir()
        (base / name).write_text("a file")
    target = base / how["below"] if "below" in how else base
    before = (tree_hash(model_dir), tree_hash(base))
    code, err = _run(capsys, ["export", "--model_dir", str(model_dir), "--export_base",
                              str(target), "--name", name])
    _assert_refused(code, err, "export", words)
    assert (tree_hash(model_dir), tree_hash(base)) == before


@pytest.mark.parametrize("damage,words", [(_truncate_all, "no checkpoint in"),
                                          (_remove("tokenizer.model"), "tokenizer.model")],
                         ids=["checkpoints_truncated", "tokenizer_removed"])
def test_eval_of_a_damaged_model_dir_is_one_line(capsys, probe_dir, damage, words):
    model_dir = probe_dir(damage)
    before = tree_hash(model_dir)
    code, err = _run(capsys, ["eval", "--model_dir", str(model_dir), "--tasks", "lambada"])
    _assert_refused(code, err, "eval", words)
    assert tree_hash(model_dir) == before


def _glam(*args):
    return subprocess.run([sys.executable, "-m", "glam_tf.cli", *args], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_refusals_exit_2_with_one_line_from_a_real_process(tmp_path, probe_dir,
                                                           trained_model_args):
    model_dir = probe_dir(_remove("tokenizer.model"))
    before = tree_hash(model_dir)
    run = _glam("train", *trained_model_args, *STEPS, "--model_dir", str(model_dir))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.count("glam train: error:") == 1
    assert "tokenizer.model is missing" in run.stderr
    assert tree_hash(model_dir) == before

    # Unreachable TPU: TensorFlow's own error, as one line.
    fresh = tmp_path / "fresh"
    run = _glam("train", *trained_model_args, "--model_dir", str(fresh), "--steps", "1", "--tpu")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "glam train: error: --tpu (this VM): no TPU reachable" in run.stderr
    assert not fresh.exists()


def test_a_run_stopped_on_nan_before_any_checkpoint_reruns_there_with_a_lower_rate(
        capsys, tmp_path, tokenizer, trained_model_args):
    model_dir = tmp_path / "model"
    run = ["train", *trained_model_args, "--model_dir", str(model_dir), "--steps", "1",
           "--log_every", "1", "--tokenizer", tokenizer]
    code, err = _run(capsys, [*run, "--learning_rate", "1e38"])  # finite, but inf weights
    _assert_refused(code, err, "train", "step 1: ")
    assert "in this --model_dir or a new one" in err
    assert not (model_dir / "checkpoints").exists()
    config, tokenizer_bytes = (model_dir / "config.json").read_text(), \
        (model_dir / "tokenizer.model").read_bytes()

    assert main([*run, "--learning_rate", "0.01"]) == 0
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "has no checkpoint" in line]
    assert said == [f"{model_dir} has no checkpoint, so nothing trained is lost: starting it "
                    "again with the new settings (peak_learning_rate=1e+38 (asked: 0.01)), "
                    "keeping its tokenizer.model"], out
    assert json.loads((model_dir / "train.json").read_text())["peak_learning_rate"] == 0.01
    assert (model_dir / "config.json").read_text() == config
    assert (model_dir / "tokenizer.model").read_bytes() == tokenizer_bytes
    assert (model_dir / "checkpoints" / "ckpt-1.index").exists()
    assert not [p for p in os.listdir(model_dir) if p.startswith(".")]  # no temp copies left
