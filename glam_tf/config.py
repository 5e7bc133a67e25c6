"""`GlamConfig`: every hyper-parameter of a GLaM decoder, validated on creation.

A config is a frozen value: derive variants with `dataclasses.replace` or
`GlamConfig.override(["d_model=256", ...])` (the CLI's `--set key=value`).
Defaults follow the GLaM paper and its public code; see
`../shared/docs/glam-reference.md` of the project and `docs/parameters.md`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Optional

SECOND_EXPERT_POLICIES = ("all", "sampling", "random")
EXPERT_ACTIVATIONS = ("relu", "gelu", "gated_gelu")
COMPUTE_DTYPES = ("float32", "bfloat16")


class ConfigError(ValueError):
    """A config field holds a value that breaks one of its rules."""

    def __init__(self, field: str, value, rule: str):
        self.field, self.value, self.rule = field, value, rule
        super().__init__(f"GlamConfig.{field}={value!r}: {rule}")


@dataclasses.dataclass(frozen=True)
class GlamConfig:
    """Shape and behaviour of a GLaM decoder-only Transformer.

    Attributes:
      vocab_size: SentencePiece vocabulary size (paper: 256K).
      num_layers: decoder blocks.
      d_model: model (embedding) width M.
      d_ff: hidden width H of every feed-forward network and of each expert.
      num_heads: attention heads N.
      head_dim: width D of each head (N * D need not equal d_model).
      num_experts: experts E per MoE layer; 0 makes a dense model.
      moe_interval: one block of every `moe_interval` uses an MoE
        feed-forward layer (2: every other block, as in the paper).
      moe_offset: which block of each group of `moe_interval` is the MoE one:
        block i is when `i % moe_interval == moe_offset`. 0, the first of each
        pair, follows Praxis's GLaM (`GlamStackedTransformerHParams`:
        `moe_layers = [0]` in every two-layer block). Configs stored before
        this field existed were trained with the last (`moe_interval - 1`);
        `from_dict` reads them so.
      top_k: experts per token, 1 or 2.
      train_capacity_factor: expert capacity while training is
        `ceil(S * factor / E)` slots per group of S tokens; None = dropless.
      eval_capacity_factor: the same for evaluation and decoding; the default
        None routes dropless, so no token is silently dropped at inference.
      second_expert_policy: how the 2nd expert is kept while training: `all`
        (always), `sampling` (drawn by Gumbel sampling among the rest),
        `random` (kept with probability min(1, gate2 / threshold)).
        Inference always uses `all`.
      second_expert_threshold: the threshold of the `random` policy.
      min_expert_capacity: lower bound on the capacity of each expert.
      group_size: tokens per routing group S (the batch is cut into groups;
        a short last group is padded with tokens that take no capacity).
      aux_loss_weight: weight of the GShard load-balancing loss.
      router_z_loss_weight: weight of the router logits' z-loss (ST-MoE);
        0 in GLaM.
      logit_z_loss_weight: weight of the output logits' z-loss.
      rel_pos_buckets: buckets of the T5-style relative position bias.
      rel_pos_max_distance: distance beyond which positions share a bucket.
      expert_activation: activation inside each expert (`gelu` by default,
        plain as in the public code; `gated_gelu` gives experts two input
        matrices like the dense feed-forward layers).
      dense_gated_gelu: dense feed-forward layers use a GELU-gated linear
        unit (two input matrices) as in the paper; False gives plain GELU.
      compute_dtype: `float32`, or `bfloat16` activations with float32
        weights (the router always computes in float32).
      tie_embeddings: share the input embedding with the output softmax.
      max_seq_len: longest sequence the model is meant for (paper: 1024).
      norm_epsilon: RMSNorm epsilon.
    """

    vocab_size: int = 256_000
    num_layers: int = 12
    d_model: int = 768
    d_ff: int = 3072
    num_heads: int = 12
    head_dim: int = 64
    num_experts: int = 64
    moe_interval: int = 2
    moe_offset: int = 0
    top_k: int = 2
    train_capacity_factor: Optional[float] = 2.0
    eval_capacity_factor: Optional[float] = None
    second_expert_policy: str = "all"
    second_expert_threshold: float = 0.2
    min_expert_capacity: int = 4
    group_size: int = 1024
    aux_loss_weight: float = 0.01
    router_z_loss_weight: float = 0.0
    logit_z_loss_weight: float = 1e-4
    rel_pos_buckets: int = 32
    rel_pos_max_distance: int = 128
    expert_activation: str = "gelu"
    dense_gated_gelu: bool = True
    compute_dtype: str = "float32"
    tie_embeddings: bool = True
    max_seq_len: int = 1024
    norm_epsilon: float = 1e-6

    def __post_init__(self):
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), _field_types()[f.name])
        positive = ("vocab_size", "num_layers", "d_model", "d_ff", "num_heads",
                    "head_dim", "moe_interval", "group_size", "rel_pos_buckets",
                    "rel_pos_max_distance", "max_seq_len", "min_expert_capacity")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(name, getattr(self, name), "must be >= 1")
        if self.num_experts < 0 or self.num_experts == 1:
            raise ConfigError("num_experts", self.num_experts,
                              "must be 0 (dense) or >= 2")
        if self.top_k not in (1, 2):
            raise ConfigError("top_k", self.top_k, "must be 1 or 2")
        if not 0 <= self.moe_offset < self.moe_interval:
            raise ConfigError("moe_offset", self.moe_offset,
                              f"must be in [0, moe_interval) = [0, {self.moe_interval})")
        if self.moe_offset >= self.num_layers and self.num_experts:
            raise ConfigError("moe_offset", self.moe_offset,
                              f"must be < num_layers ({self.num_layers}) so "
                              "that at least one block is an MoE block")
        for name in ("train_capacity_factor", "eval_capacity_factor"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(name, value,
                                  "must be a finite number > 0, or None for dropless")
        _check_choice("second_expert_policy", self.second_expert_policy,
                      SECOND_EXPERT_POLICIES)
        _check_choice("expert_activation", self.expert_activation, EXPERT_ACTIVATIONS)
        _check_choice("compute_dtype", self.compute_dtype, COMPUTE_DTYPES)
        if not 0 < self.second_expert_threshold <= 1:
            raise ConfigError("second_expert_threshold", self.second_expert_threshold,
                              "must be in (0, 1]")
        for name in ("aux_loss_weight", "router_z_loss_weight", "logit_z_loss_weight"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(name, value, "must be a finite number >= 0")
        if not 0 < self.norm_epsilon < 1:
            raise ConfigError("norm_epsilon", self.norm_epsilon, "must be in (0, 1)")
        if self.rel_pos_buckets < 2:
            raise ConfigError("rel_pos_buckets", self.rel_pos_buckets, "must be >= 2")

    # -- derived properties -------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def is_moe_layer(self, index: int) -> bool:
        """Whether block `index` (0-based) uses the MoE feed-forward layer."""
        return self.is_moe and index % self.moe_interval == self.moe_offset

    @property
    def num_moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.num_layers))

    @property
    def keras_dtype_policy(self) -> str:
        return "mixed_bfloat16" if self.compute_dtype == "bfloat16" else "float32"

    # -- (de)serialization --------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "GlamConfig":
        """Reads a stored config (`to_dict`'s output, possibly from older code)."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(unknown[0], values[unknown[0]],
                              f"is not a GlamConfig field; fields are {_field_names()}")
        added = {name: value_for(values) for name, value_for in _ADDED_FIELDS.items()
                 if name not in values}
        return cls(**values, **added)

    @classmethod
    def from_json(cls, text: str) -> "GlamConfig":
        return cls.from_dict(json.loads(text))

    def override(self, assignments) -> "GlamConfig":
        """Applies `key=value` strings (the CLI's `--set`) and returns a new config."""
        changes = {}
        types = _field_types()
        for item in assignments:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(key, item, "an override must look like key=value")
            if key not in types:
                raise ConfigError(key, raw, f"is not a GlamConfig field; fields are {_field_names()}")
            changes[key] = _parse_value(key, raw.strip(), types[key])
        return dataclasses.replace(self, **changes)


