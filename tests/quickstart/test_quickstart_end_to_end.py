"""`glam quickstart` end to end, shortened: every artifact, a rerun that reuses, bad workdirs."""

import json
import os
import struct
import subprocess
import sys

import pytest

from glam_tf.cli import main
from glam_tf.quickstart.tasks import TASK_NAMES, quickstart_tasks

# A small budget: every stage, file and rerun path, not the scores (those need the
# default budget: benchmarks/quickstart_icl.py). 8 examples a task at 0, 1, 4 shots.
STEPS = 30
MAX_EXAMPLES = 8
ARGS = ["--steps", str(STEPS), "--minutes", "20", "--max_examples", str(MAX_EXAMPLES)]

# A fresh interpreter with TensorFlow and TF Text only (as a server would have).
LOAD_EXPORT = """
import sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["serving_default"](
    prompts=tf.constant(["a b c ->"]), max_new_tokens=tf.constant(4),
    temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
    seed=tf.constant(0))
print("COMPLETION=" + repr(out["completions"].numpy()[0].decode()))
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, capsys_module):
    workdir = tmp_path_factory.mktemp("quickstart") / "work"
    code = main(["quickstart", "--workdir", str(workdir), *ARGS])
    return workdir, code, capsys_module()


@pytest.fixture(scope="module")
def capsys_module():
    """Reads what the module's runs printed (module-scoped capture of sys.stdout)."""
    import io

    class Tee(io.StringIO):
        def isatty(self):
            return False

    buffer, original = Tee(), sys.stdout
    sys.stdout = buffer
    start = [0]

    def read():
        text = buffer.getvalue()[start[0]:]
        start[0] = len(buffer.getvalue())
        return text
    yield read
    sys.stdout = original


@pytest.mark.slow
def test_first_run_prints_one_line_per_stage_and_where_everything_is(first_run):
    workdir, code, output = first_run
    assert code == 0, output
    for k in range(1, 7):
        assert f"[{k}/6] " in output
    assert f"Everything is in {workdir}" in output
    assert "glam eval --model_dir" in output and "--tasks all --shots 0,1" in output
    assert "glam train --preset" in output
    assert f"source={workdir / 'export' / 'glam'},target=/models/glam" in output
    assert "tensorflow/serving" in output


@pytest.mark.slow
def test_checkpoint_exists_and_restores_the_trained_weights(first_run):
    from glam_tf.export.exporter import read_model_dir, restore_model

    workdir = first_run[0]
    config, _, _, checkpoint = read_model_dir(workdir / "model")
    assert checkpoint.endswith(f"ckpt-{STEPS}")
    model = restore_model(config, checkpoint)
    assert model.count_params() > 0
    assert (workdir / "model" / "tensorboard" / "train").is_dir()


