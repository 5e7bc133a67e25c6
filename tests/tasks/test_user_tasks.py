"""User tasks: declarative JSON/YAML task files over JSONL data, and Python task modules."""

import json
import textwrap

import pytest

from glam_tf.tasks import (REGISTRY, JsonlSource, TaskDataError, load_task_file, load_tasks,
                           load_tasks_module)

QA_ROWS = [
    {"split": "train", "question": "2+2", "answer": "4"},
    {"split": "train", "question": "3+3", "answer": ["6", "six"]},
    {"split": "validation", "question": "1+1", "answer": "2"},
]
CHOICE_ROWS = [
    {"q": "Sky?", "a": "blue", "b": "green", "gold": 0},
    {"q": "Grass?", "a": "blue", "b": "green", "gold": "green"},
]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _task_file(tmp_path, spec, name="task.json", rows=QA_ROWS):
    _write_jsonl(tmp_path / "data.jsonl", rows)
    path = tmp_path / name
    path.write_text(json.dumps(spec, indent=2))
    return path


QA_SPEC = {"name": "mine/arith", "data": "data.jsonl", "kind": "generate",
           "fields": {"prompt": "Q: {question}\nA:", "answer": "answer"}}


def test_a_json_task_file_with_a_jsonl_dataset_loads_and_formats(tmp_path):
    task = load_task_file(_task_file(tmp_path, QA_SPEC))
    assert (task.name, task.kind, task.category) == ("mine/arith", "generate", "custom")
    assert task.metrics == ("exact_match", "f1") and task.stop_sequences == ("\n",)
    [example] = list(task.eval_examples())
    shots = list(task.few_shot_examples())
    assert shots[1].answers == ("6", "six")
    assert task.with_shots(example, shots).prompt == "Q: 2+2\nA: 4\n\nQ: 3+3\nA: 6\n\nQ: 1+1\nA:"


def test_a_rank_task_file_with_one_file_per_split(tmp_path):
    _write_jsonl(tmp_path / "dev.jsonl", CHOICE_ROWS)
    spec = {"name": "colors", "data": {"validation": "dev.jsonl", "train": "dev.jsonl"},
            "kind": "rank", "metric": "accuracy", "category": "common_sense_reasoning",
            "fields": {"prompt": "{q}", "candidates": [" {a}", " {b}"], "label": "gold"}}
    (tmp_path / "colors.json").write_text(json.dumps(spec))
    task = load_task_file(tmp_path / "colors.json")
    assert [(f.candidates, f.label) for f in task.eval_examples()] == [
        ((" blue", " green"), 0), ((" blue", " green"), 1)]
    assert isinstance(task.source, JsonlSource)
    assert task.unconditional_context is None and task.normalization == "token"
    spec.update(name="colors_prior", normalization="unconditional", unconditional_context="A:")
    (tmp_path / "prior.json").write_text(json.dumps(spec))
    prior = load_task_file(tmp_path / "prior.json")
    assert (prior.normalization, prior.unconditional_context) == ("unconditional", "A:")
    spec.update(name="colors_sum", normalization="mean", unconditional_context=None)
    (tmp_path / "sum.json").write_text(json.dumps(spec))
    with pytest.raises(TaskDataError, match=r"sum.json:1.*normalization.*must be one of sum, "
                                            "token, char, unconditional"):
        load_task_file(tmp_path / "sum.json")


def test_candidates_may_come_from_a_field_holding_a_list(tmp_path):
    rows = [{"split": s, "q": "Sky?", "options": ["blue", "red"], "label": 0}
            for s in ("train", "validation")]
    spec = {"name": "opts", "data": "data.jsonl", "kind": "rank",
            "fields": {"prompt": "{q}", "candidates": "options", "label": "label"}}
    [f] = list(load_task_file(_task_file(tmp_path, spec, rows=rows)).eval_examples())
    assert f.candidates == (" blue", " red")


