"""Few-shot evaluation of tasks on a backend, and the paper's zero/one/few-shot table.

    results = evaluate_all(select("boolq,triviaqa"), ModelDirBackend("runs/tiny"), [0, 1])
    print(format_table(results))

`evaluate` scores one task at one shot count; how is the task kind's Scorer
(`scorers.SCORERS`), which owns the metrics, the token budget and the checks:
  * shots: for example i, `shots.sample_shots(len(pool), k, seed, example_index=i)`
    draws from the few-shot split (excluding example i itself when the task
    takes shots from its eval split, and the examples of its `shot_group`);
    `shots.fit_prompt` then drops shots from
    the front until the prompt fits the scorer's budget (the backend's
    max_length less the EOS, and for generation less the decoding budget; no
    fitting when the backend cannot count tokens or has no max_length).
  * one example never aborts a run: a prompt that does not fit even without
    shots is cut from the left by the backend (counted in "contexts_cut"); an
    example the scorer cannot score at all (a rank candidate whose
    continuation alone exceeds max_length - 1 tokens, after its prompt or the
    unconditional context, or has no token of its own) or that has no gold
    label or answer, lacks a field its kind needs, or that its formatter skips
    (`SkipExample`) is skipped and counted in "skipped" by reason (MultiRC: with
    the rest of its question); metrics are over the scored examples. A task
    none of whose examples can be scored has no metrics (None) and says why in
    "not_scored"; the other tasks are still scored.
Metrics are fractions in [0, 1]; the table shows them as percentages, marks
the cells where shots were dropped or examples skipped, and says by how many.
"""

from __future__ import annotations

import functools
import re
from typing import Optional, Sequence

from glam_tf.evaluation import shots as shots_lib
from glam_tf.tasks.task import CATEGORY_TITLES, Skipped, Task


def _limits(task: Task, backend, max_tokens: Optional[int], max_new_tokens: int):
    """(prompt token budget or None: no fitting, the model's max_length or None)."""
    counts = getattr(backend, "can_count_tokens", False)
    max_length = getattr(backend, "max_length", None) if counts else None
    if not counts:
        if max_tokens is not None:
            raise ValueError(f"max_tokens={max_tokens}: {type(backend).__name__} cannot count "
                             "tokens (it has no tokenizer)")
        return None, None
    if max_tokens is None:
        if max_length is None:
            return None, None
        max_tokens = task.scorer.prompt_budget(max_length, max_new_tokens)
    if max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens}: must be >= 1 (is max_length too small "
                         f"for the task's {max_new_tokens} decoding tokens?)")
    return max_tokens, max_length


def _max_new_tokens(task: Task, backend) -> int:
    limit = getattr(backend, "max_new_tokens", None)
    return task.max_decode_tokens if limit is None else min(task.max_decode_tokens, limit)


def build_prompts(task: Task, examples, shots: int, seed: int, backend=None,
                  max_tokens: Optional[int] = None, pool=None):
    """(prompted examples, shot indices per example, shots used, total shots dropped).

    Shots are drawn from the pool's examples that can be demonstrations
    (`Task.can_demonstrate`: labelled, or with a non-empty answer); indices
    are into the pool.
    """
    if shots < 0:
        raise ValueError(f"shots={shots}: must be >= 0")
    if shots == 0:
        return list(examples), [[] for _ in examples], [0] * len(examples), 0
    if task.few_shot_split is None:
        raise ValueError(f"task {task.name!r} is zero-shot only (no few_shot_split); "
                         f"cannot evaluate it with {shots} shots")
    if pool is None:
        pool = list(task.few_shot_examples())
    budget = None if backend is None else _limits(task, backend, max_tokens,
                                                  _max_new_tokens(task, backend))[0]
    usable = [j for j, shot in enumerate(pool) if task.can_demonstrate(shot)]
    position = {j: p for p, j in enumerate(usable)}
    prompted, indices, used, dropped = [], [], [], 0
    for i, example in enumerate(examples):
        if isinstance(example, Skipped):  # skipped when formatted: no prompt to build
            prompted.append(example)
            indices.append([])
            used.append(0)
            continue
        excluded = [position[j] for j in shots_lib.excluded_shots(
            example, i, pool, task.shots_from_eval_split) if j in position]
        drawn = [usable[p] for p in shots_lib.sample_shots(
            len(usable), shots, seed, exclude_index=excluded, example_index=i)]
        demos = [pool[j] for j in drawn]
        if budget is None:
            prompted.append(task.with_shots(example, demos))
            used.append(len(demos))
        else:
            fitted = shots_lib.fit_prompt(task, example, demos, budget, backend.count_tokens)
            prompted.append(fitted.example)
            used.append(fitted.shots_used)
            dropped += fitted.shots_dropped
        indices.append(drawn)
    return prompted, indices, used, dropped


