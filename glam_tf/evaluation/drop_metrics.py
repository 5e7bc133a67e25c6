"""DROP's own exact match and F1, as its official evaluation script defines them.

An answer is a tuple of spans (one for a number, a date or a single span;
several for a multi-span answer). Each span is normalized token by token
(tokens split at spaces and hyphens; lower case; punctuation removed unless
the token is a number; numbers written as floats, so "1,000", "1000" and
"1000.0" are alike; articles removed) and becomes a bag (set) of tokens. Exact match compares
the normalized spans as sets; F1 aligns predicted and gold bags one to one
so as to maximise their summed F1 (a bag pair whose gold holds numbers none
of which the prediction holds scores 0) and averages over the larger number
of bags. Over several gold answers the best exact match and the best F1 are
kept, each on its own; a gold answer whose first span is empty is ignored,
and an example with no other gold is not scored (the official script counts
it as 0; see docs/evaluation.md).
"""

from __future__ import annotations

import itertools
import re
import string
from typing import Sequence, Union

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
# TFDS drop:2.0.0 writes a date answer as "year-month-day"; the official
# script writes it "day month year".
_TFDS_DATE = re.compile(r"^(\d{1,4})-([A-Za-z]*)-(\d{1,2})$")

Answer = Union[str, Sequence[str]]


def official_date(text: str) -> str:
    """A TFDS "1990-March-15" date as DROP's script writes it ("15 March 1990"); else `text`.

    (TFDS's `drop` builder writes only dates with a day, so this form always has one.)
    """
    match = _TFDS_DATE.match(text.strip())
    if match is None:
        return text
    year, month, day = match.groups()
    return " ".join([day, month, year]).strip()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _normalize_token(token: str) -> str:
    # The script's order: lower case, punctuation (kept in numbers), numbers, articles.
    token = token.lower()
    if not _is_number(token):
        token = "".join(ch for ch in token if ch not in _PUNCTUATION)
    if _is_number(token):
        token = str(float(token))
    return " ".join(_ARTICLES.sub(" ", token).split())


def normalize_span(text: str) -> str:
    parts = (_normalize_token(t) for t in re.split(" |-", text))
    return " ".join(p for p in parts if p.strip()).strip()


def _spans(answer: Answer) -> tuple[str, ...]:
    return (answer,) if isinstance(answer, str) else tuple(answer)


def _bags(answer: Answer):
    normalized = [normalize_span(s) for s in _spans(answer)]
    return normalized, [set(n.split()) for n in normalized]


def _bag_f1(predicted: set, gold: set) -> float:
    overlap = len(predicted & gold)
    precision = overlap / len(predicted) if predicted else 1.0
    recall = overlap / len(gold) if gold else 1.0
    if precision == 0.0 and recall == 0.0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _numbers(bag: set) -> set:
    return {t for t in bag if _is_number(t)}


def _pair_score(predicted: set, gold: set) -> float:
    gold_numbers = _numbers(gold)
    if gold_numbers and not gold_numbers & _numbers(predicted):
        return 0.0
    return _bag_f1(predicted, gold)


def _aligned_f1(predicted: list, gold: list) -> float:
    """Mean over max(len) bags of the one-to-one alignment with the largest summed F1."""
    small, large, flip = (predicted, gold, False) if len(predicted) <= len(gold) else (
        gold, predicted, True)
    best = 0.0
    # Answers have a handful of spans: every injection of the smaller side is cheap.
    for chosen in itertools.permutations(range(len(large)), len(small)):
        total = sum(_pair_score(*((large[j], s) if flip else (s, large[j])))
                    for s, j in zip(small, chosen))
        best = max(best, total)
    return best / max(len(predicted), len(gold))


def drop_scores(prediction: Answer, gold: Answer) -> tuple[float, float]:
    """(exact match, F1) of one prediction against one gold answer (see the module doc)."""
    predicted_spans, predicted_bags = _bags(prediction)
    gold_spans, gold_bags = _bags(gold)
    exact = float(set(predicted_spans) == set(gold_spans)
                  and len(predicted_spans) == len(gold_spans))
    return exact, round(_aligned_f1(predicted_bags, gold_bags), 2)


def usable_golds(answers: Sequence[Answer]) -> list:
    """The gold answers the official script compares with (those whose first span is not empty)."""
    return [a for a in answers if _spans(a) and _spans(a)[0].strip()]


def drop_metrics(prediction: Answer, answers: Sequence[Answer]) -> dict:
    """{"exact_match", "f1"}: each the best over the non-empty gold answers.

    Raises ValueError when every gold answer is empty (the caller skips the example).
    """
    golds = usable_golds(answers)
    if not golds:
        raise ValueError("no non-empty gold answer to compare with")
    scores = [drop_scores(prediction, g) for g in golds]
    return {"exact_match": max(s[0] for s in scores), "f1": max(s[1] for s in scores)}
