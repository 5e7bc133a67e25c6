"""How each kind of task is scored: one table, `SCORERS`, from `Task.kind` to its Scorer.

A Scorer owns everything its kind needs:
  metrics              the metric names a task of the kind may report (the
                       first is the default headline metric)
  rank                 whether its examples carry candidates (`Formatted.is_rank`)
  check_task(task)     the Task fields the kind needs or refuses (raises FieldRule)
  prompt_budget(...)   how many prompt tokens fit (fewer shots are kept if not)
  unscorable(...)      why one example cannot be scored at all (a reason counted in
                       the results' "skipped"), or None
  has_gold(example)    whether the example has a gold label/answer to score against
  problem(task, example)  why one example cannot be scored whatever the window (no
                       gold, a field the kind needs), or None: a reason counted too
  skipped_with(examples, reasons, left_out)  more examples to skip because others are
                       skipped or left out by max_examples (MultiRC: the rest of a
                       question), {index: reason}
  score(...)           the metrics and per-example predictions of prompted examples

  rank           NLU: the candidate with the best normalized log-likelihood
                 (`Task.normalization`, see `normalization.NORMALIZATIONS`);
                 accuracy, and f1_macro (the classes' mean F1, CB's second metric),
                 and f1 (SQuAD token F1 of the predicted candidate's answer text,
                 `Formatted.candidate_answers`, against the correct ones: ReCoRD's).
  rank_grouped   MultiRC: each example is one answer-option judged by rank
                 (candidate 1 = "true"), grouped into questions by `Task.group_by`;
                 SuperGLUE's F1a over all answer-options and exact match per question.
  generate       NLG: decode, cut at the stop sequences, compare with every gold
                 answer (SQuAD normalization); exact match and token F1.
  generate_drop  DROP: as generate, scored with DROP's own F1 and exact match
                 (`drop_metrics`): the prediction is one span, each gold answer the
                 tuple of its spans (`Formatted.answer_spans`).

Adding a kind is one entry in SCORERS (a Scorer subclass). Dialogue history
(CoQA, QuAC) is a matter of formatting, not of scoring: those are generate tasks.
"""

from __future__ import annotations

from typing import Optional

from glam_tf.evaluation import drop_metrics, metrics as metrics_lib
from glam_tf.evaluation.normalization import normalization_problem

# (No import of glam_tf.tasks here: `Task` validates its kind with this table.)
RANK, RANK_GROUPED, GENERATE, GENERATE_DROP = "rank", "rank_grouped", "generate", "generate_drop"
TOO_LONG = "continuation_too_long"
NO_TOKENS = "continuation_without_tokens"
NO_GOLD = "no_gold"
NO_CANDIDATE_ANSWERS = "no_candidate_answers"
NOT_A_JUDGEMENT = "not_a_true_false_judgement"
QUESTION_INCOMPLETE = "question_incomplete"
EMPTY_GOLD = "gold_empty_when_normalized"


class FieldRule(ValueError):
    """A Task field breaks a rule of its kind (`Task` turns it into a TaskError)."""

    def __init__(self, field: str, rule: str):
        self.field, self.rule = field, rule
        super().__init__(f"{field}: {rule}")


def _in_chunks(fn, items, size, progress):
    """fn over consecutive chunks of `items`, concatenated; progress(done, total) after each."""
    out = []
    for start in range(0, len(items), size):
        out.extend(fn(items[start:start + size]))
        if progress is not None:
            progress(min(start + size, len(items)), len(items))
    return out


class Scorer:
    """Base of the kinds: see the module doc. Subclasses set `kind`, `metrics`, `rank`."""

    kind: str
    metrics: tuple[str, ...]
    rank: bool
    # Task fields that only some kinds use: (field, value when unused).
    _RANK_ONLY = (("normalization", None), ("unconditional_context", None))
    _GENERATE_ONLY = (("stop_sequences", ()), ("no_answer", None))

    def check_task(self, task) -> None:
        refused = (self._GENERATE_ONLY if self.rank else self._RANK_ONLY)
        if self.kind != RANK_GROUPED:
            refused += (("group_by", None),)
        for field, unused in refused:
            if getattr(task, field) != unused:
                raise FieldRule(field, f"does not apply to {self.kind} tasks")

    def prompt_budget(self, max_length: int, max_new_tokens: int) -> int:
        raise NotImplementedError

    def unscorable(self, task, example, max_length: Optional[int],
                   count_tokens) -> Optional[str]:
        """Why `example` (prompted) cannot be scored, or None; max_length None: unknown."""
        return None

    def has_gold(self, example) -> bool:
        raise NotImplementedError

    def problem(self, task, example) -> Optional[str]:
        return None if self.has_gold(example) else NO_GOLD

    def skipped_with(self, examples, reasons: dict, left_out=()) -> dict:
        return {}

    def score(self, task, examples, backend, max_new_tokens: int, progress=None):
        """(metrics {name: value in [0, 1]}, [prediction dict per example])."""
        raise NotImplementedError


