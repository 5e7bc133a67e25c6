"""Few-shot evaluation: metrics, shot sampling and prompt fitting, rank classification.

Public API
  Metrics (`glam_tf.evaluation.metrics`)
    normalize_answer(text) -> str                 SQuAD normalization
    exact_match(prediction, answers, no_answer=None) -> float   best over answers
    f1(prediction, answers, no_answer=None) -> float            token F1, best over answers
    postprocess_generation(text, stop_sequences=()) -> str
  Shots (`glam_tf.evaluation.shots`)
    sample_shots(pool_size, k, seed, exclude_index=None, *, example_index) -> [int]
    fit_prompt(task_or_callable, example, shots, max_tokens, count_tokens)
      -> FittedPrompt(example, shots_used, shots_dropped)  drops shots from the front
    prompt_tokens(example, count_tokens) -> int
  Ranking (`glam_tf.evaluation.ranking`)
    rank_classify(examples, score_fn, length_normalize, batch_size=32) -> [dict]
      score_fn(contexts, continuations) -> (log_likelihoods, num_tokens)
    accuracy(results) -> float
    model_score_fn(model, tokenizer, max_length) -> score_fn
"""

from glam_tf.evaluation.metrics import (exact_match, f1, normalize_answer,
                                        postprocess_generation)
from glam_tf.evaluation.ranking import accuracy, model_score_fn, rank_classify
from glam_tf.evaluation.shots import FittedPrompt, fit_prompt, prompt_tokens, sample_shots

__all__ = ["FittedPrompt", "accuracy", "exact_match", "f1", "fit_prompt", "model_score_fn",
           "normalize_answer", "postprocess_generation", "prompt_tokens", "rank_classify",
           "sample_shots"]
