"""Few-shot evaluation of tasks on a backend, and the paper's zero/one/few-shot table.

    results = evaluate_all(select("boolq,triviaqa"), ModelDirBackend("runs/tiny"), [0, 1])
    print(format_table(results))

`evaluate` scores one task at one shot count:
  * shots: for example i, `shots.sample_shots(len(pool), k, seed, example_index=i)`
    draws from the few-shot split (excluding example i itself when the task
    takes shots from its eval split, and the examples of its `shot_group`); `shots.fit_prompt` then drops shots from
    the front until the prompt fits `max_tokens` (default: the backend's
    max_length, less the decoding budget for generate tasks; no fitting when
    the backend cannot count tokens or has no max_length).
  * rank tasks: `ranking.rank_classify` on `backend.score`, or on
    `backend.score_candidates` when the backend `shares_prompts` (each
    few-shot prompt then runs once for all its candidates) -> "accuracy".
  * generate tasks: `backend.generate` (greedy), `metrics.postprocess_generation`
    with the task's stop sequences, then each of `task.metrics`
    (exact_match, f1; best over the gold answers, `task.no_answer` honoured).
Metrics are fractions in [0, 1]; the table shows them as percentages.
"""

from __future__ import annotations

from typing import Optional, Sequence

from glam_tf.evaluation import metrics as metrics_lib
from glam_tf.evaluation import ranking, shots as shots_lib
from glam_tf.tasks.task import CATEGORY_TITLES, RANK, Task

_METRIC_FNS = {"exact_match": metrics_lib.exact_match, "f1": metrics_lib.f1}


def _budget(task: Task, backend, max_tokens: Optional[int], max_new_tokens: int):
    """Prompt token budget for fit_prompt, or None (no fitting)."""
    if not getattr(backend, "can_count_tokens", False):
        if max_tokens is not None:
            raise ValueError(f"max_tokens={max_tokens}: {type(backend).__name__} cannot count "
                             "tokens (it has no tokenizer)")
        return None
    if max_tokens is None:
        max_length = getattr(backend, "max_length", None)
        if max_length is None:
            return None
        # The export and the scorers add an EOS in front of every row.
        max_tokens = max_length - 1 - (0 if task.kind == RANK else max_new_tokens)
    if max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens}: must be >= 1")
    return max_tokens


def _max_new_tokens(task: Task, backend) -> int:
    limit = getattr(backend, "max_new_tokens", None)
    return task.max_decode_tokens if limit is None else min(task.max_decode_tokens, limit)


def build_prompts(task: Task, examples, shots: int, seed: int, backend=None,
                  max_tokens: Optional[int] = None, pool=None):
    """(prompted examples, shot indices per example, shots used, total shots dropped)."""
    if shots < 0:
        raise ValueError(f"shots={shots}: must be >= 0")
    if shots == 0:
        return list(examples), [[] for _ in examples], [0] * len(examples), 0
    if task.few_shot_split is None:
        raise ValueError(f"task {task.name!r} is zero-shot only (no few_shot_split); "
                         f"cannot evaluate it with {shots} shots")
    if pool is None:
        pool = list(task.few_shot_examples())
    budget = None if backend is None else _budget(task, backend, max_tokens,
                                                  _max_new_tokens(task, backend))
    prompted, indices, used, dropped = [], [], [], 0
    for i, example in enumerate(examples):
        excluded = shots_lib.excluded_shots(example, i, pool, task.shots_from_eval_split)
        drawn = shots_lib.sample_shots(len(pool), shots, seed, exclude_index=excluded,
                                       example_index=i)
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


def _in_chunks(fn, items, size, progress):
    """fn over consecutive chunks of `items`, concatenated; progress(done, total) after each."""
    out = []
    for start in range(0, len(items), size):
        out.extend(fn(items[start:start + size]))
        if progress is not None:
            progress(min(start + size, len(items)), len(items))
    return out


