"""`Trainer`: GLaM's training loop in a model directory, with exact resume.

A model directory holds:
  config.json        the GlamConfig       train.json      the TrainConfig
  tokenizer.model    the SentencePiece model the data was tokenized with
  checkpoints/       model, optimizer, step, skipped-step count, data iterator
  tensorboard/       train/ and validation/ summaries
  metrics.jsonl      one line per logged step and per validation
Re-running into a directory resumes from its latest checkpoint; a different
model config or data setting there is an error, never an overwrite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import keras
import tensorflow as tf

from glam_tf.config import GlamConfig
from glam_tf.model import GlamModel
from glam_tf.training.loss import lm_loss
from glam_tf.training.optimizer import Adafactor, GlamSchedule
from glam_tf.training.run_config import TrainConfig
from glam_tf.training.summaries import ProgressBar, RunLog, progress_line


class ModelDirError(ValueError):
    """The model directory holds a run that this one cannot continue."""


class Trainer:
    """Builds model, optimizer, data and checkpoints for one model directory.

    `datasets(train_config, tokenizer)` must return (train, validation)
    tf.data datasets of packed batches {"token_ids", "segment_ids"} of shape
    [batch_size, seq_len + 1]; the train iterator is checkpointed.
    """

    def __init__(self, model_dir, config: GlamConfig, train_config: TrainConfig, datasets,
                 tokenizer=None, log=print):
        self.model_dir = model_dir
        self.config = config
        self.train_config = train_config
        self.log = log
        check_model_dir(model_dir, config, train_config)
        keras.utils.set_random_seed(train_config.seed)
        self.model = GlamModel(config, dispatch=train_config.dispatch)
        self.optimizer = Adafactor(GlamSchedule(train_config.peak_learning_rate,
                                                train_config.constant_steps,
                                                train_config.warmup_steps))
        self.optimizer.build(self.model.trainable_variables)
        train_data, validation_data = datasets(train_config, tokenizer)
        self.data = iter(train_data)
        self.validation_batches = list(validation_data.take(train_config.eval_batches))
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps")
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                         step=self.step, skipped=self.skipped, data=self.data)
        self.checkpoints = tf.train.CheckpointManager(
            checkpoint, os.path.join(model_dir, "checkpoints"),
            max_to_keep=train_config.keep_checkpoints)
        self.run_log = RunLog(model_dir)
        if self.checkpoints.latest_checkpoint:
            checkpoint.restore(self.checkpoints.latest_checkpoint).assert_existing_objects_matched()
            dropped = self.run_log.drop_steps_after(int(self.step))
            self.log(f"Resuming {model_dir} from step {int(self.step)}"
                     + (f" (redoing {dropped} logged steps after it)" if dropped else ""))
        self._train_step = tf.function(self._step_fn)
        self._eval_step = tf.function(lambda batch: lm_loss(self.model, batch, training=False)[1])

    def _step_fn(self, batch):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            total, parts, routing = lm_loss(self.model, batch, training=True)
        grads = tape.gradient(total, variables)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        finite = finite & tf.math.is_finite(total)

        def apply():
            self.optimizer.apply_gradients(zip(grads, variables))
            return tf.constant(True)

        def skip():
            self.skipped.assign_add(1)
            return tf.constant(False)

        tf.cond(finite, apply, skip)
        self.step.assign_add(1)
        return parts, routing

    def train_step(self, batch):
        """One step on `batch`; a step with a NaN/Inf loss or gradient changes no weight."""
        return self._train_step(batch)

    def validation_loss(self) -> float:
        losses = [self._eval_step(b) for b in self.validation_batches]
        total = sum(float(p["cross_entropy"]) * float(p["target_tokens"]) for p in losses)
        return total / max(sum(float(p["target_tokens"]) for p in losses), 1.0)

    def train(self) -> dict:
        """Trains up to train_config.steps; returns the last logged record."""
        tc = self.train_config
        record = {}
        bar = ProgressBar(tc.steps)
        window_start, window_tokens = time.perf_counter(), 0.0
        while int(self.step) < tc.steps:
            parts, routing = self.train_step(next(self.data))
            step = int(self.step)
            window_tokens += float(parts["target_tokens"])
            speed = window_tokens / max(time.perf_counter() - window_start, 1e-9)
            bar.update(step, float(parts["loss"]), speed)
            if step % tc.log_every == 0 or step == tc.steps:
                record = self.run_log.train_step(step, parts, self.optimizer.learning_rate,
                                                 speed, int(self.skipped), routing)
                bar.clear()
                self.log(progress_line(record, tc.steps))
                window_start, window_tokens = time.perf_counter(), 0.0
            if step % tc.eval_every == 0 or step == tc.steps:
                loss = self.validation_loss()
                self.run_log.validation(step, loss)
                bar.clear()
                self.log(f"step {step}/{tc.steps}  validation cross-entropy {loss:.4f}")
            if step % tc.checkpoint_every == 0 or step == tc.steps:
                self.checkpoints.save(checkpoint_number=step)
        self.run_log.flush()
        return record


def check_model_dir(model_dir, config, train_config) -> bool:
    """Creates model_dir's settings files, or checks they match; True when they existed."""
    os.makedirs(model_dir, exist_ok=True)
    config_path = os.path.join(model_dir, "config.json")
    train_path = os.path.join(model_dir, "train.json")
    if not os.path.exists(config_path):
        _write_new(config_path, config.to_json())
        _write_new(train_path, train_config.to_json())
        return False
    with open(config_path) as f:
        existing = GlamConfig.from_json(f.read())
    if existing != config:
        changed = [f.name for f in dataclasses.fields(config)
                   if getattr(existing, f.name) != getattr(config, f.name)]
        raise ModelDirError(
            f"{config_path} holds another model config (differs in {', '.join(changed)}); "
            "use a new --model_dir, or the same preset and --set values to resume")
    if os.path.exists(train_path):
        with open(train_path) as f:
            saved = json.load(f)
        different = [k for k, v in train_config.data_identity().items() if saved.get(k) != v]
        if different:
            raise ModelDirError(
                f"{train_path} was trained with other data settings "
                f"({', '.join(f'{k}={saved.get(k)!r}' for k in different)}); resuming with "
                "them changed would not continue the same run: use a new --model_dir")
    return True


def _write_new(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