# Fields added after model dirs were written without them, and the value that
# reproduces what the code of that time did, for a stored config that lacks them.
_ADDED_FIELDS = {
    "moe_offset": lambda stored: stored.get("moe_interval", GlamConfig.moe_interval) - 1,
}


def _field_names() -> str:
    return ", ".join(f.name for f in dataclasses.fields(GlamConfig))


def _field_types() -> dict:
    return typing.get_type_hints(GlamConfig)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ConfigError(name, value, f"must be one of {', '.join(choices)}")


def _check_type(name, value, hint):
    optional = typing.get_origin(hint) is typing.Union
    base = [t for t in typing.get_args(hint) if t is not type(None)][0] if optional else hint
    if value is None:
        if not optional:
            raise ConfigError(name, value, f"must be of type {base.__name__}, not None")
        return
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if base in (int, float) and isinstance(value, bool) or not isinstance(value, base):
        raise ConfigError(name, value, f"must be of type {base.__name__}")


def _parse_value(name, raw, hint):
    optional = typing.get_origin(hint) is typing.Union
    base = [t for t in typing.get_args(hint) if t is not type(None)][0] if optional else hint
    if optional and raw.lower() in ("none", "null"):
        return None
    try:
        if base is bool:
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        return base(raw)
    except ValueError:
        raise ConfigError(name, raw, f"cannot be read as type {base.__name__}") from None
