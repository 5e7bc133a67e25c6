"""Task and Formatted: validation rules, split reading, and the few-shot prompt layout."""

import dataclasses

import pytest

from glam_tf.tasks import (CallableSource, Formatted, Task, TaskDataError, TaskError,
                           check_task_name)


def _rows(split):
    data = {"train": [{"q": "2+2", "a": "4"}, {"q": "3+3", "a": "6"}],
            "validation": [{"q": "1+1", "a": "2"}], "empty": []}
    return data[split]


def _qa(ex):
    return Formatted(prompt=f"Q: {ex['q']}\nA:", answers=(ex["a"],))


def _yes_no(ex):
    return Formatted(prompt=f"Is {ex['q']} = {ex['a']}?", candidates=(" no", " yes"), label=1)


def _task(**overrides):
    fields = dict(name="toy_qa", source=CallableSource(_rows), formatter=_qa, kind="generate",
                  metrics=("exact_match",), category="custom", stop_sequences=("\n",))
    fields.update(overrides)
    return Task(**fields)


def test_task_is_a_frozen_value():
    task = _task()
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.name = "other"
    assert task == _task() and hash(task) == hash(_task())


@pytest.mark.parametrize("name", ["BoolQ", "bool q", "a/b/c", "", "x-y", "all", "/x"])
def test_bad_task_names_are_rejected_with_the_rule(name):
    with pytest.raises(TaskError, match=r"Task.name=.*(must match|reserved)"):
        _task(name=name)


@pytest.mark.parametrize("name", ["boolq", "anli_r1", "mine/qa_v1.2", "glam/boolq"])
def test_good_task_names_are_accepted(name):
    assert check_task_name(name) == name and _task(name=name).name == name


_RANK = dict(kind="rank", formatter=_yes_no, metrics=("accuracy",), stop_sequences=())


@pytest.mark.parametrize("overrides, field, rule", [
    (dict(kind="classify"), "kind", "must be one of rank, rank_grouped, generate, generate_drop"),
    (dict(metrics=("accuracy",)), "metrics", "not allowed for kind 'generate'"),
    (dict(_RANK, metrics=("f1a",)), "metrics", "not allowed for kind 'rank'"),
    (dict(metrics=()), "metrics", "non-empty tuple"),
    (dict(metrics=["exact_match"]), "metrics", "non-empty tuple"),
    (dict(metrics=("f1", "f1")), "metrics", "must not repeat"),
    (dict(category="sports"), "category", "must be one of"),
    (dict(_RANK, normalization="token", stop_sequences=("\n",)), "stop_sequences",
     "does not apply to rank tasks"),
    (dict(stop_sequences=("",)), "stop_sequences", "non-empty strings"),
    (dict(max_decode_tokens=0), "max_decode_tokens", ">= 1"),
    (dict(eval_split=""), "eval_split", "non-empty"),
    (dict(source="boolq"), "source", "TfdsSource"),
    (dict(formatter=None), "formatter", "function"),
    (dict(_RANK, normalization="length"), "normalization", "must be one of sum, token"),
    (dict(normalization="token"), "normalization", "does not apply to generate tasks"),
    (dict(unconditional_context="Answer:"), "unconditional_context",
     "does not apply to generate tasks"),
    (dict(_RANK, normalization="token", unconditional_context="Answer:"),
     "unconditional_context", "only normalization 'unconditional' takes one"),
    (dict(_RANK, normalization="unconditional"), "unconditional_context",
     "needs a non-empty unconditional_context"),
    (dict(_RANK, normalization="unconditional", unconditional_context=""),
     "unconditional_context", "needs a non-empty unconditional_context"),
    (dict(_RANK, normalization="token", group_by=lambda ex: "q"), "group_by",
     "does not apply to rank tasks"),
    (dict(_RANK, kind="rank_grouped", metrics=("f1a",), normalization="token"), "group_by",
     "needs a function example -> question id"),
    (dict(kind="generate_drop", metrics=("f1",), no_answer="unanswerable"), "no_answer",
     "DROP's metrics have no unanswerable questions"),
])
def test_invalid_task_fields_are_named_with_their_rule(overrides, field, rule):
    with pytest.raises(TaskError, match=rf"Task 'toy_qa': Task\.{field}=") as info:
        _task(**overrides)
    assert info.value.field == field and rule in str(info.value)


