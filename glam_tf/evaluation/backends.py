"""Evaluation backends: one model behind `score` and greedy `generate`, three ways to reach it.

A backend has

  score(contexts: list[str], continuations: list[str])
      -> (log_likelihoods: list[float], num_tokens: list[int])
  generate(prompts: list[str], max_new_tokens: int) -> list[str]      (greedy)

and, when `shares_prompts`, `score_candidates(contexts, candidate_lists)`
(`ranking`'s candidates_score_fn: each context runs once for its candidates),
and the attributes `batch_size` (most rows per call to the model),
`max_length` (tokens per row, None when unknown) and `max_new_tokens` (most
tokens `generate` may produce, None when unbounded), plus
`count_tokens(text) -> int` when it knows its tokenizer (else None).

  ModelDirBackend(model_dir)           the trained model in this process, restored
                                       as `glam export` restores it
  SavedModelBackend(path)              an exported SavedModel (`score`, `serving_default`)
  RestBackend(url, model_name)         a model on TF Serving, over REST

Every backend reads a text row as [EOS] + its tokens (as in training and in the
export's signatures); `generate` returns the text before EOS.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import tensorflow as tf

from glam_tf import fileio
from glam_tf.export.spec import BEAM_SIZE
from glam_tf.tokenizer import EOS_ID, MODEL_FILENAME, PAD_ID, detokenize_continuation


def _batches(n, batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class Backend:
    """Common batching; subclasses implement `_score_batch` and `_generate_batch`."""

    batch_size: int = 8
    max_length: Optional[int] = None
    max_new_tokens: Optional[int] = None
    tokenizer = None
    beam: bool = False  # decode generation tasks with beam search of width 4 (the paper's)
    shares_prompts: bool = False  # offers score_candidates

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            raise ValueError(f"{type(self).__name__} has no tokenizer to count tokens with")
        return int(self.tokenizer.tokenize(tf.constant([text])).row_lengths()[0])

    @property
    def can_count_tokens(self) -> bool:
        return self.tokenizer is not None

    def score(self, contexts, continuations):
        contexts, continuations = list(contexts), list(continuations)
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts for {len(continuations)} continuations")
        lls, counts = [], []
        for start, end in _batches(len(contexts), self.batch_size):
            ll, n = self._score_batch(contexts[start:end], continuations[start:end])
            lls.extend(float(x) for x in ll)
            counts.extend(int(x) for x in n)
        return lls, counts

    def score_candidates(self, contexts, candidate_lists):
        """One context with its list of candidates per row; the caller sizes the batch."""
        if not self.shares_prompts:
            raise NotImplementedError(f"{type(self).__name__} scores (context, continuation) "
                                      "pairs only")
        contexts, candidate_lists = list(contexts), [list(c) for c in candidate_lists]
        if len(contexts) != len(candidate_lists):
            raise ValueError(f"{len(contexts)} contexts for {len(candidate_lists)} "
                             "candidate lists")
        if any(not c for c in candidate_lists):
            raise ValueError("every context needs at least one candidate")
        lls, counts = self._score_candidates_batch(contexts, candidate_lists)
        return ([[float(x) for x in row[:len(c)]] for row, c in zip(lls, candidate_lists)],
                [[int(x) for x in row[:len(c)]] for row, c in zip(counts, candidate_lists)])

    def generate(self, prompts, max_new_tokens):
        prompts = list(prompts)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens}: must be >= 1")
        if self.max_new_tokens is not None and max_new_tokens > self.max_new_tokens:
            raise ValueError(f"max_new_tokens={max_new_tokens}: this backend generates at most "
                             f"{self.max_new_tokens}")
        out = []
        for start, end in _batches(len(prompts), self.batch_size):
            out.extend(_text(t) for t in self._generate_batch(prompts[start:end],
                                                              int(max_new_tokens)))
        return out

    def _score_batch(self, contexts, continuations):
        raise NotImplementedError

    def _generate_batch(self, prompts, max_new_tokens):
        raise NotImplementedError

    def _score_candidates_batch(self, contexts, candidate_lists):
        raise NotImplementedError


def _rectangular(candidate_lists):
    """Candidate lists padded with empty strings to the longest (they score 0 over 0 tokens)."""
    width = max(map(len, candidate_lists))
    return [c + [""] * (width - len(c)) for c in candidate_lists]


class ModelDirBackend(Backend):
    """The latest checkpoint of a `glam train` model dir, in this process.

    The model is restored as the exporter restores it (`read_model_dir`,
    `restore_model`); scoring is `ranking.model_score_fn`, generation
    `decoding.generate` (greedy) on [EOS] + prompt tokens, cut from the left to
    leave room for the new tokens, as the export's `serving_default` does.
    Candidates of one context share its key/value cache (`score_candidates`).
    """

    shares_prompts = True

    def __init__(self, model_dir, batch_size: int = 8, beam: bool = False):
        from glam_tf.evaluation.ranking import model_candidates_score_fn, model_score_fn
        from glam_tf.export.exporter import read_model_dir, restore_model
        from glam_tf.tokenizer import load_tokenizer

        config, train_config, tokenizer_path, checkpoint = read_model_dir(model_dir)
        self.model = restore_model(config, checkpoint)
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.batch_size = int(batch_size)
        self.beam = beam
        self.max_length = config.max_seq_len
        self.max_new_tokens = config.max_seq_len - 1
        self._score_fn = model_score_fn(self.model, self.tokenizer, self.max_length)
        self._candidates_fn = model_candidates_score_fn(self.model, self.tokenizer,
                                                        self.max_length)

    def _score_batch(self, contexts, continuations):
        return self._score_fn(contexts, continuations)

    def _score_candidates_batch(self, contexts, candidate_lists):
        return self._candidates_fn(contexts, candidate_lists)

    def _generate_batch(self, prompts, max_new_tokens):
        from glam_tf import decoding

        room = self.max_length - max_new_tokens
        rows = [[EOS_ID] + t[max(len(t) - (room - 1), 0):] for t in
                self.tokenizer.tokenize(tf.constant(prompts, tf.string)).to_list()]
        width = max(map(len, rows))
        ids = np.full((len(rows), width), PAD_ID, np.int32)
        mask = np.zeros((len(rows), width), np.int32)
        for i, row in enumerate(rows):
            ids[i, width - len(row):] = row
            mask[i, width - len(row):] = 1
        if self.beam:
            out = decoding.beam_search(self.model, ids, mask, max_new_tokens,
                                       beam_size=BEAM_SIZE, eos_id=EOS_ID)
        else:
            out = decoding.generate(self.model, ids, mask, max_new_tokens, eos_id=EOS_ID)
        kept = tf.RaggedTensor.from_tensor(out["token_ids"], lengths=out["lengths"])
        return detokenize_continuation(self.tokenizer, kept).numpy().tolist()


class SavedModelBackend(Backend):
    """An export of `glam export` (a version directory), loaded in this process.

    Uses the `score_candidates` (exports that have it), `score` and
    `serving_default` (greedy: temperature 0) signatures, every input given. `batch_size` must not exceed the export's --max_batch.
    `max_length` (the model's max_seq_len) is not in the SavedModel: give it to
    let the evaluator fit few-shot prompts.
    """

    def __init__(self, path, batch_size: int = 8, max_length: Optional[int] = None,
                 max_new_tokens: Optional[int] = None, beam: bool = False):
        import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)
        from glam_tf.tokenizer import load_tokenizer

        path = os.fspath(path)
        if not fileio.isfile(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path}: no saved_model.pb (give a version directory "
                                    "written by glam export)")
        self.loaded = tf.saved_model.load(path)
        self._score = self.loaded.signatures["score"]
        self._generate = self.loaded.signatures["serving_default"]
        self._beam = self.loaded.signatures["beam"]
        self._score_candidates = self.loaded.signatures.get("score_candidates")
        self.shares_prompts = self._score_candidates is not None
        self.beam = beam
        asset = os.path.join(path, "assets", MODEL_FILENAME)
        self.tokenizer = load_tokenizer(asset) if fileio.isfile(asset) else None
        self.batch_size = int(batch_size)
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens

    def _score_batch(self, contexts, continuations):
        out = self._score(prompts=tf.constant(contexts, tf.string),
                          continuations=tf.constant(continuations, tf.string))
        return out["log_likelihood"].numpy().tolist(), out["num_tokens"].numpy().tolist()

    def _score_candidates_batch(self, contexts, candidate_lists):
        out = self._score_candidates(prompts=tf.constant(contexts, tf.string),
                                     candidates=tf.constant(_rectangular(candidate_lists),
                                                            tf.string))
        return out["log_likelihood"].numpy().tolist(), out["num_tokens"].numpy().tolist()

    def _generate_batch(self, prompts, max_new_tokens):
        if self.beam:
            return self._beam(prompts=tf.constant(prompts, tf.string),
                              max_new_tokens=tf.constant(max_new_tokens, tf.int32)
                              )["completions"].numpy().tolist()
        out = self._generate(prompts=tf.constant(prompts, tf.string),
                             max_new_tokens=tf.constant(max_new_tokens, tf.int32),
                             temperature=tf.constant(0.0), top_k=tf.constant(0, tf.int32),
                             top_p=tf.constant(1.0), seed=tf.constant(0, tf.int32))
        return out["completions"].numpy().tolist()


class RestBackend(Backend):
    """A model served by TF Serving, over REST (`glam_tf.export.client.RestClient`).

    `shares_prompts` (default True) uses the export's `score_candidates`
    signature; set it False for a model exported before that signature existed.
    """

    def __init__(self, url, model_name, batch_size: int = 8, max_length: Optional[int] = None,
                 max_new_tokens: Optional[int] = None, tokenizer_path=None, timeout=300.0,
                 beam: bool = False, shares_prompts: bool = True):
        from glam_tf.export.client import RestClient

        self.client = RestClient(url, model_name, timeout=timeout)
        self.client.check_reachable()  # a wrong URL fails here, before anything is evaluated
        self.beam = beam
        self.shares_prompts = shares_prompts
        self.batch_size = int(batch_size)
        self.max_length = max_length
        self.max_new_tokens = max_new_tokens
        if tokenizer_path is not None:
            from glam_tf.tokenizer import load_tokenizer
            self.tokenizer = load_tokenizer(tokenizer_path)

    def _score_batch(self, contexts, continuations):
        out = self.client.score(contexts, continuations)
        return out["log_likelihood"].tolist(), out["num_tokens"].tolist()

    def _score_candidates_batch(self, contexts, candidate_lists):
        out = self.client.score_candidates(contexts, _rectangular(candidate_lists))
        return out["log_likelihood"].tolist(), out["num_tokens"].tolist()

    def _generate_batch(self, prompts, max_new_tokens):
        if self.beam:
            out = self.client.predict("beam", prompts=prompts, max_new_tokens=max_new_tokens)
        else:
            out = self.client.generate(prompts, max_new_tokens, temperature=0.0)
        return out["completions"].tolist()
