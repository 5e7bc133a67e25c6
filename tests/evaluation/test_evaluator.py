"""The evaluator end to end: task files -> backends -> metrics, table, CLI."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from glam_tf.evaluation.evaluator import build_prompts, evaluate, evaluate_all, format_table
from glam_tf.tasks import load_task_file

EXPORT_MAX_BATCH = 4        # as exported by the eval_export_dir fixture (conftest.py)
EXPORT_MAX_NEW_TOKENS = 8
QUESTIONS = [(2, 3), (4, 1), (6, 2), (7, 7), (1, 8), (3, 9)]


def _rows():
    rows = []
    for i, (a, b) in enumerate(QUESTIONS):
        wrong = a + b + 2
        options = [str(a + b), str(wrong)] if i % 2 == 0 else [str(wrong), str(a + b)]
        rows.append({"split": "validation" if i < 4 else "train", "question": f"{a}+{b}",
                     "a": options[0], "b": options[1], "gold": i % 2, "answer": str(a + b)})
    return rows


def write_tasks(directory, few_shot_split="train"):
    """A rank task (2 candidates) and a generate task over one JSONL file; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "arith.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    rank = {"name": "mine/arith_rank", "data": "arith.jsonl", "kind": "rank",
            "few_shot_split": few_shot_split,
            "fields": {"prompt": "Q: {question}\nA:", "candidates": [" {a}", " {b}"],
                       "label": "gold"}}
    generate = {"name": "mine/arith_qa", "data": "arith.jsonl", "kind": "generate",
                "few_shot_split": few_shot_split, "max_decode_tokens": 4,
                "fields": {"prompt": "Q: {question}\nA:", "answer": "answer"}}
    paths = []
    for spec, name in ((rank, "rank.json"), (generate, "qa.json")):
        (directory / name).write_text(json.dumps(spec, indent=1))
        paths.append(directory / name)
    return paths


class ArithmeticBackend:
    """A backend that knows sums: it answers the last "Q: a+b" of a prompt.

    `wrong=True` makes it prefer any wrong answer instead. It counts tokens as
    whitespace-separated words.
    """

    batch_size = 3
    max_length = None
    max_new_tokens = None
    can_count_tokens = True

    def __init__(self, wrong=False):
        self.wrong = wrong
        self.calls = []

    @staticmethod
    def _answer(context):
        a, b = re.findall(r"Q: (\d+)\+(\d+)", context)[-1]
        return str(int(a) + int(b))

    def count_tokens(self, text):
        return len(text.split())

    def score(self, contexts, continuations):
        self.calls.append(len(contexts))
        right = [c.strip() == self._answer(x) for x, c in zip(contexts, continuations)]
        return ([(-5.0 if r == self.wrong else -0.5) for r in right],
                [self.count_tokens(c) for c in continuations])

    def generate(self, prompts, max_new_tokens):
        return [" " + self._answer(p) + "\nQ: junk" for p in prompts]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    return [load_task_file(p) for p in write_tasks(tmp_path_factory.mktemp("tasks"))]


def test_a_backend_that_knows_the_answers_scores_them(tasks):
    rank, qa = tasks
    backend = ArithmeticBackend()
    for shots in (0, 1, 2):
        result = evaluate(rank, backend, shots=shots)
        assert result["metrics"] == {"accuracy": 1.0}
        assert [p["prediction"] for p in result["predictions"]] == [0, 1, 0, 1]
        assert result["num_examples"] == 4 and result["shots"] == shots
        answered = evaluate(qa, backend, shots=shots)
        assert answered["metrics"] == {"exact_match": 1.0, "f1": 1.0}
        # The stop sequence "\n" cut the junk after the answer.
        assert [p["prediction"] for p in answered["predictions"]] == ["5", "5", "8", "14"]
    assert max(backend.calls) <= backend.batch_size
    assert evaluate(rank, ArithmeticBackend(wrong=True))["metrics"] == {"accuracy": 0.0}
    assert evaluate(rank, backend, max_examples=3)["num_examples"] == 3


def test_progress_reports_every_example_once_per_task_and_shot_count(tasks):
    import io

    from glam_tf.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream, lines = Terminal(), []
    evaluate_all(tasks, ArithmeticBackend(), [0, 1], log=lines.append,
                 bar=ProgressBar(stream, width=4))
    frames = [f.strip() for f in stream.getvalue().split("\r") if f.strip()]
    finals = [f for f in frames if f.endswith("4/4")]
    # 2 tasks x 2 shot counts, 4 examples each, in batches of 3: 3/4 then 4/4.
    assert [f.split(" [")[0] for f in finals] == [
        f"[{i + 1}/4] {t.name} {k}-shot" for i, (t, k) in
        enumerate((t, k) for t in tasks for k in (0, 1))]
    assert sum(f.endswith("3/4") for f in frames) == 4
    assert len(lines) == 4 and lines[0].startswith(f"{tasks[0].name} 0-shot: ")


