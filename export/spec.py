"""The served signatures' inputs and outputs, in one table.

The exporter builds its `tf.TensorSpec`s from it, the client converts request
values with its dtypes, and the tests and docs/serving.md check against it.
Shapes: `None` is a dimension of any size (B prompts, P prompt tokens, N new
tokens, C continuation tokens, N candidates per prompt); `()` is a scalar.

Optional inputs have a default in the SignatureDef (`defaults` map, written by
TF 2.21 from the serving functions' default arguments); TF Serving's Predict
fills an input that a request leaves out from it. `max_new_tokens` defaults to
the export's own limit, so its default is not in this table.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

METHOD_NAME = "tensorflow/serving/predict"
BEAM_SIZE = 4


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One named input or output: dtype is a tf.DType name, shape has None for any size."""

    name: str
    dtype: str
    shape: tuple
    optional: bool = False
    default: Optional[object] = None


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    inputs: tuple
    outputs: tuple
    doc: str

    def input(self, name) -> Tensor:
        return next(t for t in self.inputs if t.name == name)

    def output(self, name) -> Tensor:
        return next(t for t in self.outputs if t.name == name)


_MAX_NEW_TOKENS = Tensor("max_new_tokens", "int32", (), optional=True)
_SAMPLING = (
    _MAX_NEW_TOKENS,
    Tensor("temperature", "float32", (), optional=True, default=0.0),
    Tensor("top_k", "int32", (), optional=True, default=0),
    Tensor("top_p", "float32", (), optional=True, default=1.0),
    Tensor("seed", "int32", (), optional=True, default=0),
)
_GENERATED = (
    Tensor("token_ids", "int32", (None, None)),
    Tensor("lengths", "int32", (None,)),
    Tensor("scores", "float32", (None,)),
    Tensor("prompt_tokens_dropped", "int32", (None,)),
)
_SCORED = (
    Tensor("log_likelihood", "float32", (None,)),
    Tensor("num_tokens", "int32", (None,)),
    Tensor("is_greedy", "bool", (None,)),
    Tensor("prompt_tokens_dropped", "int32", (None,)),
)
_SCORED_CANDIDATES = (
    Tensor("log_likelihood", "float32", (None, None)),
    Tensor("num_tokens", "int32", (None, None)),
    Tensor("is_greedy", "bool", (None, None)),
    Tensor("prompt_tokens_dropped", "int32", (None,)),
)
_PROMPTS = Tensor("prompts", "string", (None,))
_COMPLETIONS = Tensor("completions", "string", (None,))
_PROMPT_IDS = (Tensor("prompt_ids", "int32", (None, None)),
               Tensor("prompt_mask", "int32", (None, None)))

SIGNATURES = {s.name: s for s in (
    Signature("serving_default", (_PROMPTS,) + _SAMPLING, (_COMPLETIONS,) + _GENERATED,
              "Greedy (temperature 0) or sampled continuations of text prompts."),
    Signature("beam", (_PROMPTS, _MAX_NEW_TOKENS), (_COMPLETIONS,) + _GENERATED,
              f"The most likely continuation under beam search of width {BEAM_SIZE}."),
    Signature("score", (_PROMPTS, Tensor("continuations", "string", (None,))), _SCORED,
              "Log-likelihood of each continuation after its prompt (few-shot ranking)."),
    Signature("score_candidates", (_PROMPTS, Tensor("candidates", "string", (None, None))),
              _SCORED_CANDIDATES,
              "score for N candidates per prompt [B, N], the prompt run once; an empty "
              "candidate scores 0 over 0 tokens (pads rows with fewer candidates)."),
    Signature("generate_ids", _PROMPT_IDS + _SAMPLING, _GENERATED,
              "serving_default on token ids: left-padded prompts, mask 1 = token."),
    Signature("score_ids", _PROMPT_IDS + (Tensor("continuation_ids", "int32", (None, None)),
                                          Tensor("continuation_mask", "int32", (None, None))),
              _SCORED, "score on token ids: left-padded prompts, right-padded continuations."),
)}
