"""`Task`: one few-shot evaluation benchmark as a frozen value; `Formatted`: one example.

A task reads raw examples from a source (`TfdsSource`, `JsonlSource` or
`CallableSource`, see `glam_tf.tasks.sources`), optionally flattens each raw
example into several (`preprocessor`, e.g. one RACE article -> one example per
question), and turns each into a `Formatted` example with a pure `formatter`.
How a task is scored is its `kind`, one entry of the table
`glam_tf.evaluation.scorers.SCORERS` (rank, rank_grouped, generate,
generate_drop): each kind's scorer names the metrics it may report and the
Task fields it needs or refuses, and `Task` checks them on construction.
Rank kinds rank the candidates of `Formatted.pairs()` by the log-likelihood
normalized as `Task.normalization` says (`sum`, `token`, `char` or
`unconditional`, see `glam_tf.evaluation.normalization`); generate kinds
decode from `Formatted.prompt`, skip the output's leading spaces (not
newlines: an immediate "\n" is the empty answer), cut it at `Task.stop_sequences` and
compare it with every gold answer in `Formatted.answers`. `Task.no_answer`
is the gold text of an unanswerable question (SQuADv2, QuAC): an empty
prediction counts as that text too.

Few-shot: `Task.with_shots(example, shots)` prepends the demonstrations
(`Task.demonstration(shot)`, each followed by `shot_separator`) to every
context of `example`. Shots come from `few_shot_split`, drawn at random by the
caller; when `shots_from_eval_split` (WSC273 has a test split only), the
caller must not use an example as its own shot, nor one of its
`Formatted.shot_group`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterable, Iterator, Optional, Sequence

from glam_tf.evaluation.scorers import (GENERATE, GENERATE_DROP, RANK,  # noqa: F401
                                        RANK_GROUPED, SCORERS, FieldRule)
from glam_tf.tasks.sources import (CallableSource, JsonlSource, SkipExample,  # noqa: F401
                                   Source, TaskDataError, TfdsSource)

# The seven categories of the GLaM paper, plus one for user tasks.
OPEN_DOMAIN_QA = "open_domain_qa"
CLOZE_COMPLETION = "cloze_completion"
WINOGRAD_STYLE = "winograd_style"
COMMON_SENSE_REASONING = "common_sense_reasoning"
READING_COMPREHENSION = "reading_comprehension"
SUPERGLUE = "superglue"
NLI = "nli"
CUSTOM = "custom"
GLAM_CATEGORIES = (OPEN_DOMAIN_QA, CLOZE_COMPLETION, WINOGRAD_STYLE,
                   COMMON_SENSE_REASONING, READING_COMPREHENSION, SUPERGLUE, NLI)
CATEGORIES = GLAM_CATEGORIES + (CUSTOM,)
CATEGORY_TITLES = {
    OPEN_DOMAIN_QA: "Open-domain QA",
    CLOZE_COMPLETION: "Cloze and completion",
    WINOGRAD_STYLE: "Winograd-style",
    COMMON_SENSE_REASONING: "Common-sense reasoning",
    READING_COMPREHENSION: "In-context reading comprehension",
    SUPERGLUE: "SuperGLUE",
    NLI: "Natural language inference",
    CUSTOM: "Custom",
}


# A task name: lower-case letters, digits and `_`, optionally followed by one
# `/` and a part that may also hold dots (`glam/boolq`, `mine/qa_v1.2`).
# "all" is reserved for `select("all")`.
NAME_RULE = r"^[a-z0-9_]+(/[a-z0-9_.]+)?$"
_NAME_RE = re.compile(NAME_RULE)
RESERVED_NAMES = ("all",)

# The gold answer of an unanswerable question (SQuADv2, QuAC's CANNOTANSWER).
NO_ANSWER = "unanswerable"


class TaskError(ValueError):
    """A Task field holds a value that breaks one of its rules."""

    def __init__(self, field: str, value, rule: str, task: Optional[str] = None):
        self.field, self.value, self.rule = field, value, rule
        where = f"Task {task!r}: " if isinstance(task, str) else ""
        super().__init__(f"{where}Task.{field}={value!r}: {rule}")


def check_task_name(name) -> str:
    """Returns `name` if it is a valid task name, else raises TaskError."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise TaskError("name", name, f"must match {NAME_RULE} (lower-case letters, "
                        "digits and _, optionally one / then letters, digits, _ and .)")
    if name in RESERVED_NAMES:
        raise TaskError("name", name, "is reserved for select('all')")
    return name