def evaluate(task: Task, backend, shots: int = 0, seed: int = 0,
             max_examples: Optional[int] = None, max_tokens: Optional[int] = None,
             progress=None) -> dict:
    """Scores `task` with `shots` demonstrations per example; returns the results dict.

    {"task", "category", "kind", "shots", "seed", "num_examples", "metrics": {name: value},
     "shots_dropped": int, "predictions": [one dict per example]}
    `progress(done, total)`, if given, is called as examples are scored.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples={max_examples}: must be >= 1")
    all_examples = list(task.eval_examples())
    examples = all_examples if max_examples is None else all_examples[:max_examples]
    pool = all_examples if (shots and task.shots_from_eval_split) else None
    prompted, indices, used, dropped = build_prompts(task, examples, shots, seed, backend,
                                                     max_tokens, pool)
    predictions = []
    if task.kind == RANK:
        for e in prompted:
            if e.label is None:
                raise ValueError(f"task {task.name!r}: split {task.eval_split!r} has an "
                                 "unlabelled example; cannot compute accuracy")
        shared = backend.score_candidates if getattr(backend, "shares_prompts", False) else None
        batch_size = getattr(backend, "batch_size", 32)
        ranked = _in_chunks(
            lambda chunk: ranking.rank_classify(
                chunk, backend.score, task.length_normalize, batch_size=batch_size,
                candidates_score_fn=shared, unconditional_context=task.unconditional_context),
            prompted, batch_size, progress)
        values = {"accuracy": ranking.accuracy(ranked)}
        for i, (example, r) in enumerate(zip(prompted, ranked)):
            predictions.append({
                "index": i, "shots": indices[i], "shots_used": used[i],
                "prediction": r["prediction"], "label": example.label,
                "correct": bool(r["correct"]), "scores": r["scores"],
                "log_likelihoods": r["log_likelihoods"], "num_tokens": r["num_tokens"],
                **({"unconditional_log_likelihoods": r["unconditional_log_likelihoods"]}
                   if "unconditional_log_likelihoods" in r else {})})
    else:
        for e in prompted:
            if not e.answers:
                raise ValueError(f"task {task.name!r}: split {task.eval_split!r} has an "
                                 "example without answers; cannot compute metrics")
        max_new = _max_new_tokens(task, backend)
        outputs = _in_chunks(lambda chunk: backend.generate(chunk, max_new),
                             [e.prompt for e in prompted], getattr(backend, "batch_size", 32),
                             progress)
        sums = dict.fromkeys(task.metrics, 0.0)
        for i, (example, output) in enumerate(zip(prompted, outputs)):
            answer = metrics_lib.postprocess_generation(output, task.stop_sequences)
            scored = {m: _METRIC_FNS[m](answer, example.answers, task.no_answer)
                      for m in task.metrics}
            for m, v in scored.items():
                sums[m] += v
            predictions.append({"index": i, "shots": indices[i], "shots_used": used[i],
                                "output": output, "prediction": answer,
                                "answers": list(example.answers), **scored})
        values = {m: s / len(prompted) for m, s in sums.items()}
    return {"task": task.name, "category": task.category, "kind": task.kind, "shots": shots,
            "seed": seed, "num_examples": len(prompted),
            "metrics": {m: values[m] for m in task.metrics},
            "shots_dropped": dropped, "predictions": predictions}


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
        if log is not None:
            log(f"{task.name} {shots}-shot: " + ", ".join(
                f"{m}={v:.4f}" for m, v in result["metrics"].items()))
        results.append(result)
    return results


def _headline(result) -> float:
    return next(iter(result["metrics"].values()))


def format_table(results: Sequence[dict]) -> str:
    """Per task (its headline metric, the first), per category and overall averages, in %.

    One column per shot count ("0-shot", "1-shot", ...); a cell without a
    result is "-". Category and overall rows average the tasks' headline
    metrics (each task weighs the same, as in the paper).
    """
    if not results:
        return "(no results)"
    shot_counts = sorted({r["shots"] for r in results})
    tasks, cells = {}, {}
    for r in results:
        tasks.setdefault(r["task"], (r["category"], next(iter(r["metrics"]))))
        cells[(r["task"], r["shots"])] = _headline(r)

    def average(names, shots):
        values = [cells[(n, shots)] for n in names if (n, shots) in cells]
        return sum(values) / len(values) if values else None

    def row(label, metric, values):
        return [label, metric] + ["-" if v is None else f"{100 * v:.1f}" for v in values]

    rows = [["task", "metric"] + [f"{k}-shot" for k in shot_counts]]
    for name, (_, metric) in tasks.items():
        rows.append(row(name, metric, [cells.get((name, k)) for k in shot_counts]))
    categories = {}
    for name, (category, _) in tasks.items():
        categories.setdefault(category, []).append(name)
    rows.append(None)
    for category, names in categories.items():
        title = CATEGORY_TITLES.get(category, category)
        rows.append(row(f"{title} ({len(names)})", "avg",
                        [average(names, k) for k in shot_counts]))
    rows.append(None)
    rows.append(row(f"Overall ({len(tasks)})", "avg",
                    [average(list(tasks), k) for k in shot_counts]))
    widths = [max(len(r[i]) for r in rows if r is not None) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        if r is None or i == 1:
            lines.append("  ".join("-" * w for w in widths))
        if r is not None:
            lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                                   for j, (c, w) in enumerate(zip(r, widths))).rstrip())
    return "\n".join(lines)
