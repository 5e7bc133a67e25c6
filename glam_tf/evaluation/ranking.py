"""Rank classification: score every candidate continuation, pick the most likely.

A scorer is any function

  score_fn(contexts: list[str], continuations: list[str])
      -> (log_likelihoods: list[float], num_tokens: list[int])

giving log P(continuation | context) summed over the continuation's tokens,
and its token count, for each pair. A scorer that can run a shared context
once for all of its candidates also offers

  candidates_score_fn(contexts: list[str], candidates: list[list[str]])
      -> (log_likelihoods: list[list[float]], num_tokens: list[list[int]])

(one context per list of continuations), which rank_classify then prefers.
`model_score_fn` and `model_candidates_score_fn` build both from an
in-process GlamModel; the evaluation backends adapt a SavedModel or a REST
endpoint the same way. Candidates of different examples share batches.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from glam_tf import decoding
from glam_tf.evaluation.normalization import NORMALIZATIONS, check_normalization
from glam_tf.tasks.task import Formatted
from glam_tf.tokenizer import EOS_ID, PAD_ID

ScoreFn = Callable[[list, list], tuple]


def _units(examples, batch_size, shared):
    """(example, [candidate indices], context, [continuations]) to score together.

    Shared: the candidates of an example that follow the same context, in
    chunks of at most batch_size; otherwise one unit per candidate.
    """
    units = []
    for e, example in enumerate(examples):
        if not example.is_rank:
            raise ValueError(f"example {e} has no candidates: rank_classify needs rank examples")
        pairs = example.pairs()
        if not shared:
            units.extend((e, [c], context, [continuation])
                         for c, (context, continuation) in enumerate(pairs))
            continue
        by_context = {}
        for c, (context, _) in enumerate(pairs):
            by_context.setdefault(context, []).append(c)
        for context, members in by_context.items():
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                units.append((e, chunk, context, [pairs[c][1] for c in chunk]))
    return units


def _batches(units, batch_size):
    """Consecutive units that fit batch_size rows once padded to the widest unit.

    Scorers pad every context to as many candidates as the widest unit holds,
    so a batch costs len(batch) * widest rows.
    """
    batch, widest = [], 0
    for unit in units:
        width = max(widest, len(unit[1]))
        if batch and (len(batch) + 1) * width > batch_size:
            yield batch
            batch, width = [], len(unit[1])
        batch.append(unit)
        widest = width
    if batch:
        yield batch


def _check_lengths(what, got, want):
    if len(got) != len(want):
        raise ValueError(f"{what} returned {len(got)} values for {len(want)} inputs")


def _log_likelihoods(examples, score_fn, batch_size, candidates_score_fn):
    """([[log-likelihood per candidate] per example], [[token count ...] ...])."""
    units = _units(examples, batch_size, shared=candidates_score_fn is not None)
    log_likelihoods = [[None] * len(x.candidates) for x in examples]
    num_tokens = [[None] * len(x.candidates) for x in examples]
    for batch in _batches(units, batch_size):
        if candidates_score_fn is not None:
            lls, counts = candidates_score_fn([u[2] for u in batch], [u[3] for u in batch])
            lls, counts = list(lls), list(counts)
            _check_lengths("candidates_score_fn", lls, batch)
            _check_lengths("candidates_score_fn", counts, batch)
        else:
            flat_lls, flat_counts = score_fn([u[2] for u in batch], [u[3][0] for u in batch])
            flat_lls, flat_counts = list(flat_lls), list(flat_counts)
            _check_lengths("score_fn", flat_lls, batch)
            _check_lengths("score_fn", flat_counts, batch)
            lls, counts = [[x] for x in flat_lls], [[n] for n in flat_counts]
        for (e, members, _, _), ll, count in zip(batch, lls, counts):
            _check_lengths("candidates_score_fn", list(ll), members)
            for c, x, n in zip(members, ll, count):
                log_likelihoods[e][c], num_tokens[e][c] = float(x), int(n)
    return log_likelihoods, num_tokens


def rank_classify(examples: Sequence[Formatted], score_fn: ScoreFn, normalization: str = "token",
                  batch_size: int = 32, candidates_score_fn=None,
                  unconditional_context: Optional[str] = None) -> list[dict]:
    """Scores each candidate of each rank example and picks the argmax.

    A candidate's score is its summed log-likelihood normalized as
    `NORMALIZATIONS[normalization]` says (Task.normalization); "unconditional"
    subtracts its log-likelihood after `unconditional_context` alone
    (Task.unconditional_context). Ties go to the lowest index. Each candidate
    follows its own context when the example has `candidate_prompts` (see
    `Formatted.pairs`). With `candidates_score_fn`, the candidates that share
    a context are scored in one call, so the context runs once; `score_fn` is
    then not called.

    Returns one dict per example: {"prediction": int, "correct": bool (the
    prediction is in `correct_labels`; always False for an unlabelled
    example), "scores": [float per candidate], "log_likelihoods": [...],
    "num_tokens": [...]}, and "unconditional_log_likelihoods" with an
    unconditional context.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")
    check_normalization(normalization, unconditional_context)
    normalize = NORMALIZATIONS[normalization]
    log_likelihoods, num_tokens = _log_likelihoods(examples, score_fn, batch_size,
                                                   candidates_score_fn)
    baselines = [[None] * len(x.candidates) for x in examples]
    if unconditional_context is not None:
        bare = [Formatted(prompt=unconditional_context, candidates=x.candidates)
                for x in examples]
        baselines, _ = _log_likelihoods(bare, score_fn, batch_size, candidates_score_fn)

    results = []
    for example, lls, counts, base in zip(examples, log_likelihoods, num_tokens, baselines):
        if min(counts) < 1:
            raise ValueError(f"a candidate of {example.candidates!r} has no tokens")
        scores = [normalize(ll, n, text, b)
                  for ll, n, text, b in zip(lls, counts, example.candidates, base)]
        prediction = int(np.argmax(scores))
        result = {"prediction": prediction, "correct": prediction in example.correct_labels,
                  "scores": scores, "log_likelihoods": lls, "num_tokens": counts}
        if unconditional_context is not None:
            result["unconditional_log_likelihoods"] = base
        results.append(result)
    return results


