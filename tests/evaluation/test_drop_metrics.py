"""DROP's F1 and EM, MultiRC's F1a, CB's macro F1: hand-computed cases, plain references."""

import functools
import random

import pytest

from glam_tf.evaluation import drop_metrics
from glam_tf.evaluation.drop_metrics import drop_metrics as drop, drop_scores, official_date
from glam_tf.evaluation.metrics import f1a, group_exact_match, macro_f1


@pytest.mark.parametrize("prediction, gold, expected", [
    ("1,000", "1000", (1.0, 1.0)),                  # numbers normalized: 1000.0 both
    ("1000.0", "1,000", (1.0, 1.0)),
    ("The Bears!", "bears", (1.0, 1.0)),             # articles, case, punctuation
    ("3 touchdowns", "3", (0.0, 0.67)),              # P 1/2, R 1 -> 0.67 (rounded, as DROP)
    ("4 touchdowns", "3 touchdowns", (0.0, 0.0)),    # gold number 3 missing -> 0
    ("well-to-do", "well to do", (1.0, 1.0)),        # hyphens split tokens
    ("", "3", (0.0, 0.0)),
])
def test_single_span_cases_computed_by_hand(prediction, gold, expected):
    assert drop_scores(prediction, gold) == expected


def test_multi_span_answers_align_bags_one_to_one():
    # Gold {Bob}, {Alice Smith}; predicted one span "Alice": best pairing Alice<->Alice Smith
    # F1 = 2*(1*0.5)/(1.5) = 0.667, averaged over max(1, 2) = 2 bags -> 0.33.
    assert drop_scores("Alice", ["Bob", "Alice Smith"]) == (0.0, 0.33)
    # Both spans, in the other order: exact match compares sets of spans.
    assert drop_scores(["Alice Smith", "Bob"], ["Bob", "Alice Smith"]) == (1.0, 1.0)
    # One span each side matched, one left over: (1 + 0) / 2.
    assert drop_scores(["Bob", "Carol"], ["Bob", "Alice"]) == (0.0, 0.5)


def test_best_exact_match_and_best_f1_are_kept_each_on_its_own_and_empty_golds_ignored():
    # "two dogs" vs gold "dogs": F1 0.67; vs gold "two cats": F1 0.5. No EM anywhere.
    assert drop("two dogs", ["", "dogs", "two cats"]) == {"exact_match": 0.0, "f1": 0.67}
    assert drop("dogs", ["dogs", "two dogs"]) == {"exact_match": 1.0, "f1": 1.0}
    with pytest.raises(ValueError, match="no non-empty gold answer"):
        drop("dogs", ["", " "])


def test_tfds_dates_are_written_day_month_year_as_the_official_script_does():
    assert official_date("1990-March-15") == "15 March 1990"
    assert official_date("1990--15") == "15  1990"        # no month: " ".join, then strip
    assert official_date("well-to-do") == "well-to-do"     # not a date
    assert official_date("1990") == "1990"
    # Exact match depends on the order; F1 (bags) does not.
    assert drop_scores("15 March 1990", "1990-March-15") == (0.0, 1.0)
    assert drop_scores("15 March 1990", official_date("1990-March-15")) == (1.0, 1.0)


def _reference_alignment(scores):
    """Max-sum one-to-one assignment by DP over subsets of columns (independent of the
    module's permutation search); scores[i][j] for gold i, predicted j."""
    rows, cols = len(scores), len(scores[0])

    @functools.lru_cache(maxsize=None)
    def best(i, used):
        if i == rows:
            return 0.0
        options = [best(i + 1, used)]  # gold i left unmatched
        options += [scores[i][j] + best(i + 1, used | 1 << j)
                    for j in range(cols) if not used & 1 << j]
        return max(options)

    return best(0, 0)


def test_alignment_equals_a_plain_subset_dp_on_random_bags():
    rng = random.Random(0)
    words = ["a1", "b", "c", "d", "e", "7", "8"]
    for _ in range(200):
        gold = [set(rng.sample(words, rng.randint(1, 3))) for _ in range(rng.randint(1, 4))]
        pred = [set(rng.sample(words, rng.randint(1, 3))) for _ in range(rng.randint(1, 4))]
        scores = [[drop_metrics._pair_score(p, g) for p in pred] for g in gold]
        expected = _reference_alignment(scores) / max(len(gold), len(pred))
        assert drop_metrics._aligned_f1(pred, gold) == pytest.approx(expected)


def test_f1a_and_group_exact_match_by_hand_and_against_a_confusion_matrix():
    predicted, gold = [1, 0, 0, 0, 1, 1], [1, 0, 1, 0, 1, 0]
    assert f1a(predicted, gold) == pytest.approx(2 / 3)    # tp 2, fp 1, fn 1
    assert f1a([0, 0], [0, 0]) == 0.0
    assert group_exact_match(["q1", "q1", "q2", "q3"], [True, False, True, True]) == 2 / 3
    rng = random.Random(1)
    for _ in range(100):
        n = rng.randint(1, 12)
        p = [rng.randint(0, 1) for _ in range(n)]
        g = [rng.randint(0, 1) for _ in range(n)]
        tp = sum(a and b for a, b in zip(p, g))
        fp = sum(a and not b for a, b in zip(p, g))
        fn = sum(b and not a for a, b in zip(p, g))
        assert f1a(p, g) == pytest.approx(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))


def test_macro_f1_is_the_mean_of_each_present_classs_f1():
    # CB-like, 3 classes. Class 0: tp 2, fp 1, fn 0 -> 0.8; class 1: tp 1, fp 0, fn 1
    # -> 0.667; class 2: tp 0 -> 0. Mean 0.489.
    predicted, gold = [0, 0, 0, 1, 2], [0, 0, 2, 1, 1]
    assert macro_f1(predicted, gold) == pytest.approx((0.8 + 2 / 3 + 0.0) / 3)
    assert macro_f1([1, 1], [1, 1]) == 1.0        # only class 1 present