def _as_str_tuple(owner: str, field: str, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TaskDataError(f"{owner}.{field} must be a tuple of str, not {value!r}",
                            field=field)
    value = tuple(value)
    for item in value:
        if not isinstance(item, str):
            raise TaskDataError(f"{owner}.{field} must hold str only, not {item!r}",
                                field=field)
    return value


@dataclasses.dataclass(frozen=True)
class Formatted:
    """One example, ready to score.

    Attributes:
      prompt: generate: the whole prompt. rank: the context shared by every
        candidate (with `candidate_prompts`, their common prefix).
      candidates: rank: the continuations to score (each carries its own
        leading space, GPT-3 style); generate: None.
      answers: generate: the gold answers, any of which is correct (empty when
        the split hides them). rank: empty.
      label: rank: index of the gold candidate (the one a demonstration
        shows), None when the split hides it; generate: None.
      candidate_prompts: rank only, for partial scoring (Winogrande, WSC273):
        candidate i is scored after `candidate_prompts[i]` instead of
        `prompt`; each starts with `prompt`. None: every candidate follows
        `prompt`.
      accepted: further candidate indices that are also correct (ReCoRD:
        several surface forms of the gold entity).
      shot_group: examples with the same non-None group are never each
        other's shots (WSC273: the two twin sentences of one schema differ in
        a word or two, and one shows the other's answer).
      demo_group: when not None, shots come only from pool examples with the
        same demo_group (quickstart/lookup: a group's bindings exist only in
        its own demonstrations).
      group: rank_grouped tasks: the id of the question this answer-option
        belongs to (set by `Task.group_by`).
      answer_spans: generate, optional: each gold answer of `answers` as its
        tuple of spans (DROP: a multi-span answer has several); parallel to
        `answers`, which then hold each answer's display text.
      candidate_answers: rank, optional: the answer text each candidate
        stands for (ReCoRD: its entity), for text metrics such as F1.
    Sequences are stored as tuples; lists are accepted.
    """

    prompt: str
    candidates: Optional[tuple[str, ...]] = None
    answers: tuple[str, ...] = ()
    label: Optional[int] = None
    candidate_prompts: Optional[tuple[str, ...]] = None
    accepted: tuple[int, ...] = ()
    shot_group: Optional[str] = None
    demo_group: Optional[str] = None
    group: Optional[str] = None
    answer_spans: tuple[tuple[str, ...], ...] = ()
    candidate_answers: Optional[tuple[str, ...]] = None

    def __post_init__(self):
        fix = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        if not isinstance(self.prompt, str):
            raise TaskDataError(f"Formatted.prompt must be str, not {self.prompt!r}",
                                field="prompt")
        fix("candidates", _as_str_tuple("Formatted", "candidates", self.candidates, True))
        fix("answers", _as_str_tuple("Formatted", "answers", self.answers))
        fix("candidate_prompts", _as_str_tuple("Formatted", "candidate_prompts",
                                               self.candidate_prompts, True))
        fix("accepted", tuple(self.accepted))
        fix("answer_spans", tuple(_as_str_tuple("Formatted", "answer_spans", spans)
                                  for spans in self.answer_spans))
        fix("candidate_answers", _as_str_tuple("Formatted", "candidate_answers",
                                               self.candidate_answers, True))
        if self.answer_spans and (len(self.answer_spans) != len(self.answers)
                                  or not all(self.answer_spans)):
            raise TaskDataError(f"Formatted.answer_spans has {len(self.answer_spans)} entries "
                                f"for {len(self.answers)} answers; each needs a span",
                                field="answer_spans")
        if self.shot_group is not None and not isinstance(self.shot_group, str):
            raise TaskDataError(f"Formatted.shot_group must be None or str, not "
                                f"{self.shot_group!r}", field="shot_group")
        if self.demo_group is not None and not isinstance(self.demo_group, str):
            raise TaskDataError(f"Formatted.demo_group must be None or str, not "
                                f"{self.demo_group!r}", field="demo_group")
        if self.group is not None and not isinstance(self.group, str):
            raise TaskDataError(f"Formatted.group must be None or a str, not {self.group!r}",
                                field="group")
        if self.candidates is None:
            for name in ("label", "candidate_prompts"):
                if getattr(self, name) is not None:
                    raise TaskDataError(f"Formatted.{name} needs candidates (rank)",
                                        field=name)
            for name in ("accepted", "candidate_answers"):
                if getattr(self, name):
                    raise TaskDataError(f"Formatted.{name} needs candidates (rank)",
                                        field=name)
            if not self.prompt:
                raise TaskDataError("Formatted.prompt is empty", field="prompt")
            return
        n = len(self.candidates)
        if n == 0:
            raise TaskDataError("Formatted.candidates is empty", field="candidates")
        if self.answers or self.answer_spans:
            raise TaskDataError("Formatted.answers must be empty for rank examples "
                                "(the label names the gold candidate)", field="answers")
        if self.candidate_answers is not None and len(self.candidate_answers) != n:
            raise TaskDataError(f"Formatted.candidate_answers has {len(self.candidate_answers)} "
                                f"entries for {n} candidates", field="candidate_answers")
        for name, index in [("label", self.label)] + [("accepted", a) for a in self.accepted]:
            if index is None and name == "label":
                continue
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
                raise TaskDataError(f"Formatted.{name}={index!r} is not an index into "
                                    f"{n} candidates", field=name)
        if self.accepted and self.label is None:
            raise TaskDataError("Formatted.accepted needs a label", field="accepted")
        if self.candidate_prompts is not None:
            if len(self.candidate_prompts) != n:
                raise TaskDataError(f"Formatted.candidate_prompts has "
                                    f"{len(self.candidate_prompts)} entries for {n} candidates",
                                    field="candidate_prompts")
            for p in self.candidate_prompts:
                if not p.startswith(self.prompt):
                    raise TaskDataError("Formatted.candidate_prompts must each start with "
                                        f"the prompt {self.prompt!r}: {p!r}",
                                        field="candidate_prompts")
        for i, (context, continuation) in enumerate(self.pairs()):
            if not context or not continuation:
                raise TaskDataError(f"candidate {i} has an empty context or continuation: "
                                    f"{(context, continuation)!r}", field="candidates")

    @property
    def is_rank(self) -> bool:
        return self.candidates is not None

    @property
    def correct_labels(self) -> tuple[int, ...]:
        """Every correct candidate index (empty when unlabelled)."""
        return () if self.label is None else (self.label,) + self.accepted

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(context, continuation) of each candidate, in candidate order."""
        if self.candidates is None:
            raise TypeError("pairs() is for rank examples; this one has no candidates")
        contexts = self.candidate_prompts or (self.prompt,) * len(self.candidates)
        return tuple(zip(contexts, self.candidates))


@dataclasses.dataclass(frozen=True)
class Skipped:
    """In place of an example whose formatter raised SkipExample: why (`reason`, the
    count's key in the results' "skipped") and the error's text (`detail`)."""

    reason: str
    detail: str
    group: Optional[str] = None  # rank_grouped: its question, when group_by can tell
    is_rank = None  # neither kind: never a demonstration

    @property
    def shot_group(self):
        return None

    @property
    def demo_group(self):
        return None


@dataclasses.dataclass(frozen=True)
class Task:
    """A few-shot evaluation task.

    Attributes:
      name: registry key, see NAME_RULE.
      source: where raw examples come from (TfdsSource, JsonlSource, CallableSource).
      formatter: pure function example dict -> Formatted; raises TaskDataError
        (with `field=`) on an example it cannot format.
      kind: a key of SCORERS: "rank" (NLU: pick the most likely candidate),
        "rank_grouped" (MultiRC), "generate" (NLG) or "generate_drop" (DROP).
      metrics: names from SCORERS[kind].metrics; the first is the headline
        metric (the one the paper averages).
      category: one of CATEGORIES.
      eval_split: the split scored (the source's split names).
      few_shot_split: the split demonstrations are drawn from; None: zero-shot only.
      preprocessor: optional pure function raw example -> iterable of
        examples, run before the formatter (flattens articles, dialogues).
      normalization: rank kinds (None otherwise): how candidates are ranked:
        "sum" (log-likelihood), "token" (per token; GPT-3's default, and the
        default here), "char" (per character) or "unconditional".
      unconditional_context: with normalization "unconditional" (only): score
        a candidate by log P(candidate | prompt) - log P(candidate |
        unconditional_context), GPT-3's rule for ARC, OpenBookQA and RACE
        (e.g. "Answer:").
      group_by: rank_grouped only: pure function raw example -> question id
        (str); answer-options with the same id form one question.
      stop_sequences: generate: where to cut the decoded text (see module doc).
      max_decode_tokens: generate: decoding budget per example.
      no_answer: generate: gold text that means "no answer" (see NO_ANSWER).
      target_prefix: generate: text between prompt and answer in a demonstration.
      shot_separator: text after each demonstration.
      description: one line for reports (the benchmark's usual name).
    """

    name: str
    source: Source
    formatter: Callable[[dict], Formatted]
    kind: str
    metrics: tuple[str, ...]
    category: str
    eval_split: str = "validation"
    few_shot_split: Optional[str] = "train"
    preprocessor: Optional[Callable[[dict], Iterable[dict]]] = None
    normalization: Optional[str] = None
    unconditional_context: Optional[str] = None
    group_by: Optional[Callable[[dict], str]] = None
    stop_sequences: tuple[str, ...] = ()
    max_decode_tokens: int = 32
    no_answer: Optional[str] = None
    target_prefix: str = " "
    shot_separator: str = "\n\n"
    description: str = ""

    def __post_init__(self):
        def bad(field, rule):
            raise TaskError(field, getattr(self, field), rule, self.name)

        check_task_name(self.name)
        if not isinstance(self.source, Source):
            bad("source", "must be a TfdsSource, JsonlSource or CallableSource")
        if not callable(self.formatter):
            bad("formatter", "must be a function example -> Formatted")
        if self.preprocessor is not None and not callable(self.preprocessor):
            bad("preprocessor", "must be None or a function example -> iterable of examples")
        if not isinstance(self.kind, str) or self.kind not in SCORERS:
            bad("kind", f"must be one of {', '.join(SCORERS)}")
        allowed = SCORERS[self.kind].metrics
        if not isinstance(self.metrics, tuple) or not self.metrics:
            bad("metrics", f"must be a non-empty tuple drawn from {allowed}")
        for metric in self.metrics:
            if metric not in allowed:
                bad("metrics", f"{metric!r} is not allowed for kind {self.kind!r}; "
                    f"allowed: {', '.join(allowed)}")
        if len(set(self.metrics)) != len(self.metrics):
            bad("metrics", "must not repeat a metric")
        if self.category not in CATEGORIES:
            bad("category", f"must be one of {', '.join(CATEGORIES)}")
        if not isinstance(self.eval_split, str) or not self.eval_split:
            bad("eval_split", "must be a non-empty split name")
        if self.few_shot_split is not None and (
                not isinstance(self.few_shot_split, str) or not self.few_shot_split):
            bad("few_shot_split", "must be a non-empty split name, or None for zero-shot only")
        if self.group_by is not None and not callable(self.group_by):
            bad("group_by", "must be None or a function example -> question id")
        if (not isinstance(self.stop_sequences, tuple)
                or not all(isinstance(s, str) and s for s in self.stop_sequences)):
            bad("stop_sequences", "must be a tuple of non-empty strings")
        if (isinstance(self.max_decode_tokens, bool) or not isinstance(self.max_decode_tokens, int)
                or self.max_decode_tokens < 1):
            bad("max_decode_tokens", "must be an int >= 1")
        if self.no_answer is not None and (not isinstance(self.no_answer, str)
                                           or not self.no_answer.strip()):
            bad("no_answer", "must be None or a non-empty string")
        for field in ("target_prefix", "shot_separator", "description"):
            if not isinstance(getattr(self, field), str):
                bad(field, "must be a string")
        if self.normalization is None and SCORERS[self.kind].rank:
            object.__setattr__(self, "normalization", SCORERS[self.kind].default_normalization)
        try:
            SCORERS[self.kind].check_task(self)
        except FieldRule as e:
            bad(e.field, e.rule)

    @property
    def scorer(self):
        """The Scorer of this task's kind (`glam_tf.evaluation.scorers`)."""
        return SCORERS[self.kind]

    @property
    def shots_from_eval_split(self) -> bool:
        """Whether shots come from the scored split (exclude the example itself)."""
        return self.few_shot_split == self.eval_split

    # -- examples -----------------------------------------------------------
    def formatted(self, split: Optional[str] = None,
                  keep_skipped: bool = False) -> Iterator[Formatted]:
        """Formatted examples of `split` (default: eval_split), in source order.

        An example whose formatter raises SkipExample is left out, or with
        `keep_skipped` given as a `Skipped` in its place. Raises TaskDataError
        naming the source location (file:line, TFDS example index) and the
        field of the first example that fails otherwise, or the split when it
        has no examples.
        """
        split = self.eval_split if split is None else split
        count = 0
        for example in self.format_located(self.source.located(split)):
            count += 1
            if keep_skipped or not isinstance(example, Skipped):
                yield example
        if count == 0:
            raise TaskDataError(f"task {self.name!r}: split {split!r} has no examples",
                                location=self.source.describe(split))

    def format_located(self, located: Iterable[tuple[str, dict]]) -> Iterator[Formatted]:
        """Preprocesses and formats (location, raw example) pairs, as from `Source.located`
        (a `Skipped` for an example its formatter skips)."""
        for location, raw in located:
            for sub, example in enumerate(self._preprocess(raw, location)):
                where = location if self.preprocessor is None else f"{location} item {sub}"
                yield self._format(example, where)

    def eval_examples(self, keep_skipped: bool = False) -> Iterator[Formatted]:
        return self.formatted(self.eval_split, keep_skipped)

    def few_shot_examples(self) -> Iterator[Formatted]:
        if self.few_shot_split is None:
            raise TaskDataError(f"task {self.name!r} has no few_shot_split (zero-shot only)")
        return self.formatted(self.few_shot_split)

    def _preprocess(self, raw: dict, location: str) -> Iterable[dict]:
        if self.preprocessor is None:
            return (raw,)
        try:
            return list(self.preprocessor(raw))
        except TaskDataError as e:
            raise e.at(location) from None
        except KeyError as e:
            raise TaskDataError(f"the example has no field {e.args[0]!r}",
                                location=location, field=str(e.args[0])) from None

    def _format(self, example: dict, location: str) -> Formatted:
        try:
            result = self.formatter(example)
        except SkipExample as e:
            skipped = Skipped(e.reason, str(e.at(location)))
            if self.group_by is None:
                return skipped
            try:
                return self._grouped(skipped, example, location)
            except TaskDataError:
                return skipped  # no question to skip with it
        except TaskDataError as e:
            raise e.at(location) from None
        except KeyError as e:
            raise TaskDataError(f"the example has no field {e.args[0]!r}",
                                location=location, field=str(e.args[0])) from None
        if not isinstance(result, Formatted):
            raise TaskDataError(f"task {self.name!r}: formatter returned "
                                f"{type(result).__name__}, not Formatted", location=location)
        if self.group_by is not None:
            result = self._grouped(result, example, location)
        if result.is_rank != self.scorer.rank:
            raise TaskDataError(f"task {self.name!r} is a {self.kind} task but its formatter "
                                f"returned {'candidates' if result.is_rank else 'no candidates'}",
                                location=location, field="candidates")
        return result

    def _grouped(self, result: Formatted, example: dict, location: str) -> Formatted:
        try:
            group = self.group_by(example)
        except KeyError as e:
            raise TaskDataError(f"the example has no field {e.args[0]!r}",
                                location=location, field=str(e.args[0])) from None
        if not isinstance(group, str):
            raise TaskDataError(f"task {self.name!r}: group_by returned {group!r}, not a str",
                                location=location, field="group")
        return dataclasses.replace(result, group=group)

    # -- prompt layout ------------------------------------------------------
    @staticmethod
    def can_demonstrate(shot: Formatted) -> bool:
        """Whether `shot` has a gold label (rank) or a non-empty answer (generate)."""
        if isinstance(shot, Skipped):
            return False
        if shot.is_rank:
            return shot.label is not None
        return any(a.strip() for a in shot.answers)

    def demonstration(self, shot: Formatted) -> str:
        """The text of `shot` as a solved demonstration (without separator).

        Generate: the first non-empty gold answer (DROP writes some as "").
        """
        if not self.can_demonstrate(shot):
            raise TaskDataError(f"task {self.name!r}: an example without a gold label or "
                                "answer cannot be a demonstration",
                                field="label" if shot.is_rank else "answers")
        if shot.is_rank:
            context, continuation = shot.pairs()[shot.label]
            return context + continuation
        answer = next(a for a in shot.answers if a.strip())
        return shot.prompt + self.target_prefix + answer

    def with_shots(self, example: Formatted, shots: Sequence[Formatted]) -> Formatted:
        """`example` with the demonstrations of `shots` in front of every context."""
        prefix = "".join(self.demonstration(s) + self.shot_separator for s in shots)
        if not prefix:
            return example
        prompts = example.candidate_prompts
        return dataclasses.replace(
            example, prompt=prefix + example.prompt,
            candidate_prompts=None if prompts is None else tuple(prefix + p for p in prompts))
