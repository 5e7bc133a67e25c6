"""The kind -> scorer table, and evaluate()'s rules: nothing aborts a run over one example."""

import dataclasses

import pytest

from glam_tf.evaluation import scorers
from glam_tf.evaluation.evaluator import evaluate, evaluate_all, format_table
from glam_tf.tasks import CallableSource, Formatted, Task, TaskError


class WordBackend:
    """Counts tokens as words; a continuation's log-likelihood is -1 per word, except
    that continuations holding "good" score -0.1 per word. Generation echoes the
    prompt's last line after "A:" as given by `answers`."""

    batch_size = 4
    max_new_tokens = None
    can_count_tokens = True

    def __init__(self, max_length=None, answers=None):
        self.max_length = max_length
        self.answers = answers or {}
        self.scored = []

    def count_tokens(self, text):
        return len(text.split())

    def score(self, contexts, continuations):
        self.scored.extend(continuations)
        per_word = [-0.1 if "good" in c else -1.0 for c in continuations]
        counts = [self.count_tokens(c) for c in continuations]
        return [p * n for p, n in zip(per_word, counts)], counts

    def generate(self, prompts, max_new_tokens):
        return [" " + self.answers[p.rsplit("\n", 1)[-1]] + "\n" for p in prompts]


def _rank_task(rows, **kw):
    def fmt(ex):
        return Formatted(prompt=ex["q"], candidates=tuple(ex["c"]), label=ex.get("label"))
    fields = dict(name="t/rank", source=CallableSource(lambda split: rows), formatter=fmt,
                  kind="rank", metrics=("accuracy",), category="custom", few_shot_split=None)
    fields.update(kw)
    return Task(**fields)


def test_every_task_kind_is_a_scorer_table_entry_with_its_own_metrics():
    assert set(scorers.SCORERS) == {"rank", "rank_grouped", "generate", "generate_drop"}
    assert scorers.SCORERS["rank_grouped"].metrics == ("f1a", "exact_match")
    assert scorers.SCORERS["generate_drop"].metrics == ("f1", "exact_match")
    task = _rank_task([{"q": "Q", "c": [" a", " b"], "label": 0}])
    assert task.scorer is scorers.SCORERS["rank"] and task.normalization == "token"


def test_a_new_kind_is_one_entry_in_the_table(monkeypatch):
    class LongestScorer(scorers.RankScorer):
        """Picks the candidate with the most words: no model needed."""
        kind, metrics = "longest", ("accuracy",)

        def score(self, task, examples, backend, max_new_tokens, progress=None):
            picks = [max(range(len(e.candidates)), key=lambda i: len(e.candidates[i].split()))
                     for e in examples]
            out = [{"prediction": p, "correct": p == e.label} for p, e in zip(picks, examples)]
            return {"accuracy": sum(o["correct"] for o in out) / len(out)}, out

    monkeypatch.setitem(scorers.SCORERS, "longest", LongestScorer())
    rows = [{"q": "Q1", "c": [" a", " b c"], "label": 1}, {"q": "Q2", "c": [" a b", " c"],
                                                          "label": 1}]
    result = evaluate(_rank_task(rows, kind="longest"), WordBackend())
    assert result["kind"] == "longest" and result["metrics"] == {"accuracy": 0.5}


def test_a_continuation_longer_than_the_window_is_skipped_and_counted_not_fatal():
    rows = [{"q": "Q one", "c": [" good", " bad"], "label": 0},
            {"q": "Q two", "c": [" bad", " good good"], "label": 1},
            # 9 words: cannot fit max_length 8 even without context.
            {"q": "Q three", "c": [" good" * 9, " bad"], "label": 0},
            {"q": "Q four", "c": [" bad", " good"], "label": 0}]
    backend = WordBackend(max_length=8)
    result = evaluate(_rank_task(rows), backend)
    assert result["skipped"] == {"continuation_too_long": 1}
    assert result["num_examples"] == 3 and result["metrics"] == {"accuracy": pytest.approx(2 / 3)}
    assert result["predictions"][2] == {"index": 2, "shots": [], "shots_used": 0,
                                        "skipped": "continuation_too_long"}
    assert " good" * 9 not in backend.scored      # never sent to the model
    table = format_table([result])
    assert "66.7!" in table
    assert "! examples not scored: t/rank 0-shot 1 continuation_too_long (of 4)" in table