def test_shots_are_deterministic_and_never_the_example_itself(tmp_path):
    rank, _ = [load_task_file(p) for p in write_tasks(tmp_path, few_shot_split="validation")]
    assert rank.shots_from_eval_split
    backend = ArithmeticBackend()
    first = evaluate(rank, backend, shots=3, seed=7)
    again = evaluate(rank, backend, shots=3, seed=7)
    other = evaluate(rank, backend, shots=3, seed=8)
    assert first["predictions"] == again["predictions"]
    assert [p["shots"] for p in first["predictions"]] != [p["shots"] for p in other["predictions"]]
    for p in first["predictions"]:
        assert p["index"] not in p["shots"] and sorted(set(p["shots"])) == sorted(p["shots"])
        assert len(p["shots"]) == 3 and p["shots_used"] == 3   # 4 examples, one excluded
    assert first["metrics"] == {"accuracy": 1.0}
    # The prompt holds the drawn demonstrations, solved, before the question.
    examples = list(rank.eval_examples())
    prompted, indices, _, _ = build_prompts(rank, examples, 2, seed=7)
    for i, (example, drawn) in enumerate(zip(prompted, indices)):
        demos = "".join(rank.demonstration(examples[j]) + "\n\n" for j in drawn)
        assert example.prompt == demos + examples[i].prompt


def test_shots_that_do_not_fit_are_dropped_and_counted(tasks):
    rank, qa = tasks
    backend = ArithmeticBackend()
    # The question and its continuation are 3 words ("Q: 2+3\nA:" + " 5"); every
    # demonstration adds 4 ("Q: 4+1\nA: 5\n\n"): 8 leaves room for one of the two.
    result = evaluate(rank, backend, shots=2, max_tokens=8)
    assert [p["shots_used"] for p in result["predictions"]] == [1] * 4
    assert result["shots_dropped"] == 4 and result["metrics"] == {"accuracy": 1.0}
    assert evaluate(rank, backend, shots=2, max_tokens=100)["shots_dropped"] == 0
    with pytest.raises(ValueError, match="zero-shot only"):
        evaluate(dataclasses.replace(rank, few_shot_split=None), backend, shots=1)


def test_format_table_has_a_column_per_shot_count_and_averages(tasks):
    results = evaluate_all(tasks, ArithmeticBackend(wrong=True), [0, 1])
    table = format_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["task", "metric", "0-shot", "1-shot"]
    assert any(l.split()[:2] == ["mine/arith_rank", "accuracy"] for l in lines)
    assert any(l.startswith("mine/arith_qa") and l.split()[1] == "exact_match" for l in lines)
    assert "Custom (2)" in table
    # rank: 0%, qa: 100% (generation ignores `wrong`) -> 50% on average.
    overall = next(l for l in lines if l.startswith("Overall (2)")).split()
    assert overall[-2:] == ["50.0", "50.0"]


@pytest.mark.slow
@pytest.mark.parametrize("beam", [False, True], ids=["greedy", "beam"])
def test_task_file_scores_equal_in_process_and_through_the_saved_model(
        tmp_path, eval_model_dir, eval_export_dir, beam):
    from glam_tf.evaluation.backends import ModelDirBackend, SavedModelBackend

    tasks = [load_task_file(p) for p in write_tasks(tmp_path)]
    in_process = ModelDirBackend(eval_model_dir, batch_size=EXPORT_MAX_BATCH, beam=beam)
    exported = SavedModelBackend(eval_export_dir, batch_size=EXPORT_MAX_BATCH,
                                 max_length=in_process.max_length,
                                 max_new_tokens=EXPORT_MAX_NEW_TOKENS, beam=beam)
    a = evaluate_all(tasks, in_process, [0, 1], seed=3)
    b = evaluate_all(tasks, exported, [0, 1], seed=3)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert (x["task"], x["shots"], x["num_examples"]) == (y["task"], y["shots"], 4)
        assert x["shots_dropped"] == y["shots_dropped"] == 0
        for p, q in zip(x["predictions"], y["predictions"]):
            assert p["shots"] == q["shots"] and p["prediction"] == q["prediction"]
            if x["kind"] == "rank":
                np.testing.assert_allclose(p["log_likelihoods"], q["log_likelihoods"],
                                           rtol=1e-4, atol=1e-4)
                assert p["num_tokens"] == q["num_tokens"] and min(p["num_tokens"]) >= 1
            else:
                assert p["output"] == q["output"]
        assert x["metrics"] == pytest.approx(y["metrics"])
    assert {r["kind"] for r in a} == {"rank", "generate"}
    assert all(0.0 <= v <= 1.0 for r in a for v in r["metrics"].values())


