"""Real PIQA, COPA, BoolQ and WinoGrande examples, prepared by the real TFDS builders.

`real_samples` (conftest.py) runs each task's own builder on the release files
in tests/data/real_samples/ with only the download replaced; the tasks then
read the prepared data through their TfdsSource, as `glam eval` does. Each
expectation below is rebuilt from the release files themselves (JSON Lines,
PIQA's label list), not from the formatters: the prompt GPT-3 shows, the gold
candidate, and the choice each normalization rule makes under a fixed
word-level score.
"""

import collections
import dataclasses
import json
import os

import numpy as np
import pytest

from offline_tfds import REAL_SAMPLE_FOLDERS, REAL_SAMPLES
from glam_tf.evaluation.evaluator import evaluate
from glam_tf.evaluation.backends import Backend
from glam_tf.tasks import REGISTRY

def _lines(folder, name):
    with open(os.path.join(REAL_SAMPLES, REAL_SAMPLE_FOLDERS[folder], name)) as f:
        return [json.loads(line) for line in f if line.strip()]


# -- each task's examples as its release files give them: (contexts, continuations, label) --

def _piqa(split="dev"):
    records = _lines("piqa", f"physicaliqa-train-dev/{split}.jsonl")
    with open(os.path.join(REAL_SAMPLES, "piqa", f"physicaliqa-train-dev/{split}-labels.lst")) as f:
        labels = [int(line) for line in f if line.strip()]
    assert len(records) == len(labels)
    return [((r["goal"].strip(),) * 2, (" " + r["sol1"].strip(), " " + r["sol2"].strip()), y)
            for r, y in zip(records, labels)]


def _boolq(split="val"):
    return [((f"{r['passage']}\nquestion: {r['question']}?\nanswer:",) * 2, (" no", " yes"),
             int(r["label"]) if "label" in r else None)
            for r in _lines("boolq", f"BoolQ/{split}.jsonl")]


def _copa(split="val"):
    out = []
    for r in _lines("copa", f"COPA/{split}.jsonl"):
        connector = {"cause": " because", "effect": " therefore"}[r["question"]]
        prompt = r["premise"].rstrip(".") + connector
        choices = tuple(" " + c[0].lower() + c[1:] for c in (r["choice1"], r["choice2"]))
        out.append(((prompt,) * 2, choices, r["label"]))
    return out


def _winogrande(split="dev"):
    out = []
    for r in _lines("winogrande", f"winogrande_1.1/{split}.jsonl"):
        before, after = r["sentence"].split("_")
        out.append(((before + r["option1"], before + r["option2"]), (" " + after.strip(),) * 2,
                    int(r["answer"]) - 1))
    return out


RELEASE = {"piqa": _piqa, "boolq": _boolq, "copa": _copa, "winogrande": _winogrande}


def _task(name, data_dir, **fields):
    task = REGISTRY.get(name)
    source = dataclasses.replace(task.source, data_dir=data_dir)
    return dataclasses.replace(task, source=source, **fields)


def _as_released(formatted):
    contexts, continuations = zip(*formatted.pairs())
    return contexts, continuations, formatted.label


@pytest.mark.parametrize("name", sorted(RELEASE))
def test_real_examples_load_with_the_release_files_prompts_and_labels(name, real_samples):
    task = _task(name, real_samples)
    loaded, released = [_as_released(f) for f in task.eval_examples()], RELEASE[name]()
    # TFDS shuffles examples when it prepares them: compare as multisets.
    assert len(loaded) == len(released) >= 50
    assert collections.Counter(loaded) == collections.Counter(released)


def test_tfds_does_not_keep_the_release_order(real_samples):
    # Why QuAC's history is read from its release files (docs/evaluation.md).
    loaded = [_as_released(f) for f in _task("piqa", real_samples).eval_examples()]
    assert sorted(loaded) == sorted(_piqa()) and loaded != _piqa()


# The release file of each task's few-shot split (its TFDS split "train").
SHOT_FILES = {"piqa": "train", "boolq": "train", "copa": "train", "winogrande": "train_xl"}


@pytest.mark.parametrize("name", sorted(RELEASE))
def test_real_shots_show_the_gold_answer_of_their_release_file(name, real_samples):
    task = _task(name, real_samples)
    gold = {example[:2]: example[2] for example in RELEASE[name](SHOT_FILES[name])}
    shots = list(task.few_shot_examples())[:2]
    [example] = list(task.eval_examples())[:1]
    prompted = task.with_shots(example, shots)
    demos = ""
    for contexts, continuations, _ in map(_as_released, shots):
        label = gold[(contexts, continuations)]
        demos += contexts[label] + continuations[label] + task.shot_separator
    assert all(context.startswith(demos) for context, _ in prompted.pairs())
    assert [c[len(demos):] for c, _ in prompted.pairs()] == [c for c, _ in example.pairs()]


