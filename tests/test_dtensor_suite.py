"""Runs tests/dtensor in a process of its own (8 virtual CPU devices)."""

import os
import re
import subprocess
import sys
from pathlib import Path


def test_dtensor_suite_passes_in_its_own_process():
    root = Path(__file__).parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/dtensor"],
        cwd=root, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "GLAM_DTENSOR_SUITE": "1"})
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 8 and "failed" not in summary, summary