def test_a_candidate_without_tokens_of_its_own_is_skipped_and_counted_not_fatal():
    # A tokenizer that drops extra spaces gives " " no token after its context: a
    # per-token score would divide by 0, and the model-dir scorer refuses the row.
    rows = [{"q": "Q one", "c": [" good", " bad"], "label": 0},
            {"q": "Q two", "c": [" good", " "], "label": 0}]
    backend = WordBackend()
    result = evaluate(_rank_task(rows), backend)
    assert result["skipped"] == {"continuation_without_tokens": 1}
    assert result["num_examples"] == 1 and result["metrics"] == {"accuracy": 1.0}
    assert " " not in backend.scored


def test_a_continuation_too_long_after_the_unconditional_context_is_skipped_too():
    # Words: "Qx y" gives "x y" 1 word after "Q"; after "Answer: " it has 2, more
    # than max_length 2 leaves (1), so its unconditional row cannot be scored.
    rows = [{"q": "Q", "c": ["x y", " c"], "label": 0},
            {"q": "Q", "c": [" c", " d"], "label": 0}]
    backend = WordBackend(max_length=2)
    task = _rank_task(rows, normalization="unconditional", unconditional_context="Answer: ")
    result = evaluate(task, backend)
    assert result["skipped"] == {"continuation_too_long": 1} and result["num_examples"] == 1
    assert "x y" not in backend.scored
    # Ranked by plain per-token scores, the same example fits and is scored.
    assert evaluate(_rank_task(rows), WordBackend(max_length=2))["skipped"] == {}


def test_a_too_long_context_is_cut_by_the_backend_and_counted():
    rows = [{"q": "word " * 20 + "Q", "c": [" good", " bad"], "label": 0}]
    result = evaluate(_rank_task(rows), WordBackend(max_length=8))
    assert result["contexts_cut"] == 1 and result["skipped"] == {}
    assert result["metrics"] == {"accuracy": 1.0}


def test_shots_used_are_reported_per_example_and_as_their_mean_over_scored_examples():
    # Each shot "Sn good" adds 2 words; max_length 8 leaves 7 for context + candidate.
    shots = [{"q": f"S{i}", "c": [" good", " bad"], "label": 0} for i in range(3)]
    rows = [{"q": "Q", "c": [" good", " bad"], "label": 0},            # 2 words: 2 shots fit
            {"q": "Q x x", "c": [" good", " bad"], "label": 0},        # 4 words: 1 fits
            {"q": "Q x x x x", "c": [" good", " bad"], "label": 0},    # 6 words: none
            {"q": "Q", "c": [" good" * 9, " bad"], "label": 0}]        # skipped: too long
    splits = {"validation": rows, "train": shots}
    task = _rank_task(rows, source=CallableSource(lambda split: splits[split]),
                      few_shot_split="train")
    lines = []
    [result] = evaluate_all([task], WordBackend(max_length=8), [2], log=lines.append)
    assert [p["shots_used"] for p in result["predictions"]] == [2, 1, 0, 0]
    assert result["shots_dropped"] == 0 + 1 + 2 + 2
    # The mean is over the 3 scored examples (1.0), not the 4 (0.75).
    assert result["shots_used_mean"] == pytest.approx(1.0)
    assert lines[0].endswith("(skipped: 1 continuation_too_long) (mean shots used 1.00)")
    table = format_table([result]).splitlines()
    assert table[0].split() == ["task", "metric", "2-shot*"]
    assert table[2].split() == ["t/rank", "accuracy", "100.0*!"]
    assert any(l.startswith("* fewer shots than the column's")
               and l.endswith("mean shots used: t/rank 2-shot 1.00") for l in table)
    # A few-shot split smaller than the column's shot count is marked the same way.
    small = dataclasses.replace(task, source=CallableSource(
        lambda split: splits[split][:1] if split == "train" else rows[:2]))
    result = evaluate(small, WordBackend(), shots=2)
    assert result["shots_used_mean"] == 1.0 and result["shots_dropped"] == 0
    assert format_table([result]).splitlines()[0].split()[-1] == "2-shot*"


def test_examples_without_gold_are_skipped_and_a_task_with_none_scorable_is_reported():
    rows = [{"q": "Q one", "c": [" good", " bad"], "label": 0},
            {"q": "Q two", "c": [" good", " bad"], "label": None}]
    result = evaluate(_rank_task(rows), WordBackend())
    assert result["skipped"] == {"no_gold": 1} and result["num_examples"] == 1
    assert result["not_scored"] is None
    none = evaluate(_rank_task(rows[1:]), WordBackend())
    assert none["not_scored"] == ("no example of split 'validation' can be scored: all 1 "
                                  "skipped (1 no_gold)")
    assert none["metrics"] == {"accuracy": None} and none["num_examples"] == 0
    assert none["predictions"] == [{"index": 0, "shots": [], "shots_used": 0,
                                    "skipped": "no_gold"}]