def test_formatted_examples_come_from_the_requested_split():
    task = _task()
    assert [f.prompt for f in task.eval_examples()] == ["Q: 1+1\nA:"]
    assert [f.answers for f in task.few_shot_examples()] == [("4",), ("6",)]


def test_an_empty_split_is_an_error_naming_the_split():
    with pytest.raises(TaskDataError, match=r"_rows\('empty'\).*split 'empty' has no examples"):
        list(_task().formatted("empty"))


def test_a_formatter_missing_field_is_reported_with_location_and_field():
    task = _task(formatter=lambda ex: Formatted(prompt=ex["question"], answers=("x",)))
    with pytest.raises(TaskDataError, match=r"_rows\('validation'\) #0: field 'question'"):
        list(task.eval_examples())


def test_a_formatter_output_of_the_wrong_kind_is_an_error():
    with pytest.raises(TaskDataError, match="generate task but its formatter returned candidates"):
        list(_task(formatter=_yes_no).eval_examples())


def test_generate_shots_are_prompt_plus_answer_then_separator():
    task = _task()
    shots = list(task.few_shot_examples())
    example = next(task.eval_examples())
    assert task.with_shots(example, shots).prompt == "Q: 2+2\nA: 4\n\nQ: 3+3\nA: 6\n\nQ: 1+1\nA:"
    assert task.with_shots(example, []) == example


def test_partial_scoring_shots_use_the_gold_candidate_context():
    # Winogrande-style: each candidate has its own context; the continuation is shared.
    shot = Formatted(prompt="The cup hit ", candidates=(" fell.", " fell."),
                     candidate_prompts=("The cup hit the cat", "The cup hit the floor"), label=1)
    task = _task(kind="rank", formatter=_yes_no, metrics=("accuracy",), stop_sequences=(),
                 normalization="token")
    assert task.demonstration(shot) == "The cup hit the floor fell."
    shown = task.with_shots(shot, [shot])
    assert shown.pairs()[0] == ("The cup hit the floor fell.\n\nThe cup hit the cat", " fell.")
    assert shown.prompt == "The cup hit the floor fell.\n\nThe cup hit "


def test_rank_pairs_and_correct_labels():
    f = Formatted(prompt="P", candidates=[" a", " b", " c"], label=2, accepted=[0])
    assert f.candidates == (" a", " b", " c") and f.accepted == (0,)
    assert f.pairs() == (("P", " a"), ("P", " b"), ("P", " c"))
    assert f.correct_labels == (2, 0) and f.is_rank


@pytest.mark.parametrize("kwargs, field", [
    (dict(prompt="P", candidates=(" a",), label=1), "label"),
    (dict(prompt="P", candidates=(" a",), label=True), "label"),
    (dict(prompt="P", candidates=()), "candidates"),
    (dict(prompt="P", candidates=(" a",), answers=("a",)), "answers"),
    (dict(prompt="P", candidates=(" a", " b"), candidate_prompts=("P x",)), "candidate_prompts"),
    (dict(prompt="P", candidates=(" a",), candidate_prompts=("Q",)), "candidate_prompts"),
    (dict(prompt="P", candidates=("",)), "candidates"),
    (dict(prompt="", answers=("a",)), "prompt"),
    (dict(prompt="P", label=0), "label"),
    (dict(prompt="P", answers="a"), "answers"),
    (dict(prompt="P", answers=("a, b",), answer_spans=(("a", "b"), ("c",))), "answer_spans"),
    (dict(prompt="P", answers=("a",), answer_spans=((),)), "answer_spans"),
    (dict(prompt="P", answers=("a",), answer_spans=(("a", 1),)), "answer_spans"),
    (dict(prompt="P", answers=("a",), candidate_answers=("a",)), "candidate_answers"),
    (dict(prompt="P", candidates=(" a", " b"), candidate_answers=("a",)), "candidate_answers"),
])
def test_malformed_formatted_examples_name_the_field(kwargs, field):
    with pytest.raises(TaskDataError) as info:
        Formatted(**kwargs)
    assert info.value.field == field


def test_unlabelled_examples_cannot_be_demonstrations_and_empty_answers_are_passed_over():
    task = _task()
    for shot in (Formatted(prompt="Q"), Formatted(prompt="Q", answers=("", " "))):
        assert not task.can_demonstrate(shot)
        with pytest.raises(TaskDataError, match="without a gold label or answer cannot be a "
                                                "demonstration"):
            task.demonstration(shot)
    assert task.demonstration(Formatted(prompt="Q:", answers=("", "4"))) == "Q: 4"
