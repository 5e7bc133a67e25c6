"""Few-shot demonstrations: which shots to draw, and how many fit in the context.

`sample_shots` draws shot indices from a pool (the task's few-shot split)
with a generator seeded by (seed, example index), so each evaluated example
gets the same shots on every run and on every worker, whatever the order in
which examples are scored.

`fit_prompt` drops demonstrations from the front (the first, oldest, the one
farthest from the question) until the prompt fits in `max_tokens`; the
question itself is never dropped.
"""

from __future__ import annotations

from typing import Callable, Iterable, NamedTuple, Sequence, Union

import numpy as np

from glam_tf.tasks.task import Formatted, Task


def sample_shots(pool_size: int, k: int, seed: int,
                 exclude_index: Union[None, int, Iterable[int]] = None, *,
                 example_index: int) -> list[int]:
    """`min(k, available)` distinct indices into a pool of `pool_size`, in draw order.

    Args:
      pool_size: examples in the few-shot pool.
      k: shots wanted; capped at the pool size (minus the excluded indices).
      seed, example_index: non-negative ints; the draw depends on both only.
      exclude_index: an index, or several, never returned (the evaluated
        example itself when shots come from the scored split,
        `Task.shots_from_eval_split`, the examples of its
        `Formatted.shot_group`, and those outside its `Formatted.demo_group`).
    """
    for name, value in (("pool_size", pool_size), ("k", k), ("seed", seed),
                        ("example_index", example_index)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name}={value!r}: must be an int >= 0")
    if exclude_index is None:
        excluded = set()
    elif isinstance(exclude_index, (int, np.integer)):
        excluded = {int(exclude_index)}
    else:
        excluded = {int(i) for i in exclude_index}
    excluded = sorted(i for i in excluded if 0 <= i < pool_size)
    k = min(k, pool_size - len(excluded))
    if k == 0:
        return []
    rng = np.random.default_rng([int(seed), int(example_index)])
    drawn = rng.choice(pool_size - len(excluded), size=k, replace=False)
    return [_skipping(int(d), excluded) for d in drawn]


def _skipping(position: int, excluded: Sequence[int]) -> int:
    """The pool index at `position` among the indices not in sorted `excluded`."""
    for e in excluded:
        if e > position:
            break
        position += 1
    return position


def excluded_shots(example: Formatted, index: int, pool: Sequence[Formatted],
                   same_split: bool) -> list[int]:
    """Pool indices `example` (number `index`) must not take as shots.

    Itself when the pool is its own split (`same_split`), every pool example
    of its `shot_group` (WSC273's twin schema), and, when it has a
    `demo_group`, every pool example of another demo_group (quickstart/lookup).
    """
    excluded = [index] if same_split else []
    if example.shot_group is not None:
        excluded += [j for j, shot in enumerate(pool) if shot.shot_group == example.shot_group]
    if example.demo_group is not None:
        excluded += [j for j, shot in enumerate(pool) if shot.demo_group != example.demo_group]
    return excluded


class FittedPrompt(NamedTuple):
    """The example with the shots that fit (`Formatted`), and the shot counts."""

    example: Formatted
    shots_used: int
    shots_dropped: int


def prompt_tokens(example: Formatted, count_tokens: Callable[[str], int]) -> int:
    """Tokens the model reads for `example`.

    rank: the longest context + continuation over the candidates (the joined
    text, as the scorers read it: see `ranking.continuation_tokens`);
    generate: the prompt (leave room for decoding by lowering `max_tokens`).
    """
    if example.is_rank:
        return max(count_tokens(c + t) for c, t in example.pairs())
    return count_tokens(example.prompt)


def fit_prompt(task_or_callable: Union[Task, Callable[[Formatted, Sequence[Formatted]],
                                                      Formatted]],
               example: Formatted, shots: Sequence[Formatted], max_tokens: int,
               count_tokens: Callable[[str], int]) -> FittedPrompt:
    """`example` with as many of `shots` as fit in `max_tokens`, dropping from the front.

    Args:
      task_or_callable: a Task (its `with_shots` lays out the prompt) or any
        function (example, shots) -> Formatted.
      example, shots: the evaluated example and its demonstrations, in prompt order.
      max_tokens: token budget of the prompt (see `prompt_tokens`).
      count_tokens: str -> number of tokens.
    Returns FittedPrompt(example with the kept shots, shots_used, shots_dropped).
    When even the question alone is too long it is returned without shots
    (shots_used 0); the caller truncates it from the left.
    """
    with_shots = (task_or_callable.with_shots if isinstance(task_or_callable, Task)
                  else task_or_callable)
    shots = list(shots)
    # Fewer shots never make the prompt longer, so the first fit keeps the most.
    for dropped in range(len(shots)):
        candidate = with_shots(example, shots[dropped:])
        if prompt_tokens(candidate, count_tokens) <= max_tokens:
            return FittedPrompt(candidate, len(shots) - dropped, dropped)
    return FittedPrompt(with_shots(example, []), 0, len(shots))