class RankScorer(Scorer):
    kind, metrics, rank = RANK, ("accuracy", "f1_macro", "f1"), True
    default_normalization = "token"  # GPT-3's choice for most tasks (its section 2.4)

    def check_task(self, task) -> None:
        super().check_task(task)
        problem = normalization_problem(task.normalization, task.unconditional_context)
        if problem is not None:
            raise FieldRule(*problem)

    def prompt_budget(self, max_length: int, max_new_tokens: int) -> int:
        return max_length - 1  # the scorers put an EOS in front of every row

    def unscorable(self, task, example, max_length, count_tokens):
        # A row is [EOS] + context + continuation, the context cut from the left; a
        # continuation needs a token of its own (per-token scores divide by the count)
        # and room for at least one token before it, after its prompt and, for
        # "unconditional", after the unconditional context too (its tokens may differ).
        pairs = list(example.pairs())
        if task.unconditional_context is not None:
            pairs += [(task.unconditional_context, c) for c in example.candidates]
        for context, continuation in pairs:
            tokens = count_tokens(context + continuation) - count_tokens(context)
            if tokens < 1:
                return NO_TOKENS
            if max_length is not None and tokens > max_length - 1:
                return TOO_LONG
        return None

    def has_gold(self, example):
        return example.label is not None

    def problem(self, task, example):
        if "f1" in task.metrics and example.candidate_answers is None:
            return NO_CANDIDATE_ANSWERS  # the f1 metric compares each candidate's answer text
        return super().problem(task, example)

    def _ranked(self, task, examples, backend, progress):
        from glam_tf.evaluation import ranking

        shared = backend.score_candidates if getattr(backend, "shares_prompts", False) else None
        batch_size = getattr(backend, "batch_size", 32)
        return _in_chunks(
            lambda chunk: ranking.rank_classify(
                chunk, backend.score, task.normalization, batch_size=batch_size,
                candidates_score_fn=shared, unconditional_context=task.unconditional_context),
            examples, batch_size, progress)

    @staticmethod
    def _prediction(example, r):
        out = {"prediction": r["prediction"], "label": example.label,
               "correct": bool(r["correct"]), "scores": r["scores"],
               "log_likelihoods": r["log_likelihoods"], "num_tokens": r["num_tokens"]}
        if "unconditional_log_likelihoods" in r:
            out["unconditional_log_likelihoods"] = r["unconditional_log_likelihoods"]
        return out

    def score(self, task, examples, backend, max_new_tokens, progress=None):
        ranked = self._ranked(task, examples, backend, progress)
        predictions = [self._prediction(e, r) for e, r in zip(examples, ranked)]
        values = {"accuracy": sum(p["correct"] for p in predictions) / len(predictions)}
        if "f1_macro" in task.metrics:
            values["f1_macro"] = metrics_lib.macro_f1([p["prediction"] for p in predictions],
                                                      [p["label"] for p in predictions])
        if "f1" in task.metrics:
            for e, p in zip(examples, predictions):
                p["f1"] = self._answer_f1(e, p["prediction"])
            values["f1"] = sum(p["f1"] for p in predictions) / len(predictions)
        return values, predictions

    @staticmethod
    def _answer_f1(example, predicted: int) -> float:
        """SQuAD token F1 of the predicted candidate's answer text, best over the correct ones
        (ReCoRD's official F1 of the predicted entity)."""
        texts = example.candidate_answers
        return metrics_lib.f1(texts[predicted], [texts[j] for j in example.correct_labels])


