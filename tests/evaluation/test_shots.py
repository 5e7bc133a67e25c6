import pytest

from glam_tf.evaluation.shots import fit_prompt, prompt_tokens, sample_shots
from glam_tf.tasks.task import GENERATE, RANK, CallableSource, Formatted, Task


def test_sample_shots_is_deterministic_under_seed_and_example_index():
    first = sample_shots(100, 5, seed=7, example_index=3)
    assert first == sample_shots(100, 5, seed=7, example_index=3)
    assert len(first) == len(set(first)) == 5
    assert all(0 <= i < 100 for i in first)
    others = [sample_shots(100, 5, seed=s, example_index=e) for s, e in [(8, 3), (7, 4)]]
    assert all(o != first for o in others)


def test_sample_shots_never_returns_the_excluded_index():
    for example in range(20):
        shots = sample_shots(6, 5, seed=0, exclude_index=example % 6, example_index=example)
        assert example % 6 not in shots
        assert sorted(shots) == sorted(set(range(6)) - {example % 6})


def test_sample_shots_never_returns_any_of_several_excluded_indices():
    for example in range(20):
        excluded = {example % 7, (example + 3) % 7}
        shots = sample_shots(7, 6, seed=2, exclude_index=sorted(excluded), example_index=example)
        assert sorted(shots) == sorted(set(range(7)) - excluded)
        # One index alone, as an int or in a list, draws the same shots.
        assert (sample_shots(7, 3, seed=2, exclude_index=example % 7, example_index=example)
                == sample_shots(7, 3, seed=2, exclude_index=[example % 7],
                                example_index=example))


def test_sample_shots_caps_k_at_the_pool_size():
    assert sorted(sample_shots(3, 10, seed=1, example_index=0)) == [0, 1, 2]
    assert sample_shots(1, 4, seed=1, exclude_index=0, example_index=0) == []
    assert sample_shots(5, 0, seed=1, example_index=0) == []


def test_sample_shots_rejects_negative_arguments():
    with pytest.raises(ValueError, match="seed"):
        sample_shots(5, 2, seed=-1, example_index=0)


def _count_words(text):
    return len(text.split())


def _task(kind):
    fmt = lambda e: e  # noqa: E731 (unused: examples are built directly)
    return Task(name="t", source=CallableSource(lambda split: []), formatter=fmt, kind=kind,
                metrics=("accuracy",) if kind == RANK else ("f1",), category="custom",
                target_prefix=" ", shot_separator="\n")


def _qa(i):
    return Formatted(prompt=f"question {i} w w w", answers=(f"answer{i}",))


def test_fit_prompt_keeps_every_shot_when_they_fit():
    task = _task(GENERATE)
    shots = [_qa(i) for i in range(3)]
    fitted = fit_prompt(task, _qa(9), shots, max_tokens=100, count_tokens=_count_words)
    assert (fitted.shots_used, fitted.shots_dropped) == (3, 0)
    assert fitted.example == task.with_shots(_qa(9), shots)


def test_fit_prompt_drops_the_oldest_shots_until_the_prompt_fits():
    task = _task(GENERATE)
    shots = [_qa(i) for i in range(4)]          # 6 words each as a demonstration
    question = _qa(9)                           # 5 words
    example, used, dropped = fit_prompt(task, question, shots, max_tokens=5 + 6 * 2 + 1,
                                        count_tokens=_count_words)
    assert (used, dropped) == (2, 2)
    assert example == task.with_shots(question, shots[2:])  # the last two, nearest the question
    assert example.prompt.endswith(question.prompt)


def test_fit_prompt_keeps_a_too_long_question_without_shots():
    task = _task(GENERATE)
    fitted = fit_prompt(task, _qa(9), [_qa(0), _qa(1)], max_tokens=2, count_tokens=_count_words)
    assert (fitted.shots_used, fitted.shots_dropped) == (0, 2)
    assert fitted.example == _qa(9)


def test_fit_prompt_counts_the_longest_candidate_of_a_rank_example():
    task = _task(RANK)
    example = Formatted(prompt="q q", candidates=(" a", " b b b b"), label=0)
    shot = Formatted(prompt="s s", candidates=(" x", " y"), label=1)   # "s s y" + sep: 3 words
    assert prompt_tokens(example, _count_words) == 6
    assert fit_prompt(task, example, [shot], 9, _count_words).shots_used == 1
    assert fit_prompt(task, example, [shot], 8, _count_words).shots_used == 0


def test_fit_prompt_accepts_a_layout_function():
    def layout(example, shots):
        return Formatted(prompt="".join(s.prompt + "\n" for s in shots) + example.prompt)

    fitted = fit_prompt(layout, _qa(9), [_qa(0), _qa(1)], max_tokens=10,
                        count_tokens=_count_words)
    assert (fitted.shots_used, fitted.shots_dropped) == (1, 1)
    assert fitted.example.prompt == "question 1 w w w\nquestion 9 w w w"


def test_an_example_with_a_demo_group_draws_its_shots_from_that_group_only():
    from glam_tf.evaluation.evaluator import build_prompts

    def example(group, i):
        return Formatted(prompt=f"{group} {i}", candidates=(" x", " y"), label=i % 2,
                         demo_group=group)

    pool = [example(g, i) for i in range(3) for g in "abcd"]  # groups interleaved
    examples = [example(g, 9) for g in "abcd"]
    for k, seed in [(1, 0), (2, 1), (3, 2), (5, 3)]:
        _, drawn, used, _ = build_prompts(_task(RANK), examples, k, seed, pool=pool)
        for e, shots in zip(examples, drawn):
            assert {pool[j].demo_group for j in shots} == {e.demo_group}
            assert len(shots) == min(k, 3)  # capped at the group's 3 demonstrations
    # Without demo groups the same pool mixes groups.
    plain = [Formatted(prompt=e.prompt, candidates=e.candidates, label=e.label) for e in pool]
    _, drawn, _, _ = build_prompts(_task(RANK), plain[:1], 6, 0, pool=plain)
    assert len({plain[j].prompt.split()[0] for j in drawn[0]}) > 1


def test_demo_group_must_be_a_string():
    from glam_tf.tasks.task import TaskDataError

    with pytest.raises(TaskDataError, match="demo_group"):
        Formatted(prompt="p", candidates=(" x",), label=0, demo_group=3)