def test_hidden_test_labels_stay_hidden(real_samples):
    test = list(_task("boolq", real_samples).formatted("test"))
    assert test and all(f.label is None for f in test)


# -- scoring rules on the real examples -------------------------------------------------------

def _word_log_likelihood(context: str, word: str) -> float:
    """A fixed stand-in for log P(word | context): cheaper for words the context holds."""
    base = -1.0 - sum(map(ord, word)) % 7
    return base + (2.5 if word.lower().strip(".,!?") in context.lower().split() else 0.0)


def _score(context, continuation):
    words = continuation.split()
    return sum(_word_log_likelihood(context, w) for w in words), len(words)


class _WordBackend(Backend):
    """Scores a continuation word by word with `_word_log_likelihood` (a word is a token)."""

    batch_size = 16

    def _score_batch(self, contexts, continuations):
        pairs = [_score(c, t) for c, t in zip(contexts, continuations)]
        return [p[0] for p in pairs], [p[1] for p in pairs]


RULES = {"unnormalized": dict(normalization="sum", unconditional_context=None),
         "per_token": dict(normalization="token", unconditional_context=None),
         "unconditional": dict(normalization="unconditional", unconditional_context="Answer:")}


def _reference_choice(contexts, continuations, rule) -> int:
    """The candidate a rule picks, computed with a plain loop (first of ties)."""
    scores = []
    for context, continuation in zip(contexts, continuations):
        ll, n = _score(context, continuation)
        if rule == "per_token":
            ll /= n
        elif rule == "unconditional":
            ll -= _score("Answer:", continuation)[0]
        scores.append(ll)
    return scores.index(max(scores))


@pytest.mark.parametrize("name", sorted(RELEASE))
def test_each_normalization_rule_picks_what_a_plain_loop_picks(name, real_samples):
    chosen = {}
    for rule, fields in RULES.items():
        task = _task(name, real_samples, **fields)
        result = evaluate(task, _WordBackend(), shots=0)
        got = collections.Counter(
            (_as_released(f), p["prediction"])
            for f, p in zip(task.eval_examples(), result["predictions"]))
        want = collections.Counter(
            (example, _reference_choice(*example[:2], rule)) for example in RELEASE[name]())
        assert got == want, rule
        correct = [choice == example[2] for example, choice in want.elements()]
        assert result["metrics"]["accuracy"] == pytest.approx(np.mean(correct)), rule
        chosen[rule] = sorted(want.elements())
    # The rules disagree somewhere, or this test could not tell them apart; but
    # under partial scoring (one continuation for all candidates) they cannot.
    partial = all(len(set(example[1])) == 1 for example in RELEASE[name]())
    assert (len({tuple(map(tuple, c)) for c in chosen.values()}) == 1) == partial


# -- glam eval on the prepared data -----------------------------------------------------------

# Some real PIQA and BoolQ examples are longer than the test model's 128 tokens:
# contexts are cut, over-long candidates skipped and counted, the run goes on.
GLAM_EVAL_TASKS = ("boolq", "copa", "piqa", "winogrande")


def test_glam_eval_scores_every_real_example_with_a_trained_model(real_samples, trained_model_dir,
                                                                 tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from glam_tf.cli import main

    monkeypatch.setattr(tfds.core.constants, "DATA_DIR", real_samples)  # TFDS's default
    output = tmp_path / "results.json"
    assert main(["eval", "--model_dir", str(trained_model_dir), "--tasks",
                 ",".join(GLAM_EVAL_TASKS), "--shots", "1", "--batch_size", "32",
                 "--output", str(output), "--predictions"]) == 0
    results = json.loads(output.read_text())["results"]
    assert [(r["task"], r["shots"]) for r in results] == [
        (name, 1) for name in GLAM_EVAL_TASKS]
    for r in results:
        labels = [example[2] for example in RELEASE[r["task"]]()]
        assert len(r["predictions"]) == len(labels)
        assert r["num_examples"] + sum(r["skipped"].values()) == len(labels)
        scored = [p for p in r["predictions"] if "skipped" not in p]
        assert len(scored) == r["num_examples"] > 0
        assert all(p["correct"] == (p["prediction"] == p["label"]) for p in scored)
        assert r["metrics"]["accuracy"] == pytest.approx(np.mean([p["correct"] for p in scored]))
