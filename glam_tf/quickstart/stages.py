"""The quickstart's stages, each reusing what an earlier run left in the workdir.

    WORKDIR/quickstart.json        what each finished stage did (the record of reuse)
    WORKDIR/data/icl_train.jsonl   the in-context-learning component (training text)
    WORKDIR/model/                 a `glam train` model directory
    WORKDIR/eval/results.json      few-shot scores of the built-in tasks, with chance levels
    WORKDIR/export/glam/N/         the TF Serving model version; export/models.config
    WORKDIR/training.png, WORKDIR/report.md

A stage's output is reused when quickstart.json says it was made from the
model's current checkpoint step; training resumes from the latest checkpoint.
Nothing existing is overwritten: a new export is a new version.
"""

from __future__ import annotations

import json
import os
import time

from glam_tf import fileio
from glam_tf.quickstart import icl_data

PRESET = "glam_tiny"
BATCH_SIZE = 8
SHOTS = (0, 1, 4)
EXPORT_NAME = "glam"
ICL_WEIGHT = 2.0  # documents drawn from the ICL component per embedded document
STATE_FILE = "quickstart.json"


class WorkdirError(ValueError):
    """The workdir cannot hold a quickstart run (not a directory, not writable, foreign)."""


def check_workdir(workdir) -> str:
    """The absolute workdir, created if needed, after proving that it takes a file."""
    path = fileio.absolute(workdir)
    if fileio.exists(path) and not fileio.isdir(path):
        raise WorkdirError(f"--workdir {path} exists and is not a directory")
    try:
        fileio.check_writable(path)
    except OSError as error:
        raise WorkdirError(f"--workdir {path} is not writable ({error.strerror or error}): "
                           "give a directory you can write to") from None
    return path


class Workdir:
    """Paths of a quickstart run and its quickstart.json state."""

    def __init__(self, root):
        self.root = root
        self.data = os.path.join(root, "data", "icl_train.jsonl")
        self.model = os.path.join(root, "model")
        self.eval = os.path.join(root, "eval", "results.json")
        self.export_base = os.path.join(root, "export")
        self.png = os.path.join(root, "training.png")
        self.report = os.path.join(root, "report.md")
        self.state_path = os.path.join(root, STATE_FILE)
        self.state = {}
        if fileio.exists(self.state_path):
            self.state = json.loads(fileio.read_text(self.state_path))

    @property
    def data_spec(self) -> str:
        return f"mix:embedded=1,files:{self.data}={ICL_WEIGHT:g}"

    def record(self, stage: str, **values):
        self.state[stage] = values
        fileio.write_atomic(self.state_path, json.dumps(self.state, indent=2, sort_keys=True))

    def checkpoint_step(self):
        """The step of the model's latest checkpoint, or None."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(os.path.join(self.model, "checkpoints"))
        return None if latest is None else int(latest.rsplit("-", 1)[1])


def model_config():
    from glam_tf.presets import get_preset
    return get_preset(PRESET)


def train_config(work: Workdir, steps: int):
    from glam_tf.training.run_config import TrainConfig

    config = model_config()
    return TrainConfig(steps=steps, batch_size=BATCH_SIZE, seq_len=config.max_seq_len,
                       data=work.data_spec, log_every=10, eval_every=100,
                       checkpoint_every=100)


def write_icl_data(work: Workdir, say) -> None:
    """data/icl_train.jsonl: written once; an existing one must hold the same text."""
    text = "".join(json.dumps({"text": d}) + "\n" for d in icl_data.training_documents())
    if fileio.exists(work.data):
        if fileio.read_text(work.data) != text:
            raise WorkdirError(f"{work.data} holds other in-context-learning data than "
                               "this version of glam-tf writes: use a new --workdir")
        say(f"reusing {work.data}")
        return
    fileio.makedirs(os.path.dirname(work.data))
    fileio.write_atomic(work.data, text)


def stage_tokenizer(work: Workdir, say) -> str:
    """Writes the ICL component and trains the SentencePiece model on the training mix."""
    from glam_tf.data import parse_data_spec
    from glam_tf.tokenizer import MODEL_FILENAME
    from glam_tf.training.command import prepare_tokenizer

    write_icl_data(work, say)
    path = os.path.join(work.model, MODEL_FILENAME)
    if fileio.exists(path):
        say(f"reusing {path}")
    prepare_tokenizer(work.model, model_config(), parse_data_spec(work.data_spec), log=say)
    return path


def stage_train(work: Workdir, steps: int, minutes: float, say, log) -> dict:
    """Trains glam_tiny up to `steps` or for `minutes`, whichever ends first."""
    from glam_tf.training.command import run_train

    done = work.state.get("train")
    current = work.checkpoint_step()
    if done and current == done["steps"] and steps <= done["target_steps"]:
        say(f"reusing the trained model: step {current} in {work.model}")
        return done
    start = time.monotonic()
    run_train(work.model, model_config(), train_config(work, steps), log=log,
              time_limit=minutes * 60)
    step = work.checkpoint_step()
    seconds = time.monotonic() - start + (done or {}).get("seconds", 0.0) * bool(current)
    work.record("train", steps=step, target_steps=steps, seconds=seconds,
                stopped_early=step < steps)
    return work.state["train"]


def stage_eval(work: Workdir, step: int, say, max_examples=None) -> dict:
    """Few-shot scores of the built-in tasks through `glam eval`'s evaluator."""
    from glam_tf.evaluation.backends import ModelDirBackend
    from glam_tf.evaluation.evaluator import evaluate_all
    from glam_tf.quickstart.tasks import chance_levels, quickstart_tasks

    if fileio.exists(work.eval):
        saved = json.loads(fileio.read_text(work.eval))
        if saved.get("model_step") == step and saved.get("max_examples") == max_examples:
            say(f"reusing {work.eval} (scored at step {step})")
            return saved
    backend = ModelDirBackend(work.model, batch_size=32)
    results = evaluate_all(quickstart_tasks(), backend, list(SHOTS), seed=0,
                           max_examples=max_examples)
    output = {"model_step": step, "shots": list(SHOTS), "seed": 0,
              "max_examples": max_examples, "chance": chance_levels(),
              "results": [{k: v for k, v in r.items() if k != "predictions"}
                          for r in results]}
    fileio.makedirs(os.path.dirname(work.eval))
    fileio.write_atomic(work.eval, json.dumps(output, indent=2))
    return output