def evaluate(task: Task, backend, shots: int = 0, seed: int = 0,
             max_examples: Optional[int] = None, max_tokens: Optional[int] = None,
             progress=None) -> dict:
    """Scores `task` with `shots` demonstrations per example; returns the results dict.

    {"task", "category", "kind", "shots", "seed", "normalization",
     "num_examples": scored, "skipped": {reason: count}, "contexts_cut": int,
     "shots_used_mean": float (over scored examples), "shots_dropped": int,
     "metrics": {name: value}, "not_scored": None, or why no example could be
     scored (then metrics and shots_used_mean are None), "predictions": [one dict
     per example, skipped ones with "skipped": reason (and "detail": the location
     and message, when the formatter skipped it)]}
    `progress(done, total)`, if given, is called as examples are scored.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples={max_examples}: must be >= 1")
    scorer = task.scorer
    all_examples = list(task.eval_examples(keep_skipped=True))
    examples = all_examples if max_examples is None else all_examples[:max_examples]
    pool = all_examples if (shots and task.shots_from_eval_split) else None
    max_new = _max_new_tokens(task, backend)
    prompted, indices, used, dropped = build_prompts(task, examples, shots, seed, backend,
                                                     max_tokens, pool)
    budget, max_length = _limits(task, backend, max_tokens, max_new)
    skipped, cut, kept, reasons = {}, 0, [], {}
    count = (functools.lru_cache(maxsize=None)(backend.count_tokens)
             if getattr(backend, "can_count_tokens", False) else None)
    for i, example in enumerate(prompted):
        reason = example.reason if isinstance(example, Skipped) else scorer.problem(task, example)
        if reason is None and count is not None:
            reason = scorer.unscorable(task, example, max_length, count)
        if reason is None and budget is not None:
            cut += shots_lib.prompt_tokens(example, count) > budget
        if reason is not None:
            reasons[i] = reason
    # Whole questions (MultiRC) go when one of their examples is skipped or left out.
    reasons.update(scorer.skipped_with(prompted, reasons, all_examples[len(examples):]))
    for i in range(len(prompted)):
        if i in reasons:
            skipped[reasons[i]] = skipped.get(reasons[i], 0) + 1
        else:
            kept.append(i)
    values, scored = ({m: None for m in task.metrics}, []) if not kept else scorer.score(
        task, [prompted[i] for i in kept], backend, max_new, progress)
    by_index = dict(zip(kept, scored))
    predictions = [{"index": i, "shots": indices[i], "shots_used": used[i],
                    **({"skipped": reasons[i]} if i in reasons else by_index[i]),
                    # Where and what, for an example its formatter skipped.
                    **({"detail": prompted[i].detail} if isinstance(prompted[i], Skipped)
                       else {})}
                   for i in range(len(prompted))]
    return {"task": task.name, "category": task.category, "kind": task.kind, "shots": shots,
            "seed": seed, "normalization": task.normalization, "num_examples": len(kept),
            "skipped": skipped, "contexts_cut": cut,
            "shots_used_mean": sum(used[i] for i in kept) / len(kept) if kept else None,
            "metrics": {m: values[m] for m in task.metrics},
            "not_scored": None if kept else _why_not_scored(task, skipped),
            "shots_dropped": dropped, "predictions": predictions}


def _why_not_scored(task: Task, skipped: dict) -> str:
    return (f"no example of split {task.eval_split!r} can be scored: all "
            f"{sum(skipped.values())} skipped (" + _counts(skipped) + ")")


def _counts(skipped: dict) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items())


def scored(result: dict) -> bool:
    """Whether `result` (from `evaluate`) has scores; False: see its "not_scored"."""
    return not result.get("not_scored")


def evaluate_all(tasks: Sequence[Task], backend, shots_list: Sequence[int], seed: int = 0,
                 max_examples: Optional[int] = None, max_tokens: Optional[int] = None,
                 log=None, bar=None) -> list:
    """`evaluate` for every task and shot count (task-major order); returns the results.

    log(line): one line per task and shot count with its metrics.
    bar: a `glam_tf.progress.ProgressBar`, drawn as examples are scored.
    """
    results = []
    runs = [(task, shots) for task in tasks for shots in shots_list]
    for i, (task, shots) in enumerate(runs):
        label = f"[{i + 1}/{len(runs)}] {task.name} {shots}-shot"
        progress = None if bar is None else (
            lambda done, total, label=label: bar.draw(done, total, label))
        result = evaluate(task, backend, shots=shots, seed=seed, max_examples=max_examples,
                          max_tokens=max_tokens, progress=progress)
        if bar is not None:
            bar.clear()
        if log is not None and not scored(result):
            log(f"{task.name} {shots}-shot: not scored: {result['not_scored']}")
        elif log is not None:
            skipped = _counts(result["skipped"])
            log(f"{task.name} {shots}-shot: " + ", ".join(
                f"{m}={v:.4f}" for m, v in result["metrics"].items())
                + (f" (skipped: {skipped})" if skipped else "")
                + (f" (mean shots used {result['shots_used_mean']:.2f})"
                   if result["shots_used_mean"] < shots else ""))
        results.append(result)
    return results


def _headline(result) -> float:
    return next(iter(result["metrics"].values()))


FEWER_SHOTS, SKIPPED, NOT_SCORED, PARTIAL = "*", "!", "n/a", "~"


def _marks(result) -> str:
    if not scored(result):
        return ""
    fewer = result.get("shots_used_mean", result["shots"]) < result["shots"]
    return (FEWER_SHOTS if fewer else "") + (SKIPPED if result.get("skipped") else "")


def _footnotes(results) -> list[str]:
    fewer = [f"{r['task']} {r['shots']}-shot {r['shots_used_mean']:.2f}" for r in results
             if FEWER_SHOTS in _marks(r)]
    skipped = [f"{r['task']} {r['shots']}-shot " + _counts(r["skipped"])
               + f" (of {r['num_examples'] + sum(r['skipped'].values())})"
               for r in results if SKIPPED in _marks(r)]
    unscored = [f"{r['task']} {r['shots']}-shot: {r['not_scored']}" for r in results
                if not scored(r)]
    cut = [f"{r['task']} {r['shots']}-shot {r['contexts_cut']}" for r in results
           if r.get("contexts_cut")]
    lines = []
    if fewer:
        lines.append(f"{FEWER_SHOTS} fewer shots than the column's (dropped to fit the window, or "
                     "a smaller few-shot split); mean shots used: " + "; ".join(fewer))
    if skipped:
        lines.append(f"{SKIPPED} examples not scored: " + "; ".join(skipped))
    if unscored:
        lines.append(f"{NOT_SCORED} no score; averages marked {PARTIAL} leave these tasks out: "
                     + "; ".join(unscored))
    if cut:
        lines.append("contexts cut from the left (prompt too long without shots): "
                     + "; ".join(cut))
    return lines


_NUMBER_AND_MARKS = re.compile(r"^(-?[\d.]*\d|-|n/a|)(.*)$")


def _aligned(rows: list) -> list[str]:
    """Text lines of `rows` (None: a rule): the first two columns left-aligned, the others
    right-aligned on their numbers, a cell's marks ("82.8t", "50.0*") after its number."""
    body = [r for r in rows[1:] if r is not None]
    columns = []
    for j, title in enumerate(rows[0]):
        if j < 2:
            columns.append((max(len(r[j]) for r in rows if r is not None), 0, 0))
            continue
        parts = [_NUMBER_AND_MARKS.match(r[j]).groups() for r in body]
        number = max([len(n) for n, _ in parts] + [0])
        marks = max([len(m) for _, m in parts] + [0])
        columns.append((max(len(title), number + marks), number, marks))

    def cell(j, text, header):
        width, number, marks = columns[j]
        if j < 2:
            return text.ljust(width)
        if not header:
            value, mark = _NUMBER_AND_MARKS.match(text).groups()
            text = value.rjust(number) + mark.ljust(marks)
        return text.rjust(width)

    lines = []
    for i, r in enumerate(rows):
        if r is None or i == 1:
            lines.append("  ".join("-" * width for width, _, _ in columns))
        if r is not None:
            lines.append("  ".join(cell(j, c, i == 0) for j, c in enumerate(r)).rstrip())
    return lines


