"""The quickstart's PNG (loss curves, per-expert load over time) and report.md."""

from __future__ import annotations

import io

from glam_tf import fileio
from glam_tf.jsonl import read_objects
from glam_tf.evaluation.evaluator import format_table


def read_metrics(path) -> tuple:
    """(train records, validation records) of a metrics.jsonl, each sorted by step."""
    train, validation = [], []
    for _, record in read_objects(path):  # the project's one JSONL reader
        if "validation_cross_entropy" in record:
            validation.append(record)
        elif "cross_entropy" in record:
            train.append(record)
    return (sorted(train, key=lambda r: r["step"]), sorted(validation, key=lambda r: r["step"]))


def moving_average(values, window):
    """Mean of each value and the up to window - 1 values before it (same length)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


# Logged steps averaged in the plot: a record is one batch, too noisy to read alone.
SMOOTHING = 10


def plot_training(metrics_path, png_path) -> str:
    """Writes png_path: cross-entropy (train and validation) over steps, then one
    panel per MoE layer with each expert's share of the routed tokens over steps.
    Training curves are moving averages over SMOOTHING logged steps (the raw
    train loss is drawn faintly behind). Returns png_path."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed; set before pyplot is imported
    from matplotlib import pyplot as plt

    train, validation = read_metrics(metrics_path)
    if not train:
        raise ValueError(f"{metrics_path} holds no training record to plot")
    layers = len(train[-1].get("expert_load", []))
    figure, axes = plt.subplots(1 + layers, 1, figsize=(8, 3 + 2.2 * layers), squeeze=False)
    loss_axis = axes[0][0]
    train_steps, train_loss = [r["step"] for r in train], [r["cross_entropy"] for r in train]
    loss_axis.plot(train_steps, train_loss, color="tab:blue", alpha=0.25, linewidth=0.8)
    loss_axis.plot(train_steps, moving_average(train_loss, SMOOTHING), color="tab:blue",
                   label=f"train (mean of {SMOOTHING} logged steps)", linewidth=1.5)
    if validation:
        loss_axis.plot([r["step"] for r in validation],
                       [r["validation_cross_entropy"] for r in validation],
                       label="validation", color="tab:orange", marker="o", markersize=3)
    loss_axis.set_ylabel("cross-entropy (nats)")
    loss_axis.set_title("Loss")
    loss_axis.legend()
    with_load = [r for r in train if len(r.get("expert_load", [])) == layers]
    steps = [r["step"] for r in with_load]
    for layer in range(layers):
        axis = axes[layer + 1][0]
        experts = len(with_load[-1]["expert_load"][layer])
        for expert in range(experts):
            load = [r["expert_load"][layer][expert] for r in with_load]
            axis.plot(steps, moving_average(load, SMOOTHING), label=f"expert {expert}",
                      linewidth=1)
        axis.axhline(1 / experts, color="black", linestyle=":", linewidth=1)
        axis.set_ylabel("share of tokens")
        axis.set_title(f"MoE layer {layer}: per-expert load, mean of {SMOOTHING} logged steps "
                       f"(dotted: uniform 1/{experts})")
        axis.legend(ncol=min(experts, 8), fontsize="x-small", loc="upper right")
    axes[-1][0].set_xlabel("step")
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100)
    fileio.write_atomic(png_path, png.getvalue())
    plt.close(figure)
    return png_path


def score_table(results, chance: dict) -> str:
    """Markdown: each task's headline metric per shot count beside its chance level."""
    shots = sorted({r["shots"] for r in results})
    cells, metrics = {}, {}
    for r in results:
        metric, value = next(iter(r["metrics"].items()))
        cells[(r["task"], r["shots"])] = value
        metrics[r["task"]] = metric
    lines = ["| task | metric | chance | " + " | ".join(f"{k}-shot" for k in shots) + " |",
             "|---|---|---|" + "---|" * len(shots)]
    for task, metric in metrics.items():
        values = [cells.get((task, k)) for k in shots]
        level = chance.get(task)
        lines.append(f"| {task} | {metric} | "
                     + ("-" if level is None else f"{100 * level:.1f}") + " | "
                     + " | ".join("-" if v is None else f"{100 * v:.1f}" for v in values) + " |")
    return "\n".join(lines)


def write_report(path, *, settings: dict, training: dict, losses: dict, eval_results: dict,
                 samples: list, png_name: str, export_path: str) -> str:
    """Writes the markdown report to `path` and returns it.

    settings: preset, parameter counts, data spec, batch, sequence length.
    training: steps, target steps, seconds, stopped_early.
    losses: final train and validation cross-entropy.
    eval_results: the eval JSON (results, chance).
    samples: (prompt, completion) pairs from the reloaded export.
    """
    results = eval_results["results"]
    lines = [
        "# glam quickstart report", "",
        "## Model and data", "",
        f"- preset `{settings['preset']}`: {settings['parameters']} parameters, "
        f"{settings['activated']} activated per token",
        f"- data `{settings['data']}` (the embedded corpus with the in-context-learning "
        "component mixed in)",
        f"- {settings['batch_size']} rows of {settings['seq_len']} tokens per step, "
        f"tokenizer of {settings['vocab_size']} pieces",
        "",
        "## Training", "",
        f"- {training['steps']} steps of {training['target_steps']}"
        + (" (stopped by the time budget)" if training.get("stopped_early") else "")
        + (f" in {training['seconds']:.0f} s" if training.get("seconds") is not None else ""),
        f"- final train cross-entropy {losses['train']:.3f}, validation cross-entropy "
        + (f"{losses['validation']:.3f}" if losses.get("validation") is not None else "-"),
        "",
        f"![loss curves and per-expert load]({png_name})",
        "",
        "## Few-shot evaluation", "",
        "Held-out examples of the built-in tasks (docs/quickstart.md says what each "
        "measures), scored by the evaluator of `glam eval`:", "",
        score_table(results, eval_results["chance"]), "",
        "The evaluator's table:", "",
        "```", format_table(results), "```", "",
        "## Export", "",
        f"`{export_path}`, reloaded from disk; greedy completions:", "",
    ]
    for prompt, completion in samples:
        lines += ["```", f"{prompt}⟨{completion}⟩", "```", ""]
    fileio.write_atomic(path, "\n".join(lines))
    return path
