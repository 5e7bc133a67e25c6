"""The published scores shipped as package data, and `--compare paper`'s table."""

import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from glam_tf.evaluation.evaluator import format_table
from glam_tf.evaluation.paper import COLUMNS, PaperDataError, _check, load_paper_results
from glam_tf.tasks import GLAM_TASK_NAMES, REGISTRY


def test_paper_results_cover_the_29_tasks_with_each_tasks_headline_metric():
    paper = load_paper_results()
    assert sorted(paper["tasks"]) == sorted(GLAM_TASK_NAMES)
    for name, entry in paper["tasks"].items():
        assert REGISTRY.get(name).metrics[0] in entry["metrics"], name


def test_paper_cells_are_the_fact_sheets_numbers_and_blanks_stay_null():
    tasks = load_paper_results()["tasks"]
    assert tasks["triviaqa"]["metrics"]["exact_match"] == {
        "glam": ["71.3p", "75.8p", "75.8p"], "gpt3": ["64.3", "68.0", "71.2t"]}
    assert tasks["hellaswag"]["metrics"]["accuracy"]["glam"] == [None, None, None]
    assert tasks["rte"]["metrics"]["accuracy"]["gpt3"] == ["63.5†", None, "69.0t"]
    assert tasks["multirc"]["metrics"]["exact_match"]["gpt3"][2] == "30.5t"
    assert tasks["openbookqa"]["gpt3_k"] == 100


def test_a_malformed_cell_is_an_error_naming_it():
    bad = {"tasks": {"x": {"gpt3_k": 5, "metrics": {"f1": {"glam": ["about 70", None, None],
                                                          "gpt3": [None, None, None]}}}}}
    with pytest.raises(PaperDataError, match=r"x\.f1\.glam: 'about 70' is not a number"):
        _check(bad)


def _result(task, shots, value, **kw):
    t = REGISTRY.get(task)
    return {"task": task, "category": t.category, "shots": shots, "num_examples": 10,
            "metrics": {t.metrics[0]: value}, "shots_used_mean": float(shots), "skipped": {},
            "contexts_cut": 0, **kw}


def test_compare_table_puts_the_paper_beside_our_scores_with_blank_blanks_and_averages():
    results = [_result("arc_easy", 0, 0.5), _result("piqa", 0, 0.25),
               _result("arc_easy", 1, 0.5, shots_used_mean=0.5)]
    lines = format_table(results, paper=load_paper_results()).splitlines()
    header = lines[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == (
        ["task", "metric", "0-shot", "1-shot*"] + list(COLUMNS))
    row = {l.split()[0]: l for l in lines if l.split()}
    # arc_easy: GLaM 68.0p, blank, 74.8p; GPT-3 68.8 71.2 70.1; K 50.
    assert row["arc_easy"].split() == ["arc_easy", "accuracy", "50.0", "50.0*", "68.0p",
                                       "74.8p", "68.8", "71.2", "70.1", "50"]
    assert re.search(r"arc_easy .*50\.0\*\s+68\.0p\s{3,}74\.8p", row["arc_easy"])
    # Category average: GPT-3 columns averaged ((68.8 + 81.0) / 2 = 74.9; 76.45 prints
    # 76.4, as the binary float is just below); GLaM blank,
    # because piqa has no GLaM number.
    average = next(l for l in lines if l.startswith("Common-sense reasoning (2)"))
    assert average.split()[-3:] == ["74.9", "75.8", "76.4"]
    assert "avg" in average and "68.0" not in average
    assert any(l.startswith("* fewer shots than the column's") and
               l.endswith("mean shots used: arc_easy 1-shot 0.50") for l in lines)
    assert any("never estimated" in l for l in lines)



def test_compare_table_rows_follow_the_papers_categories_and_numbers_align_past_marks():
    results = [_result("copa", 0, 0.3), _result("piqa", 0, 0.7), _result("piqa", 1, 0.7),
               _result("copa", 1, 0.3, shots_used_mean=0.5), _result("winogrande", 0, 0.5)]
    lines = format_table(results, paper=load_paper_results()).splitlines()
    names = [l.split()[0] for l in lines[2:5]]
    assert names == ["winogrande", "piqa", "copa"]        # Winograd, common sense, SuperGLUE
    # Every decimal point of a column in one place, whatever marks ("*", "t", "†") follow.
    rows = lines[2:5]
    for column in ("1-shot*", "GPT-3 few"):
        start = lines[0].index(column)
        points = {r.index(".", start) for r in rows if r[start:start + len(column)].strip()
                  not in ("", "-")}
        assert len(points) == 1, (column, rows)


def test_the_paper_results_are_in_the_built_wheel(tmp_path):
    # Built from a copy of the sources, so that no build/ is left in the repository.
    root = pathlib.Path(__file__).resolve().parents[2]
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "glam_tf", "tasks", "export"):
        copy = shutil.copytree if (root / name).is_dir() else shutil.copy
        copy(root / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (root / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(source)], check=True)
    wheel = next(tmp_path.glob("glam_tf-*.whl"))
    assert "glam_tf/evaluation/paper_results.json" in zipfile.ZipFile(wheel).namelist()
