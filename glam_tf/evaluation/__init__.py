"""Few-shot evaluation: metrics, shots and prompt fitting, rank classification, the evaluator.

The names below are imported on first use, so that `glam_tf.tasks` can read the
light modules (scorers, normalization) without loading TensorFlow.

Public API
  Metrics (`glam_tf.evaluation.metrics`)
    normalize_answer(text) -> str                 SQuAD normalization
    exact_match(prediction, answers, no_answer=None) -> float   best over answers
    f1(prediction, answers, no_answer=None) -> float            token F1, best over answers
    postprocess_generation(text, stop_sequences=()) -> str
    f1a(predicted, gold), group_exact_match(groups, correct)   MultiRC
  Shots (`glam_tf.evaluation.shots`)
    sample_shots(pool_size, k, seed, exclude_index=None, *, example_index) -> [int]
    fit_prompt(task_or_callable, example, shots, max_tokens, count_tokens)
      -> FittedPrompt(example, shots_used, shots_dropped)  drops shots from the front
    prompt_tokens(example, count_tokens) -> int
  Ranking (`glam_tf.evaluation.ranking`)
    rank_classify(examples, score_fn, normalization="token", batch_size=32,
                  candidates_score_fn=None, unconditional_context=None) -> [dict]
      score_fn(contexts, continuations) -> (log_likelihoods, num_tokens)
      candidates_score_fn(contexts, candidate_lists) -> (lists, lists)  one pass per context
    accuracy(results) -> float
    model_score_fn / model_candidates_score_fn(model, tokenizer, max_length)
    continuation_tokens(context_tokens, joined_tokens) -> tokens the scorers read
  Normalization (`glam_tf.evaluation.normalization`)
    NORMALIZATIONS {"sum", "token", "char", "unconditional"}; check_normalization
  Scorers (`glam_tf.evaluation.scorers`): SCORERS, one per Task.kind
    rank (ReCoRD also f1), rank_grouped (MultiRC: f1a, exact_match), generate,
    generate_drop (DROP F1, each gold answer its spans)
  DROP metrics (`glam_tf.evaluation.drop_metrics`)
    drop_metrics(prediction, answers) -> {"exact_match", "f1"}; official_date(text)
  Paper results (`glam_tf.evaluation.paper`): load_paper_results() -> the published
    scores (paper_results.json), for format_table(results, paper=...)
  Evaluator (`glam_tf.evaluation.evaluator`)
    evaluate(task, backend, shots=0, seed=0, max_examples=None, max_tokens=None,
             progress=None) -> dict         ("not_scored": why a task has no score)
    scored(result) -> bool                         False: no example could be scored
    evaluate_all(tasks, backend, shots_list, ..., log=None, bar=None) -> [dict]
    format_table(results, paper=None) -> str      the paper's zero/one/few-shot table
  Backends (`glam_tf.evaluation.backends`)
    ModelDirBackend(model_dir), SavedModelBackend(path), RestBackend(url, model_name)
"""

import importlib

_EXPORTS = {
    "glam_tf.evaluation.metrics": ("exact_match", "f1", "f1a", "group_exact_match",
                                   "normalize_answer", "postprocess_generation"),
    "glam_tf.evaluation.ranking": ("accuracy", "continuation_tokens",
                                   "model_candidates_score_fn", "model_score_fn",
                                   "rank_classify"),
    "glam_tf.evaluation.shots": ("FittedPrompt", "fit_prompt", "prompt_tokens", "sample_shots"),
    "glam_tf.evaluation.normalization": ("NORMALIZATIONS", "check_normalization"),
    "glam_tf.evaluation.scorers": ("SCORERS",),
    "glam_tf.evaluation.drop_metrics": ("drop_metrics",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'glam_tf.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)
