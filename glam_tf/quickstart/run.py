"""`run_quickstart`: the six stages in order, one line each, and where everything is."""

from __future__ import annotations

import math
import os
import re
import sys
import time

from glam_tf.progress import ProgressBar
from glam_tf.quickstart import stages

DEFAULT_MINUTES = 5.0
# The step target: reached in about 3 minutes on 2 idle cores; the --minutes
# budget stops training earlier on a busier machine.
DEFAULT_STEPS = 2000
# Trainer lines printed (metrics.jsonl keeps every 10th step).
_PRINT_EVERY = 250
_TRAINER_STEP = re.compile(r"^step (\d+)/(\d+) ")

TITLES = ("Tokenizer: SentencePiece on the embedded corpus + in-context-learning data",
          "Training glam_tiny (8-expert MoE)",
          "Few-shot evaluation on the built-in tasks",
          "Export for TF Serving, reload, sample completions",
          "Plots and report",
          "Summary")


class StageProgress:
    """`[k/6] title` per stage; on a terminal also a one-line bar over the stages."""

    def __init__(self, total, stream=None, width=24):
        self.total = total
        self.stream = stream or sys.stdout
        self.bar = ProgressBar(self.stream, width)
        self.index = 0

    def start(self, title):
        self.index += 1
        self.stage_start = time.monotonic()
        self.line(f"[{self.index}/{self.total}] {title}")
        self.bar.draw(self.index - 1, self.total, suffix=f"stage {self.index}: {title[:40]}")

    def line(self, text):
        self.bar.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text=""):
        self.line(f"      done in {time.monotonic() - self.stage_start:.0f} s"
                  + (f": {text}" if text else ""))


def run_quickstart(workdir, minutes=DEFAULT_MINUTES, steps=DEFAULT_STEPS, max_examples=None,
                   stream=None) -> dict:
    """Runs (or resumes) the quickstart in `workdir`; returns the paths it made.

    minutes: training budget (wall clock); steps: training target;
    max_examples: score at most this many held-out examples per task (tests).
    """
    if not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"--minutes {minutes}: must be a finite number > 0")
    if steps < 1:
        raise ValueError(f"--steps {steps}: must be >= 1")
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"--max_examples {max_examples}: must be >= 1")
    root = stages.check_workdir(workdir)
    progress = StageProgress(len(TITLES), stream)
    say = lambda text: progress.line(f"      {text}")  # noqa: E731
    work = stages.Workdir(root)
    if work.state:
        say(f"{os.path.join(root, stages.STATE_FILE)} found: reusing what is done")

    def train_log(text):
        match = _TRAINER_STEP.match(text)
        if match and int(match[1]) % _PRINT_EVERY and match[1] != match[2] \
                and "validation" not in text:
            return  # every step's record is in metrics.jsonl and TensorBoard
        say(text)

    progress.start(TITLES[0])
    stages.stage_tokenizer(work, say)
    progress.done()

    progress.start(TITLES[1])
    training = stages.stage_train(work, steps, minutes, say, train_log)
    progress.done(f"{training['steps']} steps")
    step = training["steps"]

    progress.start(TITLES[2])
    evaluation = stages.stage_eval(work, step, say, max_examples)
    for line in _score_lines(evaluation):
        say(line)
    progress.done()

    progress.start(TITLES[3])
    export = stages.stage_export(work, step, say)
    for prompt, completion in export["samples"]:
        say(f"{prompt!r} -> {completion!r}")
    progress.done(export["path"])

    progress.start(TITLES[4])
    stages.stage_report(work, training, evaluation, export)
    progress.done()

    progress.start(TITLES[5])
    progress.line(summary(work, export["path"]))
    return {"workdir": root, "model_dir": work.model, "eval": work.eval,
            "export": export["path"], "png": work.png, "report": work.report}


def _score_lines(evaluation):
    chance = evaluation["chance"]
    for r in evaluation["results"]:
        metric, value = next(iter(r["metrics"].items()))
        if value is None:  # no example could be scored (evaluate's "not_scored")
            yield f"{r['task']} {r['shots']}-shot: not scored: {r['not_scored']}"
            continue
        yield (f"{r['task']} {r['shots']}-shot: {metric} {100 * value:.1f}% "
               f"(chance {100 * chance[r['task']]:.1f}%)")


def summary(work, export_path) -> str:
    model_base = os.path.dirname(export_path)
    return "\n".join([
        f"Everything is in {work.root}:",
        f"  model      {work.model}  (checkpoints/, metrics.jsonl, tokenizer.model)",
        f"  logs       tensorboard --logdir {os.path.join(work.model, 'tensorboard')}",
        f"  eval       {work.eval}",
        f"  export     {export_path}",
        f"  plot       {work.png}",
        f"  report     {work.report}",
        "",
        "Next:",
        "  # a bigger CPU model (32 experts, 8 layers) on the same data:",
        f"  glam train --preset glam_tiny --set num_experts=32 --set num_layers=8 "
        f"--model_dir runs/tiny_32e --steps 5000 --data '{work.data_spec}'",
        "  # the paper's smallest GLaM, on accelerators (docs/sharding.md):",
        "  glam train --preset glam_0.1b_64e --model_dir runs/glam_0.1b_64e --steps 100000 "
        "--data glam --mesh auto",
        "  # the 29 GLaM benchmarks (prepare their TFDS data first, docs/evaluation.md):",
        f"  glam eval --model_dir {work.model} --tasks all --shots 0,1",
        "  # serve the export with TF Serving (docs/serving.md):",
        f"  docker run -p 8500:8500 -p 8501:8501 --mount type=bind,source={model_base},"
        f"target=/models/{stages.EXPORT_NAME} -e MODEL_NAME={stages.EXPORT_NAME} "
        "-t tensorflow/serving",
    ])
