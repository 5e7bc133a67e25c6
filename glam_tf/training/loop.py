"""Several train steps in one tf.function call, so the host waits once per loop.

What Keras calls steps_per_execution: a tf.while_loop takes each step's batch
from the train iterator inside the function and runs the (plain or
XLA-compiled) step on it. The iterator op stays outside XLA (it cannot
compile), the step inside. Every step's outputs come back stacked, so the
host can log any step of the loop exactly, not an average.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf


class StepOutputs(NamedTuple):
    """What one train step reports; in `stacked` form each leaf has a leading [N] axis."""
    parts: dict        # loss parts of `lm_loss`, scalars
    routing: tuple     # RoutingStats of each MoE layer
    iterations: object  # optimizer updates made after this step (skipped steps make none)
    skipped: object     # skipped steps counted after this step


def make_train_loop(step, iterator, read_counters):
    """A tf.function `loop(count)`: `count` steps on batches of `iterator`.

    step: a tf.function step(batch) -> (parts, routing);
    read_counters() -> (iterations, skipped).
    Returns StepOutputs stacked over the steps, in their order.
    """
    def one_step():
        parts, routing = step(next(iterator))
        # Read after the step: automatic control dependencies order these
        # reads after the step's writes to the same variables.
        return StepOutputs(parts, routing, *read_counters())

    def loop(count):
        # Every step runs in the loop's body, none peeled off before it: grappler
        # rewrites the step graph differently inside a while body than outside,
        # which changed float32 rounding, so a step's result would depend on
        # its place in the loop (and so on N) had the first one been peeled.
        parts, routing = step.get_concrete_function(iterator.element_spec).structured_outputs
        arrays = tf.nest.map_structure(
            lambda x: tf.TensorArray(x.dtype, size=count, element_shape=x.shape),
            StepOutputs(parts, routing, *read_counters()))

        def body(i, arrays):
            outputs = one_step()
            return i + 1, tf.nest.map_structure(lambda a, x: a.write(i, x), arrays, outputs)

        _, arrays = tf.while_loop(lambda i, _: i < count, body, (tf.constant(0), arrays))
        return tf.nest.map_structure(lambda a: a.stack(), arrays)

    return tf.function(loop)


def unstack(stacked) -> list:
    """Stacked StepOutputs (tensors) -> one StepOutputs of numpy values per step."""
    stacked = tf.nest.map_structure(np.asarray, stacked)
    count = len(stacked.iterations)
    return [tf.nest.map_structure(lambda x: x[k], stacked) for k in range(count)]


def crosses(start: int, end: int, every: int) -> bool:
    """True when a multiple of `every` lies in (start, end]: the loop that ran
    steps start+1..end passed an every-th step (with one step per loop: end % every == 0)."""
    return end // every > start // every
