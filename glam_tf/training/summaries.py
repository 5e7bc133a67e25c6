"""What a training run reports: TensorBoard summaries, metrics.jsonl, the progress lines."""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from glam_tf import fileio


class RunLog:
    """Writes per-step metrics to `metrics.jsonl` and TensorBoard under model_dir."""

    def __init__(self, model_dir):
        self.metrics_path = os.path.join(model_dir, "metrics.jsonl")
        self.train_writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard", "train"))
        self.eval_writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard", "validation"))

    def drop_steps_after(self, step: int) -> int:
        """Forgets lines of steps after `step` (a resumed run redoes them); returns how many."""
        if not fileio.exists(self.metrics_path):
            return 0
        records = [json.loads(line) for line in fileio.read_text(self.metrics_path).split("\n")
                   if line.strip()]
        kept = [r for r in records if r["step"] <= step]
        if len(kept) != len(records):
            fileio.write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
        return len(records) - len(kept)

    def train_step(self, step, parts, learning_rate, tokens_per_second, skipped, routing):
        record = {"step": step, **{k: float(v) for k, v in parts.items()},
                  "learning_rate": float(learning_rate), "tokens_per_second": tokens_per_second,
                  "skipped_steps": int(skipped)}
        scalars = dict(record)
        if routing:
            # [MoE layer][expert]: share of the step's kept choices each expert got.
            record["expert_load"] = [[round(float(x), 6) for x in np.asarray(stats.expert_load)]
                                     for stats in routing]
        fileio.append_text(self.metrics_path, json.dumps(record) + "\n")
        with self.train_writer.as_default(step=step):
            for name, value in scalars.items():
                if name != "step":
                    tf.summary.scalar(name, value)
            for i, stats in enumerate(routing):
                prefix = f"moe_{i}"
                tf.summary.histogram(f"{prefix}/expert_load", stats.expert_load)
                tf.summary.scalar(f"{prefix}/dropped_token_fraction", stats.fraction_routed[0])
                for k, ratio in enumerate(np.asarray(stats.over_capacity)):
                    tf.summary.scalar(f"{prefix}/over_capacity_{k + 1}", ratio)
        return record

    def validation(self, step, loss):
        with self.eval_writer.as_default(step=step):
            tf.summary.scalar("cross_entropy", loss)
        fileio.append_text(self.metrics_path,
                           json.dumps({"step": step, "validation_cross_entropy": float(loss)}) + "\n")

    def flush(self):
        self.train_writer.flush()
        self.eval_writer.flush()


def progress_line(record, total_steps) -> str:
    return (f"step {record['step']}/{total_steps}  loss {record['loss']:.4f}  "
            f"ce {record['cross_entropy']:.4f}  lr {record['learning_rate']:.2e}  "
            f"{record['tokens_per_second']:,.0f} tok/s"
            + (f"  skipped {record['skipped_steps']}" if record["skipped_steps"] else ""))


def bar_text(loss, tokens_per_second) -> str:
    """What the progress bar shows after the step count."""
    return f"loss {loss:.4f}  {tokens_per_second:,.0f} tok/s"