def sample_prompts() -> list:
    """A held-out successor example (months), a held-out category question, plain English."""
    months = [e for e in icl_data.task_examples("successor", "held_out")
              if e["answer"] in icl_data.ORDERED_LISTS["months"]]
    category = icl_data.task_examples("category", "held_out")[0]
    return [months[0]["prompt"], category["prompt"], "The function returns"]


def stage_export(work: Workdir, step: int, say) -> dict:
    """Exports the model for TF Serving (a new version when the model changed),
    reloads it from disk and completes the sample prompts."""
    from glam_tf.export import export_model

    done = work.state.get("export")
    if done and done["step"] == step and fileio.isdir(done["path"]):
        say(f"reusing the export {done['path']} (step {step})")
        path = done["path"]
    else:
        path = export_model(work.model, work.export_base, EXPORT_NAME,
                            max_new_tokens=32)
        work.record("export", step=step, path=path)
    prompts = sample_prompts()
    return {"path": path, "samples": list(zip(prompts, complete(path, prompts)))}


def complete(export_path, prompts, max_new_tokens=16) -> list:
    """Greedy completions from the SavedModel at export_path, loaded from disk."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    loaded = tf.saved_model.load(export_path)
    out = loaded.signatures["serving_default"](
        prompts=tf.constant(prompts), max_new_tokens=tf.constant(max_new_tokens),
        temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
        seed=tf.constant(0))
    return [c.decode("utf-8") for c in out["completions"].numpy()]


def stage_report(work: Workdir, training: dict, evaluation: dict, export: dict) -> None:
    """training.png from metrics.jsonl and report.md (both rewritten: they are derived)."""
    from glam_tf.params import count_parameters, format_count
    from glam_tf.quickstart import report

    report.plot_training(os.path.join(work.model, "metrics.jsonl"), work.png)
    train, validation = report.read_metrics(os.path.join(work.model, "metrics.jsonl"))
    config = model_config()
    count = count_parameters(config)
    report.write_report(
        work.report,
        settings={"preset": PRESET, "parameters": format_count(count.total),
                  "activated": format_count(count.activated), "data": work.data_spec,
                  "batch_size": BATCH_SIZE, "seq_len": config.max_seq_len,
                  "vocab_size": config.vocab_size},
        training=training,
        losses={"train": train[-1]["cross_entropy"],
                "validation": validation[-1]["validation_cross_entropy"] if validation else None},
        eval_results=evaluation, samples=export["samples"],
        png_name=os.path.basename(work.png), export_path=export["path"])
