"""Several train steps in one tf.function call, so the host waits once per loop.

What Keras calls steps_per_execution. On one device (`make_train_loop`) a
tf.while_loop takes each step's batch from the train iterator inside the
function and runs the (plain or XLA-compiled) step on it; the iterator op
stays outside XLA (it cannot compile), the step inside. On a DTensor mesh
(`make_stacked_loop`) the host lays the loop's N batches out as one
[N, B, ...] DTensor and the function runs the step on each of its N slices:
no iterator inside a mesh function. Either way every step's outputs come
back stacked, so the host can log any step of the loop exactly, not an
average.
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


def make_stacked_loop(step, read_counters):
    """A tf.function `loop(stacked)`: one step per slice of `stacked`, a dict of
    [N, ...] tensors holding N consecutive batches (`Sharding.shard_steps`).

    step(batch) -> (parts, routing), a plain Python function traced into the
    loop (a nested tf.function call failed in DTensor's
    PropagateDeviceIdToFunctionArgs pass); read_counters() ->
    (iterations, skipped). Returns StepOutputs stacked over the N steps.

    A tf.while_loop over the N slices (tf.gather of slice i), with each
    step's outputs written into [N, ...] tensors (tensor_scatter_nd_update).
    Not a Python loop of N steps in one graph: on a DTensor mesh, the second
    of two unrolled glam_tiny steps read the weights as they were before the
    call (its loss equalled the first's on the same batch); in a while
    loop each iteration sees the previous one's updates.
    """
    def loop(stacked):
        count = tf.nest.flatten(stacked)[0].shape[0]
        spec = {key: tf.TensorSpec(value.shape[1:], value.dtype)
                for key, value in stacked.items()}
        parts, routing = tf.function(step).get_concrete_function(spec).structured_outputs
        stacks = tf.nest.map_structure(
            lambda x: tf.zeros([count] + x.shape.as_list(), x.dtype),
            StepOutputs(parts, routing, *read_counters()))

        def body(i, stacks):
            parts, routing = step({key: tf.gather(value, i) for key, value in stacked.items()})
            # Read after the step: automatic control dependencies order these
            # reads after the step's writes to the same variables.
            outputs = StepOutputs(parts, routing, *read_counters())
            return i + 1, tf.nest.map_structure(
                lambda stack, x: tf.tensor_scatter_nd_update(stack, [[i]], [x]), stacks, outputs)

        _, stacks = tf.while_loop(lambda i, _: i < count, body, (tf.constant(0), stacks))
        return stacks

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