def _max_seq_len(model_dir):
    from glam_tf.export.exporter import read_model_dir

    return read_model_dir(model_dir)[0].max_seq_len


def _assert_same_results(a, b):
    assert [(r["task"], r["shots"]) for r in a] == [(r["task"], r["shots"]) for r in b]
    for x, y in zip(a, b):
        for p, q in zip(x["predictions"], y["predictions"]):
            assert p["prediction"] == q["prediction"]
            if x["kind"] == "rank":
                np.testing.assert_allclose(p["log_likelihoods"], q["log_likelihoods"],
                                           rtol=1e-4, atol=1e-4)
                assert p["num_tokens"] == q["num_tokens"]
            else:
                assert p["output"] == q["output"]
        assert x["metrics"] == pytest.approx(y["metrics"])


@pytest.mark.slow
def test_shared_prompt_scoring_equals_scoring_each_pair(tmp_path, eval_model_dir,
                                                        eval_export_dir):
    from glam_tf.evaluation.backends import ModelDirBackend, SavedModelBackend

    rank = load_task_file(write_tasks(tmp_path)[0])
    for backend in (ModelDirBackend(eval_model_dir, batch_size=EXPORT_MAX_BATCH),
                    SavedModelBackend(eval_export_dir, batch_size=EXPORT_MAX_BATCH,
                                      max_length=_max_seq_len(eval_model_dir))):
        assert backend.shares_prompts
        shared = evaluate_all([rank], backend, [0, 2], seed=1)
        backend.shares_prompts = False
        _assert_same_results(shared, evaluate_all([rank], backend, [0, 2], seed=1))


@pytest.mark.slow
def test_rest_backend_through_tf_serving_rest_equals_the_saved_model_backend(
        tmp_path, eval_model_dir, eval_export_dir):
    from loopback_serving import SessionPredictor, rest_server

    from glam_tf.evaluation.backends import RestBackend, SavedModelBackend
    from glam_tf.export.client import ServingError

    tasks = [load_task_file(p) for p in write_tasks(tmp_path)]
    tokenizer_path = os.path.join(eval_export_dir, "assets", "tokenizer.model")
    max_length = _max_seq_len(eval_model_dir)
    exported = SavedModelBackend(eval_export_dir, batch_size=EXPORT_MAX_BATCH,
                                 max_length=max_length, max_new_tokens=EXPORT_MAX_NEW_TOKENS)
    expected = evaluate_all(tasks, exported, [0, 1], seed=2)
    with rest_server(SessionPredictor(eval_export_dir), "glam") as url:
        served = RestBackend(url, "glam", batch_size=EXPORT_MAX_BATCH, max_length=max_length,
                             max_new_tokens=EXPORT_MAX_NEW_TOKENS, tokenizer_path=tokenizer_path,
                             timeout=120)
        _assert_same_results(evaluate_all(tasks, served, [0, 1], seed=2), expected)
        too_big = RestBackend(url, "glam", batch_size=EXPORT_MAX_BATCH + 1, timeout=120)
        with pytest.raises(ServingError, match="max_batch=4"):
            too_big.generate(["a"] * (EXPORT_MAX_BATCH + 1), 2)
        with pytest.raises(ServingError, match="Servable not found"):
            RestBackend(url, "other", timeout=120).generate(["a"], 2)


@pytest.mark.slow
def test_glam_eval_runs_a_task_file_and_writes_json(tmp_path, eval_model_dir):
    rank_file, qa_file = write_tasks(tmp_path / "tasks")
    output = tmp_path / "results.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run(
        [sys.executable, "-m", "glam_tf.cli", "eval", "--model_dir", str(eval_model_dir),
         "--task_file", str(rank_file), "--task_file", str(qa_file),
         "--tasks", "mine/arith_rank,mine/arith_qa", "--shots", "0,1", "--max_examples", "2",
         "--output", str(output), "--predictions", "--compare", "paper"],
        capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "0-shot" in run.stdout and "1-shot" in run.stdout and "Overall (2)" in run.stdout
    # --compare paper: the paper's columns, blank for tasks it does not have.
    header = run.stdout.splitlines()[0]
    assert header.rstrip().endswith("GPT-3 0  GPT-3 1  GPT-3 few  K"), header
    rank_row = next(l for l in run.stdout.splitlines() if l.startswith("mine/arith_rank"))
    assert len(rank_row.split()) == 4       # name, metric, two scores; paper cells blank
    saved = json.loads(output.read_text())
    assert saved["shots"] == [0, 1]
    assert [(r["task"], r["shots"]) for r in saved["results"]] == [
        ("mine/arith_rank", 0), ("mine/arith_rank", 1), ("mine/arith_qa", 0),
        ("mine/arith_qa", 1)]
    assert all(r["num_examples"] == 2 and len(r["predictions"]) == 2 for r in saved["results"])
    assert set(saved["results"][2]["metrics"]) == {"exact_match", "f1"}


