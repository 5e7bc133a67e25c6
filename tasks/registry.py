"""`TaskRegistry`: tasks by name (seqio style), and `select` specs such as "boolq,piqa".

`REGISTRY` is the default registry: importing `glam_tf.tasks` fills it with
the 29 GLaM benchmarks, and user task modules add theirs with `register`.

Spec syntax (`select`): comma-separated items, each one of
  NAME            a registered task
  all             every registered task
  category:NAME   every task of a category (see `glam_tf.tasks.task.CATEGORIES`)
Tasks come back in the order of the spec, each once; within `all` and
`category:` items, in registration order.
"""

from __future__ import annotations

import difflib
from typing import Iterator, Optional

from glam_tf.tasks.task import CATEGORIES, Task, TaskError, check_task_name


class UnknownTaskError(KeyError):
    """A task name that is not registered; the message suggests the closest names."""

    def __str__(self):  # KeyError would quote the whole message
        return str(self.args[0])


class TaskRegistry:
    """Tasks by unique name, in registration order."""

    def __init__(self, tasks=()):
        self._tasks: dict[str, Task] = {}
        for task in tasks:
            self.add(task)

    def add(self, task: Task) -> Task:
        """Registers `task` and returns it; a duplicate name is an error."""
        if not isinstance(task, Task):
            raise TypeError(f"can only register a Task, not {type(task).__name__}")
        check_task_name(task.name)
        if task.name in self._tasks:
            raise TaskError("name", task.name, "is already registered; remove it "
                            "first or choose another name")
        self._tasks[task.name] = task
        return task

    def get(self, name: str) -> Task:
        """The task called `name`; KeyError (UnknownTaskError) naming the closest names."""
        try:
            return self._tasks[name]
        except (KeyError, TypeError):
            raise UnknownTaskError(self._unknown_message(name)) from None

    def remove(self, name: str) -> Task:
        """Unregisters and returns the task called `name`."""
        task = self.get(name)
        del self._tasks[name]
        return task

    def names(self) -> tuple[str, ...]:
        return tuple(self._tasks)

    def by_category(self) -> dict[str, tuple[Task, ...]]:
        """Category -> its tasks, for every category that has one (CATEGORIES order)."""
        table = {c: tuple(t for t in self._tasks.values() if t.category == c) for c in CATEGORIES}
        return {c: tasks for c, tasks in table.items() if tasks}

    def select(self, spec: str) -> tuple[Task, ...]:
        """The tasks of a spec such as "boolq,piqa", "all" or "category:superglue"."""
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"task spec {spec!r}: give task names separated by commas, "
                             "'all' or 'category:NAME'")
        chosen: dict[str, Task] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                raise ValueError(f"task spec {spec!r}: empty item between commas")
            if item == "all":
                tasks = tuple(self._tasks.values())
            elif item.startswith("category:"):
                category = item[len("category:"):].strip()
                if category not in CATEGORIES:
                    close = difflib.get_close_matches(category, CATEGORIES, n=1)
                    hint = f"; did you mean {close[0]}?" if close else ""
                    raise ValueError(f"task spec {spec!r}: unknown category {category!r}"
                                     f"{hint} (categories: {', '.join(CATEGORIES)})")
                tasks = tuple(t for t in self._tasks.values() if t.category == category)
            else:
                tasks = (self.get(item),)
            for task in tasks:
                chosen.setdefault(task.name, task)
        return tuple(chosen.values())

    def _unknown_message(self, name) -> str:
        message = f"unknown task {name!r}"
        if isinstance(name, str) and self._tasks:
            lowered = {n.lower(): n for n in self._tasks}
            close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
            if close:
                message += f"; did you mean {', '.join(lowered[c] for c in close)}?"
        return message + f" ({len(self._tasks)} tasks registered: see names())"

    def __contains__(self, name) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(tuple(self._tasks.values()))


REGISTRY = TaskRegistry()


def register(task: Task, registry: Optional[TaskRegistry] = None) -> Task:
    """Adds `task` to `registry` (default: REGISTRY) and returns it."""
    return (REGISTRY if registry is None else registry).add(task)


def get(name: str) -> Task:
    """The task called `name` in REGISTRY."""
    return REGISTRY.get(name)


def select(spec: str, registry: Optional[TaskRegistry] = None) -> tuple[Task, ...]:
    """The tasks of `spec` in `registry` (default: REGISTRY); see the module doc."""
    return (REGISTRY if registry is None else registry).select(spec)
