"""The quickstart's built-in offline tasks: `glam_tf.tasks.Task`s over `icl_data`.

Each is scored by the same evaluator as the 29 GLaM benchmarks. The eval
split is the family's held-out instances; demonstrations (the "train" split)
come from its train instances, the ones the training text shows.

  quickstart/successor       rank, 4 candidates: the next item of a list
  quickstart/category        rank, 4 candidates: a fact's category, asked in the
                             Q/A form never shown for that word in training
  quickstart/lookup          rank, 4 candidates: the color bound to a name (a number) in its
                             group; shots come from the group's own bindings
                             (split "demonstrations", `Formatted.demo_group`)
  quickstart/successor_gen   generate: the next item, greedy, exact match
"""

from __future__ import annotations

import functools

from glam_tf.quickstart import icl_data
from glam_tf.tasks import CUSTOM, GENERATE, RANK, CallableSource, Formatted, Task

TASK_NAMES = ("quickstart/successor", "quickstart/category", "quickstart/lookup",
              "quickstart/successor_gen")
_SPLITS = {"validation": "held_out", "train": "train"}
# lookup's demonstrations are its held-out groups' own bindings: the eval
# examples again, drawn as shots only within their group (demo_group).
_LOOKUP_SPLITS = {"validation": "held_out", "demonstrations": "held_out"}


def _examples(family: str, split: str):
    splits = _LOOKUP_SPLITS if family == "lookup" else _SPLITS
    if split not in splits:
        raise ValueError(f"split {split!r}: quickstart/{family} has {', '.join(splits)}")
    return icl_data.task_examples(family, splits[split])


def _rank_format(example: dict) -> Formatted:
    return Formatted(prompt=example["prompt"], candidates=[" " + c for c in example["candidates"]],
                     label=example["label"], demo_group=example.get("group"))


def _generate_format(example: dict) -> Formatted:
    return Formatted(prompt=example["prompt"], answers=[example["answer"]])


def _rank_task(family: str, description: str, few_shot_split: str = "train") -> Task:
    return Task(name=f"quickstart/{family}",
                source=CallableSource(functools.partial(_examples, family)),
                formatter=_rank_format, kind=RANK, metrics=("accuracy",), category=CUSTOM,
                normalization="sum", few_shot_split=few_shot_split, description=description)


def quickstart_tasks() -> tuple:
    """The four tasks, new objects (register them in a registry of your choice)."""
    return (
        _rank_task("successor", "next item of a letter/number/weekday/month sequence"),
        _rank_task("category", "category of a word, learned from statements, asked as Q/A"),
        _rank_task("lookup", "color bound to a two-digit name, read from the shots",
                   few_shot_split="demonstrations"),
        Task(name="quickstart/successor_gen",
             source=CallableSource(functools.partial(_examples, "successor")),
             formatter=_generate_format, kind=GENERATE, metrics=("exact_match", "f1"),
             category=CUSTOM, stop_sequences=("\n",), max_decode_tokens=4,
             description="next item of a sequence, generated (greedy), exact match"),
    )


def chance_levels() -> dict:
    """Task name -> the headline metric of a uniform guess.

    Rank tasks: 1 / candidates. successor_gen: a uniform guess among the items
    of the example's list, averaged over the held-out examples.
    """
    levels = {f"quickstart/{f}": icl_data.chance(f) for f in ("successor", "category", "lookup")}
    held_out = icl_data.instances("successor", "held_out")
    levels["quickstart/successor_gen"] = sum(
        1 / len(icl_data.ORDERED_LISTS[i["list"]]) for i in held_out) / len(held_out)
    return levels
