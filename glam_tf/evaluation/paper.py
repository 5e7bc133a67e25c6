"""The published per-task scores (GLaM 64B/64E, GPT-3 175B), shipped as `paper_results.json`.

`glam eval --compare paper` prints them beside the model's scores
(`evaluator.format_table(results, paper=load_paper_results())`). A cell is
the published number as text with its source marks ("71.2t": test server;
"p", "†": see the file's "marks"), or null where no source gave one: a
blank stays blank, and an average over tasks is blank unless every task in
it has a number.
"""

from __future__ import annotations

import json
import os
import re

from glam_tf import fileio

PAPER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paper_results.json")
COLUMNS = ("GLaM 0", "GLaM 1", "GLaM few", "GPT-3 0", "GPT-3 1", "GPT-3 few", "K")
_CELL = re.compile(r"^(\d+(?:\.\d+)?)([pt†]*)$")


class PaperDataError(ValueError):
    """paper_results.json does not hold what `load_paper_results` documents."""


def _check(data) -> dict:
    def bad(where, what):
        raise PaperDataError(f"{PAPER_FILE}: {where}: {what}")

    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        bad("top level", "needs a 'tasks' mapping")
    for name, task in data["tasks"].items():
        if not isinstance(task.get("gpt3_k"), int):
            bad(name, "gpt3_k must be an int")
        for metric, models in task.get("metrics", {}).items():
            for model in ("glam", "gpt3"):
                cells = models.get(model)
                if not isinstance(cells, list) or len(cells) != 3:
                    bad(f"{name}.{metric}.{model}", "needs 3 cells (0, 1, few shots)")
                for cell in cells:
                    if cell is not None and not (isinstance(cell, str) and _CELL.match(cell)):
                        bad(f"{name}.{metric}.{model}", f"{cell!r} is not a number with marks")
    return data


def load_paper_results() -> dict:
    """The parsed, checked contents of paper_results.json."""
    try:
        data = json.loads(fileio.read_text(PAPER_FILE))
    except (OSError, json.JSONDecodeError) as e:
        raise PaperDataError(f"{PAPER_FILE}: cannot be read ({e})") from None
    return _check(data)


def cell_value(cell):
    """The number of a cell ("71.2t" -> 71.2), None for a blank."""
    return None if cell is None else float(_CELL.match(cell).group(1))


class PaperCells:
    """The paper columns for the tasks of one table ({name: (category, headline metric)})."""

    def __init__(self, paper: dict, tasks: dict):
        self.paper = paper
        self.cells = {}
        for name, (_, metric) in tasks.items():
            entry = paper["tasks"].get(name)
            models = None if entry is None else entry["metrics"].get(metric)
            if models is None:
                self.cells[name] = [None] * len(COLUMNS)
            else:
                self.cells[name] = models["glam"] + models["gpt3"] + [str(entry["gpt3_k"])]
        self.shown = [name for name in tasks if name in paper["tasks"]]

    def row(self, name) -> list[str]:
        return [c or "" for c in self.cells[name]]

    def average(self, names) -> list[str]:
        out = []
        for column in range(len(COLUMNS) - 1):
            values = [cell_value(self.cells[n][column]) for n in names]
            out.append("" if None in values else f"{sum(values) / len(values):.1f}")
        return out + [""]

    def notes(self) -> list[str]:
        marks = "; ".join(f"{m} {text}" for m, text in self.paper.get("marks", {}).items())
        lines = [f"paper columns: published scores ({self.paper.get('source', PAPER_FILE)}).",
                 "  A blank was not found and is never estimated; an average is blank unless "
                 "every task in it has a number; K: GPT-3's few-shot K.",
                 f"  Marks: {marks}."]
        lines += [f"  {name}: {self.paper['tasks'][name]['note']}" for name in self.shown
                  if "note" in self.paper["tasks"][name]]
        head = self.paper.get("headline_averages")
        if head:
            lines.append(f"paper averages ({head['source']}), 0/1/few-shot: "
                         + "; ".join(f"{model} {' / '.join(str(v) for v in values)}"
                                     for model, values in head.items() if model != "source"))
        return lines


def paper_cells(paper: dict, tasks: dict) -> PaperCells:
    return PaperCells(paper, tasks)