def format_table(results: Sequence[dict], paper: Optional[dict] = None) -> str:
    """Per task (its headline metric, the first), per category and overall averages, in %.

    One column per shot count ("0-shot", "1-shot", ...); a cell without a
    result is "-". A cell where shots were dropped to fit is marked "*" (and
    its column header too), one where examples were skipped "!"; footnotes
    give the mean shots used and the counts. Category and overall rows average
    the tasks' headline metrics (each task weighs the same, as in the paper).
    With `paper` (`paper.load_paper_results()`), the published GLaM and GPT-3
    cells of the same metric follow in the same rows, blank where not
    published, their averages blank unless every task of the row has one.
    """
    if not results:
        return "(no results)"
    from glam_tf.evaluation import paper as paper_lib

    shot_counts = sorted({r["shots"] for r in results})
    tasks, cells = {}, {}
    for r in results:
        tasks.setdefault(r["task"], (r["category"], next(iter(r["metrics"]))))
        cells[(r["task"], r["shots"])] = r
    # Rows grouped by category in the paper's order (CATEGORY_TITLES), tasks as given.
    order = list(CATEGORY_TITLES)
    tasks = dict(sorted(tasks.items(), key=lambda item: order.index(item[1][0])
                        if item[1][0] in order else len(order)))
    published = paper_lib.paper_cells(paper, tasks) if paper is not None else None

    def average(names, shots):
        present = [cells[(n, shots)] for n in names if (n, shots) in cells]
        values = [_headline(r) for r in present if scored(r)]
        partial = PARTIAL if len(values) < len(present) else ""
        return None if not values else f"{100 * sum(values) / len(values):.1f}{partial}"

    def cell(name, shots):
        r = cells.get((name, shots))
        if r is None:
            return "-"
        return f"{100 * _headline(r):.1f}{_marks(r)}" if scored(r) else NOT_SCORED

    header = ["task", "metric"] + [
        f"{k}-shot" + (FEWER_SHOTS if any(FEWER_SHOTS in _marks(r) for r in results
                                          if r["shots"] == k) else "") for k in shot_counts]
    if published is not None:
        header += list(paper_lib.COLUMNS)
    rows = [header]
    for name, (_, metric) in tasks.items():
        row = [name, metric] + [cell(name, k) for k in shot_counts]
        if published is not None:
            row += published.row(name)
        rows.append(row)
    categories = {}
    for name, (category, _) in tasks.items():
        categories.setdefault(category, []).append(name)
    groups = [(f"{CATEGORY_TITLES.get(c, c)} ({len(n)})", n) for c, n in categories.items()]
    for i, (label, names) in enumerate(groups + [(f"Overall ({len(tasks)})", list(tasks))]):
        if i in (0, len(groups)):
            rows.append(None)
        row = [label, "avg"] + [average(names, k) or "-" for k in shot_counts]
        if published is not None:
            row += published.average(names)
        rows.append(row)
    lines = _aligned(rows)
    notes = _footnotes(list(cells.values()))
    if published is not None:
        notes += published.notes()
    return "\n".join(lines + ([""] + notes if notes else []))
