"""What a training run reports: TensorBoard summaries, metrics.jsonl, the progress lines."""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import tensorflow as tf

from glam_tf import fileio


class RunLog:
    """Writes per-step metrics to `metrics.jsonl` and TensorBoard under model_dir."""

    def __init__(self, model_dir):
        self.model_dir = model_dir
        self.metrics_path = os.path.join(model_dir, "metrics.jsonl")

    # Made on first use: a run refused while it starts leaves no event file behind.
    @functools.cached_property
    def train_writer(self):
        return tf.summary.create_file_writer(os.path.join(self.model_dir, "tensorboard", "train"))

    @functools.cached_property
    def eval_writer(self):
        return tf.summary.create_file_writer(
            os.path.join(self.model_dir, "tensorboard", "validation"))

    def drop_steps_after(self, step: int) -> int:
        """Forgets lines of steps after `step` (a resumed run redoes them), and a line a
        kill cut short; returns how many lines went. Run before every run's first step,
        so each logged step has one line whatever was killed when."""
        if not fileio.exists(self.metrics_path):
            return 0
        lines = [line for line in fileio.read_text(self.metrics_path).split("\n") if line.strip()]
        kept = [line for line in lines if _step_of(line) is not None and _step_of(line) <= step]
        if len(kept) != len(lines):
            fileio.write_atomic(self.metrics_path, "".join(line + "\n" for line in kept))
        return len(lines) - len(kept)

    def train_step(self, step, parts, learning_rate, tokens_per_second, skipped, routing):
        record = {"step": step, **{k: float(v) for k, v in parts.items()},
                  "learning_rate": float(learning_rate), "tokens_per_second": tokens_per_second,
                  "skipped_steps": int(skipped)}
        scalars = dict(record)
        if routing:
            # [MoE layer][expert]: share of the step's kept choices each expert got.
            record["expert_load"] = [[round(float(x), 6) for x in np.asarray(stats.expert_load)]
                                     for stats in routing]
            # [MoE layer]: tokens with no expert kept, and the gate softmax's mean entropy.
            record["dropped_token_fraction"] = [round(float(stats.fraction_routed[0]), 6)
                                                for stats in routing]
            record["router_entropy"] = [round(float(stats.router_entropy), 6) for stats in routing]
        fileio.append_text(self.metrics_path, json.dumps(record) + "\n")
        with self.train_writer.as_default(step=step):
            for name, value in scalars.items():
                if name != "step":
                    tf.summary.scalar(name, value)
            for i, stats in enumerate(routing):
                prefix = f"moe_{i}"
                tf.summary.histogram(f"{prefix}/expert_load", stats.expert_load)
                tf.summary.scalar(f"{prefix}/dropped_token_fraction", stats.fraction_routed[0])
                tf.summary.scalar(f"{prefix}/router_entropy", stats.router_entropy)
                for k, ratio in enumerate(np.asarray(stats.over_capacity)):
                    tf.summary.scalar(f"{prefix}/over_capacity_{k + 1}", ratio)
        return record

    def validation(self, step, loss):
        with self.eval_writer.as_default(step=step):
            tf.summary.scalar("cross_entropy", loss)
        fileio.append_text(self.metrics_path,
                           json.dumps({"step": step, "validation_cross_entropy": float(loss)}) + "\n")

    def flush(self):
        for name in ("train_writer", "eval_writer"):
            if name in self.__dict__:  # made
                self.__dict__[name].flush()


def _step_of(line):
    """The step of a metrics.jsonl line; None for a line cut short (or not a record)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("step") if isinstance(record, dict) else None


def progress_line(record, total_steps) -> str:
    return (f"step {record['step']}/{total_steps}  loss {record['loss']:.4f}  "
            f"ce {record['cross_entropy']:.4f}  lr {record['learning_rate']:.2e}  "
            f"{record['tokens_per_second']:,.0f} tok/s"
            + (f"  skipped {record['skipped_steps']}" if record["skipped_steps"] else ""))


def bar_text(loss, tokens_per_second) -> str:
    """What the progress bar shows after the step count."""
    return f"loss {loss:.4f}  {tokens_per_second:,.0f} tok/s"