def test_a_task_with_no_scorable_example_does_not_stop_the_others_and_its_row_says_why():
    good = [{"q": "Q", "c": [" good", " bad"], "label": 0}]
    unscorable = [{"q": "Q", "c": [" good" * 9, " bad"], "label": 0},
                  {"q": "Q", "c": [" good", " bad"], "label": None}]
    tasks = [_rank_task(unscorable, name="t/none"), _rank_task(good, name="t/good")]
    lines = []
    results = evaluate_all(tasks, WordBackend(max_length=8), [0], log=lines.append)
    assert [r["metrics"] for r in results] == [{"accuracy": None}, {"accuracy": 1.0}]
    assert lines[0] == ("t/none 0-shot: not scored: no example of split 'validation' can be "
                        "scored: all 2 skipped (1 continuation_too_long, 1 no_gold)")
    table = format_table(results).splitlines()
    assert table[2].split() == ["t/none", "accuracy", "n/a"]
    assert table[3].split() == ["t/good", "accuracy", "100.0"]
    assert table[2].index("n/a") + 3 == table[3].index("100.0") + 5   # right-aligned
    # The average leaves the unscored task out, and says so with "~".
    assert [l.split()[-1] for l in table if l.startswith(("Custom", "Overall"))] == [
        "100.0~", "100.0~"]
    assert any(l.startswith("n/a no score; averages marked ~ leave these tasks out: t/none "
                            "0-shot: no example") for l in table)


def test_per_token_normalization_does_not_punish_an_answer_of_two_pieces():
    # BoolQ's finding: " yes" is two pieces, " no" one. Same per-piece likelihood
    # -> the summed score always prefers " no"; the per-token one does not.
    rows = [{"q": "Q", "c": [" no", " good yes"], "label": 1}]  # " good yes" = 2 words
    per_token = evaluate(_rank_task(rows), WordBackend())
    summed = evaluate(_rank_task(rows, normalization="sum"), WordBackend())
    assert per_token["predictions"][0]["scores"] == pytest.approx([-1.0, -0.1])
    assert per_token["metrics"]["accuracy"] == 1.0
    assert summed["predictions"][0]["scores"] == pytest.approx([-1.0, -0.2])
    assert per_token["normalization"] == "token" and summed["normalization"] == "sum"


def test_a_rank_task_may_also_report_macro_f1_as_cb_does():
    # Predictions (the "good" candidate) 0, 0, 1, 2 for gold 0, 1, 1, 2: accuracy 3/4;
    # F1 per class 0.667, 0.667, 1.0 -> macro 0.778.
    rows = [{"q": f"Q{i}", "c": [" good" if j == liked else " bad" for j in range(3)],
             "label": gold} for i, (liked, gold) in enumerate([(0, 0), (0, 1), (1, 1), (2, 2)])]
    result = evaluate(_rank_task(rows, metrics=("accuracy", "f1_macro")), WordBackend())
    assert result["metrics"] == {"accuracy": 0.75, "f1_macro": pytest.approx(7 / 9)}


def _multirc_rows():
    # (question, option, gold label, the option the backend likes: 1 = "good" true)
    table = [("q1", "o1", 1, 1), ("q1", "o2", 0, 0), ("q1", "o3", 1, 0),
             ("q2", "o1", 0, 0), ("q2", "o2", 1, 1),
             ("q3", "o1", 0, 1)]
    rows = []
    for question, option, gold, liked in table:
        candidates = [" false", " true"]
        candidates[liked] = " good" + candidates[liked]
        rows.append({"q": f"{question} {option}", "c": candidates, "label": gold,
                     "question": question})
    return rows, table


def test_multirc_scores_f1a_over_all_answer_options_and_exact_match_per_question():
    rows, table = _multirc_rows()
    task = _rank_task(rows, kind="rank_grouped", metrics=("f1a", "exact_match"),
                      group_by=lambda ex: ex["question"])
    result = evaluate(task, WordBackend())
    predicted = [p["prediction"] for p in result["predictions"]]
    assert predicted == [liked for *_, liked in table]
    # By hand: predicted true at o1/q1, o2/q2, o1/q3; gold true at o1/q1, o3/q1, o2/q2.
    # tp = 2, precision 2/3, recall 2/3 -> F1a 2/3. Questions all right: q2 only -> 1/3.
    assert result["metrics"] == {"f1a": pytest.approx(2 / 3), "exact_match": pytest.approx(1 / 3)}
    assert [p["group"] for p in result["predictions"]] == ["q1", "q1", "q1", "q2", "q2", "q3"]