def accuracy(results: Sequence[dict]) -> float:
    """Fraction of `rank_classify` results whose prediction is correct."""
    if not results:
        raise ValueError("no results to compute accuracy over")
    return sum(bool(r["correct"]) for r in results) / len(results)


def _tokenize(tokenizer, texts):
    return tokenizer.tokenize(tf.constant(list(texts), tf.string)).to_list()


def continuation_tokens(context_tokens, joined_tokens):
    """The continuation's tokens: those of context + continuation after the context's own.

    A continuation is not tokenized alone: SentencePiece reads every text as
    if it began with a space (its dummy prefix), so " fruit" alone is `▁` `▁fruit`
    where after "A:" it is `▁fruit`. Tokenizing the joined text and dropping
    as many tokens as the context has gives the pieces the model reads.
    """
    return joined_tokens[len(context_tokens):]


def _token_arrays(tokenizer, contexts, candidate_lists, max_length):
    """Left-padded [EOS] + context rows [B, P] and right-padded candidates [B, N, C].

    Candidate tokens follow `continuation_tokens`. Each context loses tokens
    from the left to leave room for its longest candidate; rows with fewer
    candidates than N are padded with empty ones.
    """
    if len(contexts) != len(candidate_lists):
        raise ValueError(f"{len(contexts)} contexts for {len(candidate_lists)} candidate lists")
    joined = _tokenize(tokenizer, [x + c for x, cands in zip(contexts, candidate_lists)
                                   for c in cands])
    rows, i = [], 0
    for text, context, cands in zip(contexts, _tokenize(tokenizer, contexts), candidate_lists):
        tokens = [continuation_tokens(context, j) for j in joined[i:i + len(cands)]]
        i += len(cands)
        for candidate, t in zip(cands, tokens):
            if not 1 <= len(t) <= max_length - 1:
                raise ValueError(f"the continuation {candidate!r} has {len(t)} tokens after "
                                 f"{text[-40:]!r}: it does not fit max_length={max_length} "
                                 "with at least one context token")
        longest = max(map(len, tokens))
        rows.append((([EOS_ID] + context)[-(max_length - longest):], tokens))
    width_p = max(len(c) for c, _ in rows)
    width_n = max(len(t) for _, t in rows)
    width_c = max(len(x) for _, t in rows for x in t)
    prompt_ids = np.full((len(rows), width_p), PAD_ID, np.int32)
    prompt_mask = np.zeros((len(rows), width_p), np.int32)
    cand_ids = np.full((len(rows), width_n, width_c), PAD_ID, np.int32)
    cand_mask = np.zeros((len(rows), width_n, width_c), np.int32)
    for b, (context, tokens) in enumerate(rows):
        prompt_ids[b, width_p - len(context):] = context
        prompt_mask[b, width_p - len(context):] = 1
        for n, t in enumerate(tokens):
            cand_ids[b, n, :len(t)] = t
            cand_mask[b, n, :len(t)] = 1
    return prompt_ids, prompt_mask, cand_ids, cand_mask


def _check_max_length(max_length):
    if max_length < 2:
        raise ValueError(f"max_length={max_length}: must be >= 2")


def model_score_fn(model, tokenizer, max_length: int) -> ScoreFn:
    """A `score_fn` running `decoding.score` (one forward pass) on an in-process GlamModel.

    Args:
      model: GlamModel.
      tokenizer: TF Text SentencePiece tokenizer (`glam_tf.tokenizer.load_tokenizer`).
      max_length: most tokens per (context, continuation) row; longer
        contexts lose tokens from the left.
    Each context is [EOS] + its tokens (EOS separates documents in
    training); contexts are left-padded and continuations right-padded.
    Raises ValueError when a continuation leaves no room for one context token.
    """
    _check_max_length(max_length)

    def score_fn(contexts, continuations):
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts for {len(continuations)} continuations")
        p_ids, p_mask, c_ids, c_mask = _token_arrays(tokenizer, contexts,
                                                     [[c] for c in continuations], max_length)
        out = decoding.score(model, p_ids, p_mask, c_ids[:, 0], c_mask[:, 0])
        return (out["log_likelihood"].numpy().tolist(), out["num_tokens"].numpy().tolist())

    return score_fn


def model_candidates_score_fn(model, tokenizer, max_length: int):
    """A `candidates_score_fn` running `decoding.score_candidates` on an in-process GlamModel.

    Each context runs once (its key/value cache is shared by its candidates);
    rows as in `model_score_fn`, the context cut from the left to leave room
    for its longest candidate.
    """
    _check_max_length(max_length)

    def candidates_score_fn(contexts, candidate_lists):
        candidate_lists = [list(c) for c in candidate_lists]
        p_ids, p_mask, c_ids, c_mask = _token_arrays(tokenizer, contexts, candidate_lists,
                                                     max_length)
        out = decoding.score_candidates(model, p_ids, p_mask, c_ids, c_mask)
        lls, counts = out["log_likelihood"].numpy(), out["num_tokens"].numpy()
        return ([lls[b, :len(c)].tolist() for b, c in enumerate(candidate_lists)],
                [counts[b, :len(c)].tolist() for b, c in enumerate(candidate_lists)])

    return candidates_score_fn