@pytest.mark.slow
def test_glam_eval_scores_and_writes_the_other_tasks_when_one_has_no_scorable_example(
        tmp_path, eval_model_dir):
    rank_file, _ = write_tasks(tmp_path / "tasks")
    # The same task over the same questions, none of them labelled.
    (tmp_path / "tasks" / "unlabelled.jsonl").write_text("".join(
        json.dumps(dict(r, gold=None)) + "\n" for r in _rows()))
    spec = json.loads(rank_file.read_text())
    spec.update(name="mine/unlabelled", data="unlabelled.jsonl")
    (tmp_path / "tasks" / "unlabelled.json").write_text(json.dumps(spec))
    output = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "glam_tf.cli", "eval", "--model_dir", str(eval_model_dir),
         "--task_file", str(tmp_path / "tasks" / "unlabelled.json"), "--task_file",
         str(rank_file), "--tasks", "mine/unlabelled,mine/arith_rank", "--shots", "0",
         "--max_examples", "2", "--output", str(output)],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=120)
    assert run.returncode == 1, run.stderr[-3000:]     # incomplete, not an error (2)
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "glam eval: incomplete: 1 of 2 task and shot results have no score (n/a in the table)")
    assert next(l for l in run.stdout.splitlines()
                if l.startswith("mine/unlabelled")).split() == ["mine/unlabelled", "accuracy",
                                                                "n/a"]
    saved = json.loads(output.read_text())
    assert saved["complete"] is False
    unlabelled, scored = saved["results"]
    assert unlabelled["metrics"] == {"accuracy": None} and unlabelled["skipped"] == {
        "no_gold": 2}
    assert "all 2 skipped (2 no_gold)" in unlabelled["not_scored"]
    assert scored["not_scored"] is None and scored["num_examples"] == 2
    assert 0.0 <= scored["metrics"]["accuracy"] <= 1.0


def test_glam_eval_bad_input_exits_2(tmp_path, capsys):
    from glam_tf.cli import main

    assert main(["eval", "--model_dir", str(tmp_path / "nowhere"), "--tasks", "boolq"]) == 2
    assert main(["eval", "--model_dir", str(tmp_path), "--tasks", "no_such_task"]) == 2
    assert main(["eval", "--tasks", "boolq", "--shots", "x"]) == 2
    assert "glam eval: error" in capsys.readouterr().err
    for args, message in [
            (["--saved_model", str(tmp_path)], "--saved_model needs --max_length"),
            (["--serving_url", "http://localhost:1", "--model_name", "glam", "--max_length",
              "64"], "--serving_url needs --tokenizer"),
            (["--model_dir", str(tmp_path), "--max_length", "64"],
             "--max_length is for --saved_model/--serving_url"),
            (["--saved_model", str(tmp_path), "--max_length", "64", "--compare", "gpt4"],
             "the only comparison is 'paper'")]:
        assert main(["eval", "--tasks", "boolq"] + args) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    # An output nobody can write is refused before anything is evaluated.
    assert main(["eval", "--model_dir", str(tmp_path), "--tasks", "boolq",
                 "--output", str(tmp_path / "missing" / "r.json")]) == 2
    assert "cannot write into" in capsys.readouterr().err


def test_glam_tasks_lists_the_glam_benchmarks_and_task_files(tmp_path, capsys):
    from glam_tf.cli import main

    rank_file, _ = write_tasks(tmp_path)
    assert main(["tasks", "--task_file", str(rank_file)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "category", "kind", "metrics", "normalization",
                                "source", "splits"]
    rows = {l.split()[0]: l.split() for l in lines[2:] if l.strip() and not l.endswith(" tasks")}
    assert rows["boolq"][2:5] == ["rank", "accuracy", "token"]
    assert rows["arc_easy"][2:6] == ["rank", "accuracy", "unconditional", "('Answer:')"]
    assert rows["multirc"][2:5] == ["rank_grouped", "f1a,exact_match", "token"]
    assert rows["drop"][2:5] == ["generate_drop", "f1,exact_match", "-"]
    assert rows["mine/arith_rank"][4] == "token"
    names = set(rows)
    assert len(names) >= 30 and {"boolq", "triviaqa", "mine/arith_rank"} <= names
    assert re.search(r"^(\d+) tasks$", out, re.M) and int(
        re.search(r"^(\d+) tasks$", out, re.M).group(1)) >= 30
