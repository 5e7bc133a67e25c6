"""Rank classification: score every candidate continuation, pick the most likely.

A scorer is any function

  score_fn(contexts: list[str], continuations: list[str])
      -> (log_likelihoods: list[float], num_tokens: list[int])

giving log P(continuation | context) summed over the continuation's tokens,
and its token count, for each pair. `model_score_fn` builds one from an
in-process GlamModel; a SavedModel signature or a REST client can be adapted
the same way. Candidates of different examples share batches.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from glam_tf import decoding
from glam_tf.tasks.task import Formatted
from glam_tf.tokenizer import EOS_ID, PAD_ID

ScoreFn = Callable[[list, list], tuple]


def rank_classify(examples: Sequence[Formatted], score_fn: ScoreFn, length_normalize: bool,
                  batch_size: int = 32) -> list[dict]:
    """Scores each candidate of each rank example and picks the argmax.

    A candidate's score is its summed log-likelihood, divided by its token
    count when `length_normalize` (Task.length_normalize). Ties go to the
    lowest index. Each candidate follows its own context when the example has
    `candidate_prompts` (see `Formatted.pairs`).

    Returns one dict per example: {"prediction": int, "correct": bool (the
    prediction is in `correct_labels`; always False for an unlabelled
    example), "scores": [float per candidate], "log_likelihoods": [...],
    "num_tokens": [...]}.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")
    pairs = []                                       # (example, candidate, context, continuation)
    for e, example in enumerate(examples):
        if not example.is_rank:
            raise ValueError(f"example {e} has no candidates: rank_classify needs rank examples")
        pairs.extend((e, c, context, continuation)
                     for c, (context, continuation) in enumerate(example.pairs()))
    log_likelihoods, num_tokens = [], []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        lls, counts = score_fn([p[2] for p in batch], [p[3] for p in batch])
        lls, counts = list(lls), list(counts)
        if len(lls) != len(batch) or len(counts) != len(batch):
            raise ValueError(f"score_fn returned {len(lls)} log-likelihoods and {len(counts)} "
                             f"token counts for {len(batch)} pairs")
        log_likelihoods.extend(float(x) for x in lls)
        num_tokens.extend(int(n) for n in counts)

    results, i = [], 0
    for example in examples:
        n = len(example.candidates)
        lls, counts = log_likelihoods[i:i + n], num_tokens[i:i + n]
        i += n
        if length_normalize:
            if min(counts) < 1:
                raise ValueError(f"a candidate of {example.candidates!r} has no tokens; "
                                 "cannot length-normalize")
            scores = [ll / count for ll, count in zip(lls, counts)]
        else:
            scores = lls
        prediction = int(np.argmax(scores))
        results.append({"prediction": prediction,
                        "correct": prediction in example.correct_labels,
                        "scores": scores, "log_likelihoods": lls, "num_tokens": counts})
    return results


def accuracy(results: Sequence[dict]) -> float:
    """Fraction of `rank_classify` results whose prediction is correct."""
    if not results:
        raise ValueError("no results to compute accuracy over")
    return sum(bool(r["correct"]) for r in results) / len(results)


def model_score_fn(model, tokenizer, max_length: int) -> ScoreFn:
    """A `score_fn` running `decoding.score` on an in-process GlamModel.

    Args:
      model: GlamModel.
      tokenizer: TF Text SentencePiece tokenizer (`glam_tf.tokenizer.load_tokenizer`).
      max_length: most tokens per (context, continuation) row; longer
        contexts lose tokens from the left.
    Each context is [EOS] + its tokens (EOS separates documents in
    training); contexts are left-padded and continuations right-padded.
    Raises ValueError when a continuation leaves no room for one context token.
    """
    if max_length < 2:
        raise ValueError(f"max_length={max_length}: must be >= 2")

    def tokenize(texts):
        return tokenizer.tokenize(tf.constant(list(texts), tf.string)).to_list()

    def score_fn(contexts, continuations):
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts for {len(continuations)} continuations")
        rows = []
        for context, continuation in zip(tokenize(contexts), tokenize(continuations)):
            if not 1 <= len(continuation) <= max_length - 1:
                raise ValueError(f"a continuation of {len(continuation)} tokens does not fit "
                                 f"max_length={max_length} with at least one context token")
            context = ([EOS_ID] + context)[-(max_length - len(continuation)):]
            rows.append((context, continuation))
        width_p = max(len(c) for c, _ in rows)
        width_c = max(len(t) for _, t in rows)
        prompt_ids = np.full((len(rows), width_p), PAD_ID, np.int32)      # [B, P] left-padded
        prompt_mask = np.zeros((len(rows), width_p), np.int32)
        cont_ids = np.full((len(rows), width_c), PAD_ID, np.int32)        # [B, C] right-padded
        cont_mask = np.zeros((len(rows), width_c), np.int32)
        for row, (context, continuation) in enumerate(rows):
            prompt_ids[row, width_p - len(context):] = context
            prompt_mask[row, width_p - len(context):] = 1
            cont_ids[row, :len(continuation)] = continuation
            cont_mask[row, :len(continuation)] = 1
        out = decoding.score(model, prompt_ids, prompt_mask, cont_ids, cont_mask)
        return (out["log_likelihood"].numpy().tolist(), out["num_tokens"].numpy().tolist())

    return score_fn
