"""TaskRegistry: add/get/remove, duplicate and invalid names, suggestions, select specs."""

import pytest

from glam_tf.tasks import (GLAM_TASK_NAMES, REGISTRY, CallableSource, Formatted, Task,
                           TaskError, TaskRegistry, UnknownTaskError, select)


def _task(name, category="custom"):
    return Task(name=name, source=CallableSource(lambda split: [{"x": "1"}]),
                formatter=lambda ex: Formatted(prompt=ex["x"], candidates=(" a", " b"), label=0),
                kind="rank", metrics=("accuracy",), category=category)


@pytest.fixture
def registry():
    return TaskRegistry([_task("boolq", "superglue"), _task("piqa", "common_sense_reasoning"),
                         _task("anli_r1", "nli"), _task("anli_r2", "nli")])


def test_add_get_remove_round_trip(registry):
    task = registry.add(_task("mine/qa"))
    assert registry.get("mine/qa") is task and "mine/qa" in registry
    assert registry.names() == ("boolq", "piqa", "anli_r1", "anli_r2", "mine/qa")
    assert registry.remove("mine/qa") is task
    assert "mine/qa" not in registry and len(registry) == 4


def test_a_duplicate_name_is_an_error(registry):
    with pytest.raises(TaskError, match="'boolq'.*already registered"):
        registry.add(_task("boolq"))


def test_an_invalid_name_is_an_error_and_only_tasks_register(registry):
    with pytest.raises(TaskError, match="must match"):
        registry.add(_task("Bad Name"))
    with pytest.raises(TypeError, match="only register a Task"):
        registry.add("boolq")


def test_unknown_name_raises_key_error_suggesting_the_closest_names(registry):
    with pytest.raises(KeyError) as info:
        registry.get("anli_r4")
    assert isinstance(info.value, UnknownTaskError)
    message = str(info.value)  # not KeyError's quoted repr
    assert message.startswith("unknown task 'anli_r4'; did you mean ")
    assert "anli_r1" in message and "anli_r2" in message and "boolq" not in message
    with pytest.raises(KeyError, match="did you mean boolq"):
        registry.get("BoolQ")
    with pytest.raises(KeyError, match="did you mean piqa"):
        registry.remove("piqaa")


def test_select_names_all_and_categories(registry):
    names = lambda spec: [t.name for t in registry.select(spec)]  # noqa: E731
    assert names("piqa,boolq") == ["piqa", "boolq"]
    assert names(" boolq , boolq ") == ["boolq"]
    assert names("all") == ["boolq", "piqa", "anli_r1", "anli_r2"]
    assert names("category:nli") == ["anli_r1", "anli_r2"]
    assert names("category:nli,boolq,anli_r1") == ["anli_r1", "anli_r2", "boolq"]
    assert names("category:open_domain_qa") == []


@pytest.mark.parametrize("spec, error, message", [
    ("", ValueError, "give task names"),
    ("boolq,,piqa", ValueError, "empty item"),
    ("category:superglu", ValueError, "unknown category 'superglu'; did you mean superglue"),
    ("boolq,piqaa", KeyError, "did you mean piqa"),
])
def test_bad_select_specs_are_errors(registry, spec, error, message):
    with pytest.raises(error, match=message):
        registry.select(spec)


def test_by_category_groups_tasks_in_category_order(registry):
    table = registry.by_category()
    assert list(table) == ["common_sense_reasoning", "superglue", "nli"]
    assert [t.name for t in table["nli"]] == ["anli_r1", "anli_r2"]


def test_default_registry_holds_the_glam_tasks():
    assert set(GLAM_TASK_NAMES) <= set(REGISTRY.names())
    assert [t.name for t in select("boolq,piqa")] == ["boolq", "piqa"]
    assert len(select("category:superglue")) == 8
