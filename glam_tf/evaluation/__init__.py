"""Few-shot evaluation: metrics, shots and prompt fitting, rank classification, the evaluator.

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
    rank_classify(examples, score_fn, length_normalize, batch_size=32,
                  candidates_score_fn=None, unconditional_context=None) -> [dict]
      score_fn(contexts, continuations) -> (log_likelihoods, num_tokens)
      candidates_score_fn(contexts, candidate_lists) -> (lists, lists)  one pass per context
    accuracy(results) -> float
    model_score_fn / model_candidates_score_fn(model, tokenizer, max_length)
    continuation_tokens(context_tokens, joined_tokens) -> tokens the scorers read
  Evaluator (`glam_tf.evaluation.evaluator`)
    evaluate(task, backend, shots=0, seed=0, max_examples=None, max_tokens=None,
             progress=None) -> dict
    evaluate_all(tasks, backend, shots_list, ..., log=None, bar=None) -> [dict]
    format_table(results) -> str                  the paper's zero/one/few-shot table
  Backends (`glam_tf.evaluation.backends`)
    ModelDirBackend(model_dir), SavedModelBackend(path), RestBackend(url, model_name)
"""

from glam_tf.evaluation.metrics import (exact_match, f1, normalize_answer,
                                        postprocess_generation)
from glam_tf.evaluation.ranking import (accuracy, continuation_tokens,
                                        model_candidates_score_fn, model_score_fn,
                                        rank_classify)
from glam_tf.evaluation.shots import FittedPrompt, fit_prompt, prompt_tokens, sample_shots

__all__ = ["FittedPrompt", "accuracy", "continuation_tokens", "exact_match", "f1", "fit_prompt",
           "model_candidates_score_fn", "model_score_fn", "normalize_answer",
           "postprocess_generation", "prompt_tokens", "rank_classify", "sample_shots"]