def test_a_yaml_task_file_loads(tmp_path):
    _write_jsonl(tmp_path / "data.jsonl", QA_ROWS)
    (tmp_path / "task.yaml").write_text(textwrap.dedent("""\
        name: yaml_qa
        data: data.jsonl
        kind: generate
        fields:
          prompt: "Q: {question}\\nA:"
          answer: answer
        metric: exact_match
        """))
    task = load_task_file(tmp_path / "task.yaml")
    assert task.metrics == ("exact_match",)
    assert next(task.eval_examples()).prompt == "Q: 1+1\nA:"


# -- malformed inputs name file, line and field ------------------------------------------------

def _load_error(path) -> TaskDataError:
    with pytest.raises(TaskDataError) as info:
        load_task_file(path)
    return info.value


def test_a_bad_jsonl_line_is_named_by_file_and_line(tmp_path):
    path = _task_file(tmp_path, QA_SPEC)
    path_data = tmp_path / "data.jsonl"
    path_data.write_text(path_data.read_text() + '{"split": "validation", "question": \n')
    error = _load_error(path)
    assert error.location == f"{path_data}:4" and "not valid JSON" in str(error)


def test_an_example_missing_a_template_field_names_file_line_and_field(tmp_path):
    rows = QA_ROWS[:2] + [{"split": "validation", "answer": "2"}]
    error = _load_error(_task_file(tmp_path, QA_SPEC, rows=rows))
    assert error.location == f"{tmp_path / 'data.jsonl'}:3" and error.field == "question"
    assert "prompt template" in str(error) and "task file" in str(error)


def test_a_template_naming_an_absent_field_is_reported(tmp_path):
    spec = dict(QA_SPEC, fields={"prompt": "Q: {qestion}\nA:", "answer": "answer"})
    error = _load_error(_task_file(tmp_path, spec))
    # the eval split is checked first: its one example is on line 3
    assert error.field == "qestion" and error.location.endswith("data.jsonl:3")
    assert "names field 'qestion', which this example lacks (its fields: answer, question" \
        in str(error)


def test_an_example_missing_the_answer_field_is_reported(tmp_path):
    rows = QA_ROWS[:2] + [{"split": "validation", "question": "1+1"}]
    error = _load_error(_task_file(tmp_path, QA_SPEC, rows=rows))
    assert (error.location.endswith("data.jsonl:3"), error.field) == (True, "answer")


def test_an_empty_split_is_reported(tmp_path):
    error = _load_error(_task_file(tmp_path, QA_SPEC, rows=QA_ROWS[:2]))
    assert "split 'validation' has no examples" in str(error)
    assert "data.jsonl (split='validation')" in str(error)


def test_an_unknown_key_in_the_task_file_is_named_with_its_line(tmp_path):
    path = _task_file(tmp_path, dict(QA_SPEC, shots=5))
    error = _load_error(path)
    assert error.location == f"{path}:9" and error.field == "shots"
    assert "unknown key" in str(error)
    error = _load_error(_task_file(tmp_path, dict(QA_SPEC, fields={
        "prompt": "{question}", "answer": "answer", "choices": "x"})))
    assert error.field == "choices" and "unknown key in fields" in str(error)


@pytest.mark.parametrize("change, field, message", [
    (dict(kind="classify"), "kind", "must be one of rank, generate"),
    (dict(metric="accuracy"), "metric", "not allowed for kind 'generate'"),
    (dict(name="My Task"), "name", "must match"),
    (dict(category="sports"), "category", "must be one of"),
    (dict(fields={"prompt": "Q: {question", "answer": "answer"}), "prompt", "template"),
    (dict(fields={"prompt": "Q: {question!r}", "answer": "answer"}), "prompt", "plain field"),
    (dict(fields={"prompt": "{question}", "answer": "answer", "label": "x"}), "label",
     "not used by a generate task"),
])
def test_bad_task_file_values_name_the_key(tmp_path, change, field, message):
    error = _load_error(_task_file(tmp_path, dict(QA_SPEC, **change)))
    assert error.field == field and message in str(error)
    assert str(error).startswith(str(tmp_path / "task.json"))


