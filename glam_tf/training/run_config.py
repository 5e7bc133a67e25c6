"""`TrainConfig`: how a training run reads data and steps, validated on creation."""

from __future__ import annotations

import dataclasses
import json

from glam_tf.config import ConfigError

# Fields that fix which batches a run sees: resuming with other values would
# silently change the data, so they must match the model directory's.
# jit_compile and steps_per_loop are not among them: every step takes the
# next batch of the same iterator however the steps are run, so a run may
# resume with them changed.
DATA_FIELDS = ("data", "batch_size", "seq_len", "seed")


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
                     "log_every", "eval_every", "eval_batches", "constant_steps",
                     "steps_per_loop"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, value, "must be an integer >= 1")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ConfigError("warmup_steps", self.warmup_steps, "must be an integer >= 0")
        if not self.peak_learning_rate > 0:
            raise ConfigError("peak_learning_rate", self.peak_learning_rate, "must be > 0")
        if self.dispatch not in ("auto", "gather", "einsum"):
            raise ConfigError("dispatch", self.dispatch, "must be auto, gather or einsum")
        if self.optimizer not in ("adafactor", "adam"):
            raise ConfigError("optimizer", self.optimizer, "must be adafactor or adam")
        if not isinstance(self.jit_compile, bool):
            raise ConfigError("jit_compile", self.jit_compile, "must be true or false")
        if not self.data:
            raise ConfigError("data", self.data, "must name a data source")

    def data_identity(self) -> dict:
        return {name: getattr(self, name) for name in DATA_FIELDS}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
