import pytest

from glam_tf.evaluation.metrics import (exact_match, f1, normalize_answer,
                                        postprocess_generation)


@pytest.mark.parametrize("text, expected", [
    ("The Cat", "cat"),
    ("Hello,   World!", "hello world"),
    ("an apple a day", "apple day"),
    ("another theory", "another theory"),          # articles only as whole words
    ("  The  ", ""),
])
def test_normalize_answer_follows_the_squad_script(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_punctuation_and_articles():
    assert exact_match("The Cat", ["cat"]) == 1.0
    assert exact_match("Denver Broncos.", ["denver broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0


def test_exact_match_takes_the_best_gold_answer():
    assert exact_match("Broncos", ["Denver Broncos", "the Broncos"]) == 1.0


@pytest.mark.parametrize("prediction, answers, expected", [
    ("the big cat", ["a cat sat"], 0.5),                # "big cat" vs "cat sat": P=R=1/2
    ("cat", ["the cat sat on the mat"], 0.4),           # P=1, R=1/4
    ("the the cat cat", ["cat"], 2 / 3),                # repeated tokens count once each
    ("Denver", ["Denver Broncos", "Broncos"], 2 / 3),   # best of 2/3 and 0
    ("Denver Broncos", ["Broncos", "Denver Broncos"], 1.0),
    ("dog", ["cat"], 0.0),
])
def test_f1_on_hand_computed_cases(prediction, answers, expected):
    assert f1(prediction, answers) == pytest.approx(expected)


def test_empty_prediction_and_empty_gold_count_as_right_and_one_empty_as_wrong():
    for metric in (exact_match, f1):
        assert metric("", [""]) == 1.0
        assert metric("The.", [""]) == 1.0       # normalizes to empty
        assert metric("Paris", [""]) == 0.0
        assert metric("", ["Paris"]) == 0.0


def test_no_answer_makes_an_empty_prediction_count_as_that_text():
    assert exact_match("", ["unanswerable"], no_answer="unanswerable") == 1.0
    assert f1("  ", ["unanswerable"], no_answer="unanswerable") == 1.0
    assert exact_match("", ["unanswerable"]) == 0.0
    assert f1("Paris", ["unanswerable"], no_answer="unanswerable") == 0.0


def test_metrics_refuse_missing_gold_answers():
    with pytest.raises(ValueError, match="no gold answers"):
        f1("x", [])
    with pytest.raises(TypeError):
        exact_match("x", "x")


@pytest.mark.parametrize("text, stops, expected", [
    ("  Paris\n\nQ: next question", ("\n",), "Paris"),
    (" a. b\nc", ("\n", "."), "a"),               # the earliest stop wins, not the first listed
    ("\n\n Paris  ", ("\n",), ""),               # an immediate newline: the empty answer
    ("\t \nParis", ("\n",), ""),                 # ... after spaces and tabs too
    ("\n\n Paris  ", (), "Paris"),               # without stops the text is stripped
    (" no stop here ", ("Q:",), "no stop here"),
    (" Paris", (), "Paris"),
])
def test_postprocess_generation_cuts_at_the_first_stop_sequence(text, stops, expected):
    assert postprocess_generation(text, stops) == expected