@pytest.mark.slow
def test_the_tokenizer_is_the_projects_own_as_trained(first_run):
    """The quickstart no longer edits tokenizer.model (it used to drop the dummy prefix)."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((first_run[0] / "model" / "tokenizer.model").read_bytes())
    assert proto.normalizer_spec.add_dummy_prefix
    assert proto.trainer_spec.split_digits  # the lookup names are tokenized digit by digit


@pytest.mark.slow
def test_metrics_record_each_moe_layers_expert_load(first_run):
    records = [json.loads(line) for line in (first_run[0] / "model" / "metrics.jsonl")
               .read_text().splitlines()]
    loads = [r["expert_load"] for r in records if "expert_load" in r]
    assert len(loads) >= STEPS // 10
    for load in loads:
        assert len(load) == 2 and all(len(layer) == 8 for layer in load)  # glam_tiny
        assert all(abs(sum(layer) - 1) < 1e-3 for layer in load)


@pytest.mark.slow
def test_eval_json_scores_every_task_at_every_shot_count_with_its_chance(first_run):
    from glam_tf.quickstart.tasks import chance_levels

    saved = json.loads((first_run[0] / "eval" / "results.json").read_text())
    assert saved["model_step"] == STEPS and saved["shots"] == [0, 1, 4]
    assert saved["max_examples"] == MAX_EXAMPLES and saved["chance"] == chance_levels()
    assert {(r["task"], r["shots"]) for r in saved["results"]} == {
        (task, k) for task in TASK_NAMES for k in (0, 1, 4)}
    held_out = {t.name: len(list(t.eval_examples())) for t in quickstart_tasks()}
    for r in saved["results"]:
        assert r["num_examples"] == min(MAX_EXAMPLES, held_out[r["task"]])
        assert r["shots_used_mean"] == r["shots"]  # every shot fits in the 128-token window
        (value,) = [v for m, v in r["metrics"].items() if m in ("accuracy", "exact_match")]
        assert 0 <= value <= 1
    # The scores at the default budget are benchmarks/quickstart_icl.py's.


@pytest.mark.slow
def test_export_loads_in_a_fresh_process_and_completes_a_prompt(first_run):
    export = first_run[0] / "export" / "glam" / "1"
    assert (export / "saved_model.pb").is_file()
    assert (first_run[0] / "export" / "models.config").is_file()
    result = subprocess.run([sys.executable, "-I", "-c", LOAD_EXPORT, str(export)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    completion = result.stdout.split("COMPLETION=")[1].strip()
    assert len(eval(completion)) > 0  # repr of a non-empty str


@pytest.mark.slow
def test_png_is_a_valid_image_with_loss_and_expert_load_panels(first_run):
    data = (first_run[0] / "training.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 600  # the loss panel and two MoE layers' panels


@pytest.mark.slow
def test_report_holds_config_steps_losses_eval_table_completion_and_png(first_run):
    text = (first_run[0] / "report.md").read_text()
    assert "glam_tiny" in text and f"{STEPS} steps of {STEPS}" in text
    assert "train cross-entropy" in text and "validation cross-entropy" in text
    for task in TASK_NAMES:
        assert f"| {task} |" in text
    assert "Overall (4)" in text
    assert "June July August ->⟨" in text
    assert "![loss curves and per-expert load](training.png)" in text


@pytest.mark.slow
def test_second_run_reuses_every_stage_and_overwrites_nothing(first_run, capsys):
    workdir = first_run[0]
    kept = {p: p.stat().st_mtime_ns for p in [
        workdir / "model" / "tokenizer.model", workdir / "eval" / "results.json",
        workdir / "export" / "glam" / "1" / "saved_model.pb", workdir / "data" / "icl_train.jsonl"]}
    assert main(["quickstart", "--workdir", str(workdir), *ARGS]) == 0
    output = capsys.readouterr().out
    assert "reusing" in output and "tokenizer.model" in output
    assert f"reusing the trained model: step {STEPS}" in output
    assert "reusing " + str(workdir / "eval" / "results.json") in output
    assert "reusing the export " + str(workdir / "export" / "glam" / "1") in output
    assert "Resuming" not in output
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert not (workdir / "export" / "glam" / "2").exists()


@pytest.mark.slow
def test_more_steps_into_the_same_workdir_resume_training_from_the_checkpoint(first_run):
    """Continues first_run's model, so it is the module's last test that reads first_run
    (a copy cannot resume: the model's data setting names the workdir's absolute path)."""
    from glam_tf.quickstart import stages

    work = stages.Workdir(str(first_run[0]))
    logged = []
    stages.stage_tokenizer(work, logged.append)
    assert f"reusing {work.model}/tokenizer.model" in logged
    first_seconds = work.state["train"]["seconds"]
    done = stages.stage_train(work, STEPS + 2, 10, logged.append, logged.append)
    assert work.checkpoint_step() == STEPS + 2
    assert any(line.startswith(f"Resuming {work.model} from step {STEPS}") for line in logged)
    saved = json.loads((first_run[0] / "quickstart.json").read_text())["train"]
    assert saved == done and saved["steps"] == saved["target_steps"] == STEPS + 2
    assert saved["seconds"] > first_seconds  # the earlier run's time is carried over


def test_a_workdir_that_is_a_file_is_a_clear_error_and_stays_untouched(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    assert main(["quickstart", "--workdir", str(target)]) == 2
    error = capsys.readouterr().err
    assert f"--workdir {target} exists and is not a directory" in error
    assert "Traceback" not in error and target.read_text() == "keep me"


def test_a_workdir_below_a_file_is_a_clear_error_naming_the_path(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "work"
    assert main(["quickstart", "--workdir", str(target)]) == 2
    error = capsys.readouterr().err
    assert str(target) in error and "not writable" in error


def test_a_read_only_workdir_is_a_clear_error(unwritable_dir, capsys):
    target = unwritable_dir
    before = sorted(target.iterdir())
    assert main(["quickstart", "--workdir", str(target)]) == 2
    assert f"--workdir {target} is not writable" in capsys.readouterr().err
    assert sorted(target.iterdir()) == before