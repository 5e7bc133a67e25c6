"""`TrainConfig`: how a training run reads data and steps, validated on creation."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from glam_tf.config import ConfigError

# Fields that fix which batches a run sees: resuming with other values would
# silently change the data, so they must match the model directory's.
# jit_compile and steps_per_loop are not among them: every step takes the
# next batch of the same iterator however the steps are run, so a run may
# resume with them changed.
DATA_FIELDS = ("data", "batch_size", "seq_len", "seed")
# Fields that fix the optimizer and its schedule: the checkpointed slots and
# step count belong to them, so a resume with other values is refused too.
SCHEDULE_FIELDS = ("peak_learning_rate", "constant_steps", "warmup_steps", "optimizer")
# `glam train`'s flag for each field that has one under another name.
_FLAGS = {"peak_learning_rate": "learning_rate"}
_NO_FLAG = ("keep_checkpoints", "eval_batches")
# The learning rate is a float32 in the step: outside this range it would become
# inf (numpy's overflow warning, then NaN weights) or 0.
_FLOAT32 = np.finfo(np.float32)


class TrainConfigError(ConfigError):
    """A training setting breaks one of its rules; named as the flag that sets it."""

    def __init__(self, field: str, value, rule: str):
        super().__init__(field, value, rule)
        where = (f"TrainConfig.{field}={value!r}" if field in _NO_FLAG
                 else f"--{_FLAGS.get(field, field)} {value!r}")
        self.args = (f"{where}: {rule}",)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int = 8
    seq_len: int = 128
    data: str = "embedded"
    seed: int = 0
    peak_learning_rate: float = 0.01
    constant_steps: int = 10_000
    warmup_steps: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    log_every: int = 10
    eval_every: int = 100
    eval_batches: int = 4
    dispatch: str = "auto"  # gather on one device, einsum on a mesh
    optimizer: str = "adafactor"
    jit_compile: bool = False  # train and eval steps compiled with XLA
    steps_per_loop: int = 1  # steps per tf.function call (Keras' steps_per_execution)

    def __post_init__(self):
        for name in ("steps", "batch_size", "seq_len", "checkpoint_every", "keep_checkpoints",
                     "log_every", "eval_every", "eval_batches", "steps_per_loop"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TrainConfigError(name, value, "must be an integer >= 1")
        if (not isinstance(self.constant_steps, int) or isinstance(self.constant_steps, bool)
                or self.constant_steps < 1):
            # The decay is peak * sqrt(constant_steps / t): 0 would make every rate 0.
            raise TrainConfigError("constant_steps", self.constant_steps,
                                   "must be an integer >= 1 (1 decays from the first step, "
                                   "as peak * sqrt(1 / t))")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 32:
            # TensorFlow's and numpy's seeds are unsigned 32-bit.
            raise TrainConfigError("seed", self.seed, "must be an integer in [0, 2**32 - 1]")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise TrainConfigError("warmup_steps", self.warmup_steps, "must be an integer >= 0")
        rate = self.peak_learning_rate
        if (isinstance(rate, bool) or not isinstance(rate, (int, float))
                or not math.isfinite(rate) or rate <= 0):
            raise TrainConfigError("peak_learning_rate", rate, "must be a finite number > 0")
        if not float(_FLOAT32.tiny) <= rate <= float(_FLOAT32.max):
            raise TrainConfigError("peak_learning_rate", rate,
                                   f"must be in float32's range [{_FLOAT32.tiny:.3g}, "
                                   f"{_FLOAT32.max:.3g}] (the step computes in float32)")
        if self.dispatch not in ("auto", "gather", "einsum"):
            raise TrainConfigError("dispatch", self.dispatch, "must be auto, gather or einsum")
        if self.optimizer not in ("adafactor", "adam"):
            raise TrainConfigError("optimizer", self.optimizer, "must be adafactor or adam")
        if not isinstance(self.jit_compile, bool):
            raise TrainConfigError("jit_compile", self.jit_compile, "must be true or false")
        if not self.data:
            raise TrainConfigError("data", self.data, "must name a data source")

    def data_identity(self) -> dict:
        return {name: getattr(self, name) for name in DATA_FIELDS}

    def schedule(self) -> dict:
        return {name: getattr(self, name) for name in SCHEDULE_FIELDS}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