def test_a_key_given_twice_is_refused_naming_file_line_and_key(tmp_path):
    _write_jsonl(tmp_path / "data.jsonl", QA_ROWS)
    json_path = tmp_path / "twice.json"
    json_path.write_text('{\n  "name": "a",\n  "data": "data.jsonl",\n  "kind": "generate",\n'
                         '  "fields": {"prompt": "{question}", "answer": "answer",\n'
                         '             "answer": "question"},\n  "name": "b"\n}\n')
    error = _load_error(json_path)
    # The first duplicate met: json builds the inner object first.
    assert (error.location, error.field) == (f"{json_path}:6", "answer")
    assert "is given twice" in str(error)
    yaml_path = tmp_path / "twice.yaml"
    yaml_path.write_text("name: a\ndata: data.jsonl\nkind: generate\nfields:\n"
                         "  prompt: '{question}'\n  answer: answer\nkind: rank\n")
    error = _load_error(yaml_path)
    assert (error.location, error.field) == (f"{yaml_path}:7", "kind")


def test_an_example_with_a_misspelt_split_is_refused_not_dropped(tmp_path):
    rows = QA_ROWS + [{"split": "valdation", "question": "9+9", "answer": "18"}]
    error = _load_error(_task_file(tmp_path, QA_SPEC, rows=rows))
    assert (error.location, error.field) == (f"{tmp_path / 'data.jsonl'}:4", "split")
    assert "split 'valdation' is none of train, validation, test; did you mean 'validation'?" \
        in str(error)
    rows[-1]["split"] = "test"  # a split the task does not read is still a split
    assert len(list(load_task_file(_task_file(tmp_path, QA_SPEC, rows=rows)).eval_examples())) == 1


def test_a_task_file_reusing_a_registered_name_names_the_file(tmp_path):
    from glam_tf.tasks.user_tasks import register_task_file

    path = _task_file(tmp_path, dict(QA_SPEC, name="boolq"))
    with pytest.raises(TaskDataError) as info:
        register_task_file(path)
    assert str(info.value).startswith(f"{path}:2: field 'name': 'boolq' is already a registered")
    module = tmp_path / "again.py"
    module.write_text("from glam_tf.tasks import get, register\nregister(get('boolq'))\n")
    with pytest.raises(TaskDataError, match=f"^{module}: .*already registered"):
        load_tasks_module(module)


def test_a_missing_required_key_is_named(tmp_path):
    spec = {k: v for k, v in QA_SPEC.items() if k != "data"}
    error = _load_error(_task_file(tmp_path, spec))
    assert error.field == "data" and "missing required key" in str(error)


def test_a_label_outside_the_candidates_names_line_and_field(tmp_path):
    rows = [{"split": "validation", "q": "x", "a": "1", "b": "2", "gold": 2}]
    spec = {"name": "bad_label", "data": "data.jsonl", "kind": "rank", "few_shot_split": None,
            "fields": {"prompt": "{q}", "candidates": [" {a}", " {b}"], "label": "gold"}}
    error = _load_error(_task_file(tmp_path, spec, rows=rows))
    assert error.location.endswith("data.jsonl:1") and error.field == "gold"
    assert "not an index into 2 candidates" in str(error)


# -- Python task modules ------------------------------------------------------------------------

def test_a_user_tasks_module_registers_its_tasks(tmp_path):
    module = tmp_path / "my_tasks.py"
    module.write_text(textwrap.dedent("""\
        from glam_tf.tasks import CallableSource, Formatted, Task, register

        def rows(split):
            return [{"q": "Sky?", "gold": 0}]

        register(Task(
            name="user/sky", source=CallableSource(rows), kind="rank", metrics=("accuracy",),
            category="custom",
            formatter=lambda ex: Formatted(prompt=ex["q"], candidates=(" blue", " red"),
                                           label=ex["gold"])))
        """))
    try:
        assert load_tasks_module(module) == ("user/sky",)
        assert next(REGISTRY.get("user/sky").eval_examples()).label == 0
        with pytest.raises(ValueError, match="already registered"):
            load_tasks_module(module)
    finally:
        REGISTRY.remove("user/sky")
    assert "user/sky" not in REGISTRY


def test_load_tasks_registers_a_task_file(tmp_path):
    path = _task_file(tmp_path, dict(QA_SPEC, name="user/file_task"))
    try:
        assert load_tasks(path) == ("user/file_task",)
    finally:
        REGISTRY.remove("user/file_task")
