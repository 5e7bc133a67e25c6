"""scripts/check_tpu_install.py's report check, on hand-made pip reports (offline)."""

import configparser
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("check_tpu_install",
                                               ROOT / "scripts" / "check_tpu_install.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def _report(*packages, python="3.10.12"):
    return {"environment": {"python_version": python[:4], "python_full_version": python},
            "install": [{"metadata": {"name": name, "version": version,
                                      "requires_dist": list(requires)}}
                        for name, version, *requires in packages]}


TPU = ("tensorflow_tpu", "2.20.0", "numpy>=1.26.0", "libtpu~=0.0.14")
GOOD = [TPU, ("numpy", "2.2.6"), ("libtpu", "0.0.52"),
        ("tensorflow-text", "2.20.1", "tensorflow<2.21,>=2.20.0",
         'pytest; extra == "tests"'),
        ("tensorflow-serving-api", "2.20.0", "tensorflow (<3,>=2.20.0)", "grpcio (<2.0,>=1.24.3)"),
        ("grpcio", "1.76.0")]


def test_one_tensorflow_tpu_with_text_and_serving_on_its_minor_passes():
    problems, versions = check.check_report(_report(*GOOD))
    assert problems == []
    assert versions["tensorflow-tpu"] == "2.20.0"


def test_a_second_tensorflow_distribution_fails():
    problems, _ = check.check_report(_report(*GOOD, ("tensorflow", "2.21.0")))
    assert problems[0] == ("expected exactly one TensorFlow distribution, found "
                           "tensorflow 2.21.0, tensorflow-tpu 2.20.0")


def test_text_or_serving_on_another_minor_fails():
    report = _report(TPU, ("numpy", "2.2.6"), ("libtpu", "0.0.52"),
                     ("tensorflow-text", "2.21.1"), ("tensorflow-serving-api", "2.20.0"))
    problems, _ = check.check_report(report)
    assert problems == ["tensorflow-text 2.21.1 is not on the major.minor of "
                        "tensorflow-tpu 2.20.0"]


def test_a_requirement_on_tensorflow_is_checked_against_the_one_installed():
    late = ("tensorflow-text", "2.21.1", "tensorflow<2.22,>=2.21.0")
    problems, _ = check.check_report(_report(*[p for p in GOOD if p[0] != "tensorflow-text"],
                                             late))
    assert "tensorflow-text requires tensorflow<2.22,>=2.21.0: tensorflow-tpu 2.20.0 does not " \
           "satisfy it" in problems


def test_a_missing_dependency_of_a_no_deps_package_fails_and_markers_are_honoured():
    report = _report(*[p for p in GOOD if p[0] != "grpcio"],
                     ("keras", "3.15.1", 'tomli; python_version < "3.9"'))
    problems, _ = check.check_report(report)
    assert problems == ["tensorflow-serving-api requires grpcio (<2.0,>=1.24.3): grpcio is "
                        "not installed"]


def test_the_tpu_files_cover_every_requirement_of_the_cpu_install_but_tensorflow():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    name = lambda line: check.canonical(re.match(r"[A-Za-z0-9_.-]+", line).group())
    lines = lambda text: [line for line in text.splitlines()
                          if line.strip() and not line.strip().startswith("#")]
    required = {name(line.strip()) for line in lines(parser["options"]["install_requires"])}
    tpu = {name(line) for path in ("tpu.txt", "tpu-no-deps.txt")
           for line in lines((ROOT / "install" / path).read_text())}
    assert required - {"tensorflow"} <= tpu
    assert "tensorflow" not in tpu and "tensorflow-tpu" in tpu
