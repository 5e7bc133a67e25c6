"""benchmarks/quickstart_icl.py's claim lines, from a hand-made eval/results.json."""

import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

from quickstart_icl import claim_lines  # noqa: E402
from ratios import parse_ratio_line  # noqa: E402


def _results(scores):
    return {"shots": [0, 1, 4],
            "chance": {"quickstart/successor": 0.25, "quickstart/lookup": 0.25,
                       "quickstart/successor_gen": 0.06},
            "results": [{"task": t, "shots": k, "metrics": {"accuracy": v}}
                        for (t, k), v in scores.items()]}


def test_points_above_chance_and_the_lookup_gain_with_their_verdicts():
    lines = claim_lines(_results({
        ("quickstart/successor", 0): 0.70, ("quickstart/successor", 1): 0.65,
        ("quickstart/successor", 4): 0.60, ("quickstart/lookup", 0): 0.30,
        ("quickstart/lookup", 1): 0.35, ("quickstart/lookup", 4): 0.40,
        ("quickstart/successor_gen", 0): 0.10, ("quickstart/successor_gen", 1): 0.16,
        ("quickstart/successor_gen", 4): 0.12}))
    points = [line for line in lines if " points (target" in line]
    assert points == [
        "quickstart_icl[successor] best - chance = +45.0 points (target >= 15) MET; "
        "70.0% at 0 shots, chance 25.0%",
        "quickstart_icl[lookup] best - chance = +15.0 points (target >= 15) MET; "
        "40.0% at 4 shots, chance 25.0%",
        "quickstart_icl[successor_gen] best - chance = +10.0 points (target >= 15) NOT MET; "
        "16.0% at 1 shots, chance 6.0%",
        "quickstart_icl[lookup] 4-shot - 0-shot = +10.0 points (target >= 15) NOT MET; "
        "30.0% -> 40.0%"]
    ratios = [parse_ratio_line(line) for line in lines if line not in points]
    assert [(r["ratio"], r["verdict"]) for r in ratios] == [
        (3.0, "MET"), (1.0, "MET"), (pytest.approx(10 / 15, abs=0.001), "NOT MET"),
        (pytest.approx(10 / 15, abs=0.001), "NOT MET")]
