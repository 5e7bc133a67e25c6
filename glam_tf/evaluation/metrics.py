"""Generation metrics: SQuAD-style exact match and token F1, and output post-processing.

Normalization follows the official SQuAD v1.1/v2.0 evaluation script: lower
case, drop ASCII punctuation, drop the articles a/an/the, collapse
whitespace. Both metrics take the best score over the gold answers.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Optional, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-cases, removes punctuation and articles, and collapses whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _gold(answers: Sequence[str]) -> Sequence[str]:
    if isinstance(answers, str):
        raise TypeError(f"answers must be a sequence of str, not the str {answers!r}")
    if not answers:
        raise ValueError("no gold answers to compare with (is the split unlabelled?)")
    return answers


def _prediction(prediction: str, no_answer: Optional[str]) -> str:
    # Task.no_answer: an empty prediction means "unanswerable" too.
    if no_answer is not None and not normalize_answer(prediction):
        return no_answer
    return prediction


def exact_match(prediction: str, answers: Sequence[str], no_answer: Optional[str] = None
                ) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer, else 0.0.

    `no_answer` (Task.no_answer): the gold text of an unanswerable question;
    an empty prediction counts as that text.
    """
    prediction = normalize_answer(_prediction(prediction, no_answer))
    return max(float(prediction == normalize_answer(a)) for a in _gold(answers))


def _f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    if not prediction_tokens or not gold_tokens:
        # SQuAD v2: both empty (no answer predicted, none expected) is right.
        return float(prediction_tokens == gold_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, answers: Sequence[str], no_answer: Optional[str] = None) -> float:
    """Token-level F1 of the normalized texts, best over the gold answers.

    Both empty gives 1.0 and exactly one empty 0.0, so a gold "" scores an
    empty prediction as right (SQuAD v2). `no_answer` as in `exact_match`.
    """
    tokens = normalize_answer(_prediction(prediction, no_answer)).split()
    return max(_f1(tokens, normalize_answer(a).split()) for a in _gold(answers))


def postprocess_generation(text: str, stop_sequences: Sequence[str] = ()) -> str:
    """Decoded text -> answer: skip leading spaces, cut at the first stop sequence, strip.

    "First" is the earliest position in the text over all stop sequences
    (not the first sequence in the list that occurs). Only spaces and tabs
    are skipped: a newline the model writes at once ends the answer there, as
    in GPT-3's protocol, so that "\n" is the empty answer (SQuADv2's and
    QuAC's abstention), not the line after it.
    """
    text = text.lstrip(" \t")
    cut = len(text)
    for stop in stop_sequences:
        if not stop:
            raise ValueError("stop sequences must be non-empty")
        position = text.find(stop)
        if position != -1:
            cut = min(cut, position)
    return text[:cut].strip()


def f1a(predicted: Sequence[int], gold: Sequence[int], positive: int = 1) -> float:
    """Binary F1 of the `positive` class over every answer-option (SuperGLUE MultiRC's F1a).

    No positive predicted and none gold gives 0.0 (scikit-learn's f1_score, which
    SuperGLUE uses, does the same, with a warning).
    """
    if len(predicted) != len(gold) or not gold:
        raise ValueError(f"f1a needs as many predictions ({len(predicted)}) as gold labels "
                         f"({len(gold)}), at least one")
    true_positive = sum(p == positive and g == positive for p, g in zip(predicted, gold))
    predicted_positive = sum(p == positive for p in predicted)
    gold_positive = sum(g == positive for g in gold)
    if true_positive == 0:
        return 0.0
    precision, recall = true_positive / predicted_positive, true_positive / gold_positive
    return 2 * precision * recall / (precision + recall)


def group_exact_match(groups: Sequence, correct: Sequence[bool]) -> float:
    """Fraction of groups (MultiRC questions) whose every member is correct."""
    if len(groups) != len(correct) or not groups:
        raise ValueError(f"group_exact_match needs as many groups ({len(groups)}) as "
                         f"results ({len(correct)}), at least one")
    verdict = {}
    for group, ok in zip(groups, correct):
        verdict[group] = verdict.get(group, True) and bool(ok)
    return sum(verdict.values()) / len(verdict)


def macro_f1(predicted: Sequence[int], gold: Sequence[int]) -> float:
    """The unweighted mean of each class's F1 (SuperGLUE CB's F1).

    Over the classes that are predicted or gold at least once, as scikit-learn's
    f1_score(average="macro"), which SuperGLUE uses.
    """
    if len(predicted) != len(gold) or not gold:
        raise ValueError(f"macro_f1 needs as many predictions ({len(predicted)}) as gold "
                         f"labels ({len(gold)}), at least one")
    classes = sorted(set(predicted) | set(gold))
    return sum(f1a(predicted, gold, positive=c) for c in classes) / len(classes)
