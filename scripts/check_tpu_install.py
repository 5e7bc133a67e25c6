#!/usr/bin/env python
"""Resolves the Cloud TPU VM install with pip, installing nothing, and checks it.

The install (docs/sharding.md, "On Cloud TPU") has two steps:
  pip install -r install/tpu.txt
  pip install --no-deps -r install/tpu-no-deps.txt -e .
This script resolves both with `pip install --dry-run --ignore-installed
--report` (it needs PyPI) and checks what they install together: exactly one
TensorFlow distribution; tensorflow-text and tensorflow-serving-api on its
major.minor; and every requirement of every package met, where a requirement
on any TensorFlow distribution is met by the one installed (that is what
step 2's --no-deps stands in for). Prints PASS or FAIL with the reasons; exit
status 0 or 1.

  python3.10 scripts/check_tpu_install.py   # with the TPU VM's Python

It resolves for the Python that runs it (pip's --python-version would need
wheels only, and tensorflow-datasets needs `promise`, which has none).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:  # not installed: pip carries its own copy
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_1 = ["-r", os.path.join(ROOT, "install", "tpu.txt")]
# pip needs the project's own path for -e: "." would be the caller's directory.
STEP_2 = ["--no-deps", "-r", os.path.join(ROOT, "install", "tpu-no-deps.txt"), "-e", ROOT]

# Distributions that each install the `tensorflow` Python package.
TF_DISTRIBUTIONS = {
    "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-tpu", "tensorflow-intel",
    "tensorflow-macos", "tensorflow-aarch64", "tensorflow-cpu-aws", "tensorflow-rocm",
    "intel-tensorflow", "tf-nightly", "tf-nightly-cpu", "tf-nightly-gpu", "tf-nightly-tpu"}
SAME_MINOR = ("tensorflow-text", "tensorflow-serving-api")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def merge(*reports: dict) -> dict:
    """One report of several steps' installs (the environment is the first's)."""
    return {"environment": reports[0].get("environment"),
            "install": [item for report in reports for item in report["install"]]}


def check_report(report: dict) -> tuple:
    """(problems, {canonical name: version}) of a pip install report.

    report: pip's `--report` JSON as a dict: {"install": [{"metadata": {"name",
    "version", "requires_dist"}}, ...], "environment": {marker values}}.
    """
    problems, versions, metadata = [], {}, {}
    for item in report["install"]:
        meta = item["metadata"]
        name, version = canonical(meta["name"]), meta["version"]
        if name in versions and versions[name] != version:
            problems.append(f"{name} is installed twice: {versions[name]} and {version}")
        versions[name], metadata[name] = version, meta
    tensorflows = sorted(name for name in versions if name in TF_DISTRIBUTIONS)
    if len(tensorflows) != 1:
        found = ", ".join(f"{n} {versions[n]}" for n in tensorflows) or "none"
        problems.append(f"expected exactly one TensorFlow distribution, found {found}")
    # With one TensorFlow, it stands in for any other; with several, names are taken as read.
    the_tf = tensorflows[0] if len(tensorflows) == 1 else None
    if the_tf:
        tf_minor = Version(versions[the_tf]).release[:2]
        for name in SAME_MINOR:
            if name not in versions:
                problems.append(f"{name} is not installed")
            elif Version(versions[name]).release[:2] != tf_minor:
                problems.append(f"{name} {versions[name]} is not on the major.minor of "
                                f"{the_tf} {versions[the_tf]}")
    environment = {**default_environment(), **(report.get("environment") or {}), "extra": ""}
    for name, meta in metadata.items():
        for text in meta.get("requires_dist") or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            wanted = canonical(requirement.name)
            if wanted in TF_DISTRIBUTIONS and the_tf:
                wanted = the_tf
            if wanted not in versions:
                problems.append(f"{name} requires {text}: {requirement.name} is not installed")
            elif not requirement.specifier.contains(versions[wanted], prereleases=True):
                problems.append(f"{name} requires {text}: {wanted} {versions[wanted]} does not "
                                f"satisfy it")
    return problems, versions


def resolve(args: list) -> dict:
    """pip's dry-run report of `pip install ARGS` into an empty environment."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--quiet", "--report", path, *args]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"FAIL: pip could not resolve {' '.join(args)}:\n{result.stderr[-3000:]}")
        with open(path) as f:
            return json.load(f)


def main() -> int:
    report = merge(resolve(STEP_1), resolve(STEP_2))
    problems, versions = check_report(report)
    python = ".".join(map(str, sys.version_info[:3]))
    tensorflows = [n for n in versions if n in TF_DISTRIBUTIONS]
    print(f"TPU install resolved for Python {python}: {len(versions)} distributions")
    for name in tensorflows + [n for n in (*SAME_MINOR, "keras", "glam-tf") if n in versions]:
        print(f"  {name} {versions[name]}")
    for problem in problems:
        print(f"  problem: {problem}")
    print("FAIL" if problems else "PASS: one TensorFlow distribution, tensorflow-text and "
          "tensorflow-serving-api on its major.minor, every requirement met")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