class GroupedRankScorer(RankScorer):
    kind, metrics = RANK_GROUPED, ("f1a", "exact_match")
    POSITIVE = 1  # candidate 1 is the "true" judgement of an answer-option

    def check_task(self, task) -> None:
        super().check_task(task)
        if task.group_by is None:
            raise FieldRule("group_by", "a rank_grouped task needs a function "
                            "example -> question id (str)")

    def problem(self, task, example):
        if len(example.candidates) != 2 or example.group is None:
            return NOT_A_JUDGEMENT  # 2 candidates (false, true) and a question
        return super().problem(task, example)

    def skipped_with(self, examples, reasons, left_out=()):
        # SuperGLUE scores a question only with every answer-option judged: its exact
        # match on the others alone could be 1 where the whole question's is 0, and
        # counting it as wrong would score a judgement never made. So a question with
        # a skipped option, or one max_examples leaves out, is skipped whole (F1a too),
        # its other options counted here.
        incomplete = ({getattr(examples[i], "group", None) for i in reasons}
                      | {getattr(e, "group", None) for e in left_out}) - {None}
        return {i: QUESTION_INCOMPLETE for i, e in enumerate(examples)
                if i not in reasons and getattr(e, "group", None) in incomplete}

    def score(self, task, examples, backend, max_new_tokens, progress=None):
        ranked = self._ranked(task, examples, backend, progress)
        predictions = [dict(self._prediction(e, r), group=e.group)
                       for e, r in zip(examples, ranked)]
        values = {
            "f1a": metrics_lib.f1a([p["prediction"] for p in predictions],
                                   [p["label"] for p in predictions], self.POSITIVE),
            "exact_match": metrics_lib.group_exact_match([p["group"] for p in predictions],
                                                         [p["correct"] for p in predictions]),
        }
        return values, predictions


class GenerateScorer(Scorer):
    kind, metrics, rank = GENERATE, ("exact_match", "f1"), False

    def prompt_budget(self, max_length: int, max_new_tokens: int) -> int:
        return max_length - 1 - max_new_tokens

    def has_gold(self, example):
        return bool(example.answers)

    def problem(self, task, example):
        # A gold that normalizes to "" ("", "the", ".") would score an empty output as
        # right; unanswerable questions have the gold text Task.no_answer instead.
        if example.answers and not self._golds(example):
            return EMPTY_GOLD
        return super().problem(task, example)

    def _metrics(self, task, answer: str, example) -> dict:
        fns = {"exact_match": metrics_lib.exact_match, "f1": metrics_lib.f1}
        return {m: fns[m](answer, self._golds(example), task.no_answer) for m in task.metrics}

    def _golds(self, example):
        """The gold answers scored against: those that are not empty once normalized."""
        return [a for a in example.answers if metrics_lib.normalize_answer(a)]

    def score(self, task, examples, backend, max_new_tokens, progress=None):
        outputs = _in_chunks(lambda chunk: backend.generate(chunk, max_new_tokens),
                             [e.prompt for e in examples], getattr(backend, "batch_size", 32),
                             progress)
        predictions = []
        for example, output in zip(examples, outputs):
            answer = metrics_lib.postprocess_generation(output, task.stop_sequences)
            predictions.append({"output": output, "prediction": answer,
                                "answers": self._golds(example),
                                **self._metrics(task, answer, example)})
        values = {m: sum(p[m] for p in predictions) / len(predictions) for m in task.metrics}
        return values, predictions


class DropScorer(GenerateScorer):
    kind, metrics = GENERATE_DROP, ("f1", "exact_match")

    def check_task(self, task) -> None:
        super().check_task(task)
        if task.no_answer is not None:
            raise FieldRule("no_answer", "DROP's metrics have no unanswerable questions")

    def _golds(self, example):
        # Each gold answer as its spans (`Formatted.answer_spans`: DROP's multi-span
        # answers), else each answer one span.
        return [list(spans) for spans in example.answer_spans] or [[a] for a in example.answers]

    def has_gold(self, example):
        return bool(drop_metrics.usable_golds(self._golds(example)))

    def problem(self, task, example):
        return Scorer.problem(self, task, example)  # DROP's golds: see drop_metrics

    def _metrics(self, task, answer, example):
        scored = drop_metrics.drop_metrics(answer, self._golds(example))
        return {m: scored[m] for m in task.metrics}


# The table. `Task` reads it when a task is made, so an entry added here (or at
# run time) is a kind tasks may name.
SCORERS = {s.kind: s for s in (RankScorer(), GroupedRankScorer(), GenerateScorer(),
                                DropScorer())}
