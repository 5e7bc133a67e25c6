"""`Trainer`: GLaM's training loop in a model directory, with exact resume.

A model directory holds:
  config.json        the GlamConfig       train.json      the TrainConfig
  tokenizer.model    the SentencePiece model the data was tokenized with
  checkpoints/       model, optimizer, step, skipped-step count;
                     checkpoints/data/ the input pipeline's position at the same steps
  tensorboard/       train/ and validation/ summaries
  metrics.jsonl      one line per logged step and per validation
Re-running into a directory resumes from its newest checkpoint that restores
(`checkpoints.restore_newest`: damaged ones are skipped, loudly); a different
model config, data setting or schedule there is an error, never an overwrite.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from glam_tf import fileio, initializers
from glam_tf.config import GlamConfig
from glam_tf.model import GlamModel
from glam_tf.training import checkpoints
from glam_tf.training.host_input import HostInput
from glam_tf.training.loop import crosses, make_stacked_loop, make_train_loop, unstack
from glam_tf.training.loss import lm_loss
from glam_tf.training.optimizer import Adafactor, Adam, GlamSchedule
from glam_tf.training.run_config import TrainConfig
from glam_tf.progress import ProgressBar
from glam_tf.training.summaries import RunLog, bar_text, progress_line


class ModelDirError(ValueError):
    """The model directory holds a run that this one cannot continue."""


class NonFiniteError(ValueError):
    """Training made a weight or optimizer slot NaN or Inf."""


class Trainer:
    """Model, optimizer, data and checkpoints of one run in a model directory.

    The caller has checked the model directory (`check_model_dir`; `glam train`
    does). train_data and validation_data: this process's rows of each packed
    batch {"token_ids", "segment_ids"} [rows, seq_len + 1], as a tf.data
    dataset (one device: all batch_size rows) or a `HostInput` (on a mesh: the
    batch shards this host's devices hold, see `Sharding.batch_shards`). The
    train position is checkpointed with the model.
    """

    def __init__(self, model_dir, config: GlamConfig, train_config: TrainConfig, train_data,
                 validation_data, log=print, sharding=None):
        self.model_dir = model_dir
        self.config = config
        self.train_config = train_config
        self.log = log
        self.sharding = sharding  # a glam_tf.sharding.Sharding, or None for one device
        _check_step_options(train_config, sharding)
        keras.utils.set_random_seed(train_config.seed)  # the routers' noise, the data order
        self.model, self.optimizer = create_model_and_optimizer(config, train_config, sharding)
        self.data = HostInput.of(train_data)
        self.validation_batches = HostInput.of(validation_data).take(train_config.eval_batches)
        counter = sharding.variable if sharding else tf.Variable
        self.step = counter(tf.constant(0, tf.int64), trainable=False, name="step")
        self.skipped = counter(tf.constant(0, tf.int64), trainable=False, name="skipped_steps")
        self.run_log = RunLog(model_dir)
        self._open_checkpoints()
        self._train_step = self._on_mesh(
            tf.function(self._step_fn, jit_compile=train_config.jit_compile))
        self._eval_step = self._on_mesh(tf.function(
            lambda batch: lm_loss(self.model, batch, training=False)[1],
            jit_compile=train_config.jit_compile))

    def _open_checkpoints(self):
        """Checkpoint managers for the state and for each data shard's position;
        resumes from the newest checkpoint there that restores.

        The input positions are checkpoints of their own: on a mesh the state's
        checkpoint holds only DTensors, and an iterator's state is not one.
        All are saved at every checkpoint step, under the same number. The
        checkpoints are found by their files (`checkpoints.restore_newest`):
        damaged ones are skipped, each with a line saying why.
        """
        tc, directory = self.train_config, os.path.join(self.model_dir, "checkpoints")
        state = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                    step=self.step, skipped=self.skipped)
        data_managers = lambda: _AllOf(self.data.checkpoints(directory, tc.keep_checkpoints))
        self.data_checkpoints = data_managers()
        stale_state = checkpoints.state_file_problem(directory)
        latest, restored_data = checkpoints.restore_newest(
            directory, lambda path: self._restore(state, path), self.log)
        if latest and stale_state:  # the managers below read the state files
            for manager_dir in [directory, *self.data_checkpoints.directories()]:
                checkpoints.rewrite_state(manager_dir, latest)
            self.data_checkpoints = data_managers()
        self.checkpoints = tf.train.CheckpointManager(state, directory,
                                                      max_to_keep=tc.keep_checkpoints)
        # Also with no checkpoint: a run killed before its first one logged steps.
        dropped = self.run_log.drop_steps_after(self.steps_done)
        redo = f" (redoing {dropped} logged steps after it)" if dropped else ""
        if not latest:
            if dropped:
                self.log(f"Starting {self.model_dir} from step 0{redo}: no checkpoint yet")
            return
        self.log(f"Resuming {self.model_dir} from step {self.steps_done}{redo}")
        if not restored_data:
            self.log(f"The input of step {self.steps_done} was split into other batch shards "
                     f"than these {self.data.count}: the model resumes exactly, but each "
                     "data shard's stream starts from its beginning")

    def _restore(self, state, path) -> bool:
        """Restores checkpoint `path` (ckpt-N) and the data positions saved with it;
        CheckpointError when it is damaged or its weights are not finite."""
        # Each device reads just its own slices of every saved tensor, whatever
        # mesh (or single device) wrote them.
        checkpoints.restore_from(state, path)
        bad = self.non_finite_variables()
        if bad:
            raise checkpoints.CheckpointError(
                f"{path}: NaN or Inf in {len(bad)} variables "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")
        return self.data_checkpoints.restore(os.path.basename(path))

    def non_finite_variables(self) -> list:
        """Paths of the model's and optimizer's variables holding NaN or Inf."""
        variables = self._checked_variables
        flags = self._finite_flags()
        if self.sharding:
            flags = self.sharding.to_host(flags)
        return [v.path for v, ok in zip(variables, np.asarray(flags)) if not ok]

    @functools.cached_property
    def _checked_variables(self):
        return [v for v in [*self.model.weights, *self.optimizer.variables]
                if "float" in str(v.dtype)]

    @functools.cached_property
    def _finite_flags(self):
        """A function -> bool [variables]: which variables are all finite, in one call."""
        check = tf.function(lambda: tf.stack(
            [tf.reduce_all(tf.math.is_finite(v)) for v in self._checked_variables]))
        if not self.sharding:
            return check

        def on_mesh():
            with self.sharding.active():
                return check()
        return on_mesh

    def _on_mesh(self, step):
        """step(batch) on the mesh when sharded: batch laid out, results back on the host."""
        if not self.sharding:
            return step

        def run(batch):
            batch = self.sharding.shard_batch(batch)
            with self.sharding.active():
                result = step(batch)
            return tf.nest.map_structure(self.sharding.to_host, result)
        return run

    @property
    def steps_done(self) -> int:
        return int(self.sharding.to_host(self.step) if self.sharding else self.step)

    @property
    def skipped_steps(self) -> int:
        return int(self.sharding.to_host(self.skipped) if self.sharding else self.skipped)

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

    def train_steps(self, count: int) -> list:
        """`count` steps on the next batches of the train iterator, in one call
        (the host waits once); returns each step's StepOutputs as numpy values.

        On a mesh the host takes the `count` batches first and lays them out as
        one [count, B, ...] DTensor (`Sharding.shard_steps`), since a mesh
        function cannot read an iterator."""
        if self.sharding:
            stacked = self.sharding.shard_steps([next(self.data) for _ in range(count)])
            with self.sharding.active():
                outputs = self._stacked_loop(stacked)
            return unstack(tf.nest.map_structure(self.sharding.to_host, outputs))
        return unstack(self._train_loop(tf.constant(count, tf.int32)))

    def _read_counters(self):
        return tf.identity(self.optimizer.iterations.value), tf.identity(self.skipped)

    @functools.cached_property
    def _train_loop(self):
        return make_train_loop(self._train_step, self.data, self._read_counters)

    @functools.cached_property
    def _stacked_loop(self):
        return make_stacked_loop(self._step_fn, self._read_counters)

    def validation_loss(self) -> float:
        losses = [self._eval_step(b) for b in self.validation_batches]
        total = sum(float(p["cross_entropy"]) * float(p["target_tokens"]) for p in losses)
        return total / max(sum(float(p["target_tokens"]) for p in losses), 1.0)

    def train(self, time_limit: Optional[float] = None) -> dict:
        """Trains up to train_config.steps; returns the last logged record.

        Steps run train_config.steps_per_loop at a time (the last loop may be
        shorter). Every logged step is logged with its own values; validation
        and checkpoints happen at the end of a loop that passed a multiple of
        eval_every / checkpoint_every (so at those multiples when they are
        multiples of steps_per_loop), and after the last step.
        time_limit: seconds; once a loop ends past it, its last step is
        logged, validated and checkpointed like the last one, and training
        stops (`stopped_early` tells). A later `train()` resumes from there.
        """
        tc = self.train_config
        record = {}
        self.stopped_early = False
        deadline = None if time_limit is None else time.monotonic() + time_limit
        bar = ProgressBar(sys.stdout)  # the stream of self.log's default, print
        window_start, window_tokens = time.perf_counter(), 0.0
        while self.steps_done < tc.steps:
            start = self.steps_done
            outputs = self.train_steps(min(tc.steps_per_loop, tc.steps - start))
            step = self.steps_done
            out_of_time = deadline is not None and time.monotonic() >= deadline
            last = step == tc.steps or out_of_time
            window_tokens += sum(float(o.parts["target_tokens"]) for o in outputs)
            speed = window_tokens / max(time.perf_counter() - window_start, 1e-9)
            bar.draw(step, tc.steps, suffix=bar_text(float(outputs[-1].parts["loss"]), speed))
            logged = False
            checkpointing = crosses(start, step, tc.checkpoint_every) or last
            if checkpointing or crosses(start, step, tc.log_every):
                self._check_finite(step)
            for done, o in enumerate(outputs, start + 1):
                if done % tc.log_every == 0 or (last and done == step):
                    record = self.run_log.train_step(done, o.parts, self._learning_rate(o.iterations),
                                                     speed, int(o.skipped), o.routing)
                    bar.clear()
                    self.log(progress_line(record, tc.steps))
                    logged = True
            if logged:
                window_start, window_tokens = time.perf_counter(), 0.0
            if crosses(start, step, tc.eval_every) or last:
                loss = self.validation_loss()
                self.run_log.validation(step, loss)
                bar.clear()
                self.log(f"step {step}/{tc.steps}  validation cross-entropy {loss:.4f}")
            if checkpointing:
                self.data_checkpoints.save(checkpoint_number=step)
                self.checkpoints.save(checkpoint_number=step)
            if out_of_time and step < tc.steps:
                self.stopped_early = True
                self.log(f"Stopping at step {step}/{tc.steps}: the time limit of "
                         f"{time_limit:.0f} s is reached (checkpoint saved; training "
                         "again continues from it)")
                break
        self.run_log.flush()
        return record

    def _check_finite(self, step) -> None:
        """Stops the run (NonFiniteError) once a weight or slot holds NaN or Inf, before
        it is logged or checkpointed: the last checkpoint stays the last finite one."""
        bad = self.non_finite_variables()
        if not bad:
            return
        self.run_log.flush()
        kept = self.checkpoints.latest_checkpoint
        raise NonFiniteError(
            f"step {step}: {len(bad)} variables hold NaN or Inf ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}): stopped without saving them; "
            + (f"{kept} is the last checkpoint (finite)" if kept else "no checkpoint was saved")
            + f". Train again with a lower --learning_rate (now "
            f"{self.train_config.peak_learning_rate:g}) "
            + ("in a new --model_dir" if kept else "in this --model_dir or a new one"))

    def _learning_rate(self, iterations) -> float:
        """The schedule's rate after `iterations` updates (what the next update uses)."""
        return float(self.optimizer._learning_rate(int(iterations)))


def _check_step_options(train_config, sharding):
    """On a mesh DTensor decides how to compile each function (always XLA on
    TPU): jit_compile does not apply there."""
    if sharding and train_config.jit_compile:
        raise ValueError("jit_compile does not apply on a DTensor mesh (DTensor compiles "
                         "the step itself; with XLA on TPU): leave it off there")


def _dispatch(choice, sharding):
    """einsum on a mesh (GShard's form: DTensor cannot lay out the gathers'
    backward pass), gather on one device (the fast one there)."""
    if choice == "gather" and sharding:
        raise ValueError("dispatch=gather does not run on a DTensor mesh: use einsum or auto")
    if choice == "auto":
        return "einsum" if sharding else "gather"
    return choice


def create_model_and_optimizer(config: GlamConfig, train_config: TrainConfig, sharding=None):
    """(model, optimizer), every weight drawn by `glam_tf.initializers` from the run seed.

    On a mesh each device creates only its shards of each weight and slot
    (`Sharding.create_model`); on one device the same draws are made whole,
    so both start from equal values.
    """
    build = lambda: GlamModel(config, dispatch=_dispatch(train_config.dispatch, sharding))
    optimizer = make_optimizer(train_config)
    if sharding:
        model, layouts = sharding.create_model(build, train_config.seed)
        # Keras keys the slots by the weights' backing variables: they exist now.
        sharding.create_optimizer(optimizer, model, layouts)
        return model, optimizer
    with initializers.declared():
        model = build()
    initializers.create(model.variables, initializers.seeds_of(model, train_config.seed))
    optimizer.build(model.trainable_variables)
    return model, optimizer


class _AllOf:
    """Several CheckpointManagers saved and restored as one."""

    def __init__(self, managers):
        self.managers = managers

    def directories(self) -> list:
        return [m.directory for m in self.managers]

    def save(self, checkpoint_number):
        for manager in self.managers:
            manager.save(checkpoint_number=checkpoint_number)

    def restore(self, name) -> bool:
        """Restores checkpoint `name` (ckpt-N) of every manager; False if one lacks it,
        CheckpointError if one is damaged."""
        paths = [os.path.join(m.directory, name) for m in self.managers]
        if not all(fileio.exists(p + ".index") for p in paths):
            return False
        for manager, path in zip(self.managers, paths):
            checkpoints.restore_from(manager.checkpoint, path)
        return True


def make_optimizer(train_config: TrainConfig):
    """GLaM's Adafactor and schedule, or Adam (for comparison runs) on the same schedule."""
    schedule = GlamSchedule(train_config.peak_learning_rate, train_config.constant_steps,
                            train_config.warmup_steps)
    return Adafactor(schedule) if train_config.optimizer == "adafactor" else Adam(schedule)


def check_model_dir(model_dir, config, train_config, log=print) -> bool:
    """Creates model_dir's settings files, or checks they match; True when they existed."""
    existed = check_settings(model_dir, config, train_config)
    write_settings(model_dir, config, train_config, log)
    return existed


def check_settings(model_dir, config, train_config) -> bool:
    """Checks that a run with these settings may continue in model_dir, writing
    nothing; True when model_dir holds a run's settings already.

    Settings that differ are refused only beside checkpoints: in a model dir
    with none (a run stopped before its first, e.g. on NaN at step 1) nothing
    trained is at stake, and `write_settings` replaces them.

    Raises:
      ModelDirError: another model config, data setting or schedule is there
        and so are checkpoints, or its settings files are unreadable.
    """
    config_path = os.path.join(model_dir, "config.json")
    has_checkpoints = checkpoints.has_checkpoints(os.path.join(model_dir, "checkpoints"))
    if not fileio.exists(config_path) and has_checkpoints:
        raise ModelDirError(f"{config_path} is missing but {model_dir} has checkpoints: "
                            "put it back, or use a new --model_dir")
    changes = _changed_settings(model_dir, config, train_config)
    if changes and has_checkpoints:
        path, kind, changed = changes[0]
        if kind == "model":
            raise ModelDirError(
                f"{path} holds another model config ({', '.join(changed)}); "
                "use a new --model_dir, or the same preset and --set values to resume")
        raise ModelDirError(
            f"{path} was trained with other {kind} settings ({', '.join(changed)}); resuming "
            "with them changed would not continue the same run: give the same values, "
            "or use a new --model_dir")
    return fileio.exists(config_path)


def _changed_settings(model_dir, config, train_config) -> list:
    """[(path, kind, ["field=old (asked: new)", ...])] for each kind of setting
    (model, data, optimizer and schedule) that model_dir's files hold otherwise."""
    config_path = os.path.join(model_dir, "config.json")
    train_path = os.path.join(model_dir, "train.json")
    changes = []
    if fileio.exists(config_path):
        existing = GlamConfig.from_json(_read_settings(config_path))
        changed = [f"{f.name}={getattr(existing, f.name)!r} (asked: {getattr(config, f.name)!r})"
                   for f in dataclasses.fields(config)
                   if getattr(existing, f.name) != getattr(config, f.name)]
        if changed:
            changes.append((config_path, "model", changed))
    if fileio.exists(train_path):
        saved = json.loads(_read_settings(train_path))
        for kind, settings in (("data", train_config.data_identity()),
                               ("optimizer and schedule", train_config.schedule())):
            changed = [f"{k}={saved[k]!r} (asked: {v!r})" for k, v in settings.items()
                       if k in saved and saved[k] != v]
            if changed:
                changes.append((train_path, kind, changed))
    return changes


def _read_settings(path) -> str:
    text = fileio.read_text(path, errors="replace")
    try:
        json.loads(text)
    except ValueError as error:
        raise ModelDirError(f"{path} is not valid JSON ({error}): the model dir is "
                            "damaged; restore the file or use a new --model_dir") from None
    return text


def write_settings(model_dir, config, train_config, log=print) -> None:
    """Writes model_dir's config.json and train.json where missing, or where they
    differ in a model dir without checkpoints (after `check_settings`: with
    checkpoints they match); model_dir made if missing. Each file is replaced whole."""
    changes = _changed_settings(model_dir, config, train_config)
    if changes:
        kept = (", keeping its tokenizer.model"
                if fileio.exists(os.path.join(model_dir, "tokenizer.model")) else "")
        log(f"{model_dir} has no checkpoint, so nothing trained is lost: starting it again "
            f"with the new settings ({'; '.join(', '.join(c) for _, _, c in changes)}){kept}")
    replaced = {os.path.basename(path) for path, _, _ in changes}
    fileio.makedirs(model_dir)
    for name, text in (("config.json", config.to_json()), ("train.json", train_config.to_json())):
        path = os.path.join(model_dir, name)
        if name in replaced or not fileio.exists(path):
            fileio.write_atomic(path, text)