def test_drop_kind_scores_each_gold_as_its_spans_and_skips_an_example_with_only_empty_golds():
    rows = [{"q": "A: q1", "a": [["1,000"]]}, {"q": "A: q2", "a": [["Bob", "Alice Smith"]]},
            {"q": "A: q3", "a": [[""]]}, {"q": "A: q4", "a": [[""], ["two dogs"]]}]

    def fmt(ex):
        return Formatted(prompt=ex["q"], answers=tuple(", ".join(a) for a in ex["a"]),
                         answer_spans=tuple(tuple(a) for a in ex["a"]))
    task = Task(name="t/drop", source=CallableSource(lambda split: rows), formatter=fmt,
                kind="generate_drop", metrics=("f1", "exact_match"), category="custom",
                few_shot_split=None, stop_sequences=("\n",))
    backend = WordBackend(answers={"A: q1": "1000", "A: q2": "Alice", "A: q4": "dogs"})
    result = evaluate(task, backend)
    assert result["skipped"] == {"no_gold": 1} and result["num_examples"] == 3
    scored = [p for p in result["predictions"] if "skipped" not in p]
    # q2: one predicted bag {alice} against two gold bags: F1 2/3 for Alice Smith, over 2 -> 0.33.
    assert [(p["exact_match"], p["f1"]) for p in scored] == [(1.0, 1.0), (0.0, 0.33), (0.0, 0.67)]
    assert scored[1]["answers"] == [["Bob", "Alice Smith"]]


def test_a_kind_refuses_the_fields_of_other_kinds():
    with pytest.raises(TaskError, match=r"Task.group_by=.*does not apply to rank tasks"):
        _rank_task([], group_by=lambda ex: "q")
    with pytest.raises(TaskError, match=r"Task.normalization='token': does not apply to "
                                        "generate tasks"):
        dataclasses.replace(_rank_task([]), kind="generate", metrics=("f1",))


def test_shots_are_drawn_only_from_examples_that_can_be_demonstrations():
    shots = [{"q": f"A: s{i}", "a": [""] if i % 2 else ["", f"answer{i}"]} for i in range(6)]
    rows = {"validation": [{"q": "A: q1", "a": ["x"]}], "train": shots}
    task = Task(name="t/drop", source=CallableSource(lambda split: rows[split]),
                formatter=lambda ex: Formatted(prompt=ex["q"], answers=tuple(ex["a"])),
                kind="generate_drop", metrics=("f1",), category="custom",
                stop_sequences=("\n",))
    backend = WordBackend(answers={"A: q1": "x"})
    result = evaluate(task, backend, shots=3)
    assert sorted(result["predictions"][0]["shots"]) == [0, 2, 4]   # the non-empty ones
    assert result["metrics"] == {"f1": 1.0}


def test_record_f1_is_the_token_f1_of_the_predicted_entity_against_the_answers():
    from glam_tf.tasks import REGISTRY

    def record(entities, answers):
        return {"passage": "Smith met the Bears.\n@highlight\nA meeting", "entities": entities,
                "query": "@placeholder was there", "answers": answers}
    rows = [record(["good Smith", "Smith", "Jones"], ["Smith"]),
            record(["Lions", "the good Bears"], ["the good Bears", "good Bears"])]
    task = dataclasses.replace(REGISTRY.get("record"), source=CallableSource(lambda split: rows))
    assert task.metrics == ("accuracy", "f1")        # the paper's tables list accuracy
    result = evaluate(task, WordBackend())           # WordBackend prefers "good"
    # 1: "good Smith" predicted, gold "Smith": wrong; F1 2 * (1/2 * 1) / (3/2) = 2/3.
    # 2: "the good Bears" predicted, an answer: right; F1 1.
    assert [p["prediction"] for p in result["predictions"]] == [0, 1]
    assert [p["f1"] for p in result["predictions"]] == pytest.approx([2 / 3, 1.0])
    assert result["metrics"] == {"accuracy": 0.5, "f1": pytest.approx(5 / 6)}


