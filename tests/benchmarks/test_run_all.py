"""benchmarks/run_all.py --quick on this environment: every line it prints is a ratio line.

Not a timing test: it checks that the runner and the scripts run end to end
at toy sizes and print parseable, positive, finite ratios. The anchors'
environment is not needed (--no-anchors), as in CI.
"""

import math
import os
import subprocess
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

from ratios import parse_ratio_line  # noqa: E402


@pytest.mark.slow
def test_quick_run_prints_positive_finite_ratio_lines(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "run_all.py"), "--quick", "--no-anchors",
         "--items", "1,2,4,5", "--log_dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    parsed = [parse_ratio_line(line) for line in lines]
    assert all(parsed), lines
    figures = {(p["figure"], p["num"], p["den"]) for p in parsed}
    assert ("moe_layer[tiny]", "gather", "dense_equivalent") in figures
    assert ("moe_layer[tiny]", "einsum", "dense_equivalent") in figures
    assert ("mfu[glam_tiny]", "achieved_flops", "matmul_peak") in figures
    assert any(p["figure"].startswith("decode[glam_tiny") for p in parsed)
    assert ("compiled_steps[glam_tiny,xla,N=2]", "tokens_per_s",
            "tokens_per_s[plain,N=1]") in figures
    assert ("compiled_steps[moe_layer_tiny,plain,N=2]", "tokens_per_s",
            "tokens_per_s[plain,N=1]") in figures
    for p in parsed:
        assert math.isfinite(p["ratio"]) and p["ratio"] > 0, p
    assert sorted(os.listdir(tmp_path)) == ["item1_compare_moe.log", "item2_train_throughput.log",
                                             "item4_decode.log", "item5_compiled_steps.log"]


@pytest.mark.parametrize("items", ["9", "1,x", ","])
def test_an_unknown_or_empty_item_is_refused_in_one_line_before_anything_runs(items, tmp_path):
    log_dir = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "run_all.py"), "--items", items,
         "--log_dir", str(log_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("run_all.py: error: --items")
    assert "Traceback" not in result.stderr
    assert not log_dir.exists()