def test_a_rank_f1_example_without_candidate_answers_is_skipped_before_the_model_runs():
    rows = [{"q": "Q", "c": [" a", " b"], "label": 0}]
    backend = WordBackend()
    result = evaluate(_rank_task(rows, metrics=("accuracy", "f1")), backend)
    assert result["skipped"] == {"no_candidate_answers": 1} and result["not_scored"]
    assert backend.scored == []


def _record(entities, answers, query="@placeholder was there"):
    return {"passage": "Smith met the Bears.\n@highlight\nA meeting", "entities": entities,
            "query": query, "answers": answers}


def test_a_record_answer_among_no_entity_is_skipped_and_counted_not_fatal():
    from glam_tf.tasks import REGISTRY

    rows = {"validation": [_record(["good Smith", "Jones"], ["good Smith"]),
                           _record(["Smith", "Jones"], ["Bears"]),   # no answer an entity
                           _record([], ["Smith"]),                    # no candidates at all
                           _record(["Lions", "good Bears"], ["Lions"])],
            "train": [_record(["Smith"], ["Bears"]), _record(["Jones", "Lee"], ["Lee"])]}
    task = dataclasses.replace(REGISTRY.get("record"),
                               source=CallableSource(lambda split: rows[split]))
    result = evaluate(task, WordBackend(), shots=2)
    assert result["skipped"] == {"answer_not_an_entity": 1, "no_entities": 1}
    assert result["num_examples"] == 2 and result["metrics"]["accuracy"] == 0.5
    assert [p.get("skipped") for p in result["predictions"]] == [
        None, "answer_not_an_entity", "no_entities", None]
    assert result["predictions"][1]["detail"].endswith(
        "field 'answers': no answer ['Bears'] is among the entities")
    # The malformed train example is no shot: only the other one (pool index 0) is drawn.
    assert result["predictions"][0]["shots"] == [0] and result["shots_used_mean"] == 1.0


def test_multirc_skips_a_whole_question_when_one_of_its_options_is_skipped():
    rows, _ = _multirc_rows()
    rows[2] = dict(rows[2], c=[" false", " good" * 9])   # q1 o3: too long for the window
    grouped = dict(kind="rank_grouped", metrics=("f1a", "exact_match"),
                   group_by=lambda ex: ex["question"])
    result = evaluate(_rank_task(rows, **grouped), WordBackend(max_length=8))
    assert result["skipped"] == {"question_incomplete": 2, "continuation_too_long": 1}
    assert [p.get("skipped") for p in result["predictions"][:3]] == [
        "question_incomplete", "question_incomplete", "continuation_too_long"]
    # The metrics are those of the split without question q1 (scored the same way).
    without_q1 = evaluate(_rank_task(rows[3:], **grouped), WordBackend(max_length=8))
    assert result["metrics"] == without_q1["metrics"]
    assert result["metrics"]["exact_match"] == 0.5   # q2 right, q3 wrong; q1's o1, o2 were
    # A question --max_examples cuts in two is skipped whole too (q2 o2 is the 5th).
    cut = evaluate(_rank_task(rows[:2] + _multirc_rows()[0][2:], **grouped), WordBackend(),
                   max_examples=4)
    assert cut["skipped"] == {"question_incomplete": 1}
    assert cut["metrics"] == evaluate(_rank_task(_multirc_rows()[0][:3], **grouped),
                                      WordBackend())["metrics"]
    # An option that is not a false/true judgement takes its question with it too.
    rows[2] = dict(rows[2], c=[" false", " true", " maybe"])
    result = evaluate(_rank_task(rows, **grouped), WordBackend())
    assert result["skipped"] == {"question_incomplete": 2, "not_a_true_false_judgement": 1}


def test_a_gold_answer_empty_once_normalized_is_skipped_and_never_credits_an_empty_output():
    rows = [{"q": "A: q1", "a": ["The", "."]}, {"q": "A: q2", "a": ["the", "Paris"]}]
    task = Task(name="t/qa", source=CallableSource(lambda split: rows),
                formatter=lambda ex: Formatted(prompt=ex["q"], answers=tuple(ex["a"])),
                kind="generate", metrics=("exact_match", "f1"), category="custom",
                few_shot_split=None, stop_sequences=("\n",))
    result = evaluate(task, WordBackend(answers={"A: q1": "", "A: q2": ""}))
    assert result["skipped"] == {"gold_empty_when_normalized": 1}
    assert result["metrics"] == {"exact_match": 0.0, "f1": 0.0}   # "" is not "Paris"
    assert result["predictions"][1]["answers"] == ["Paris"]
