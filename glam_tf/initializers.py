"""Weights as pure functions of (seed, element index): any block computes alone.

A model too large for one host cannot be initialized whole and then cut up.
Here each element of a weight is drawn from a counter-based hash of its flat
index in the full weight and the weight's own seed, so any block of it, say
the experts one device holds, can be computed without the rest, and equals
that block of the whole weight bit for bit. The one-device path and every
mesh use the same draws, so a sharded model starts exactly where the
unsharded one does.

Keras declares the variables: built under `declared()`, layers' `add_weight`
calls record shape, dtype and initializer but allocate nothing; `block()`
then turns a Keras initializer (TruncatedNormal, RandomNormal, RandomUniform,
Zeros, Ones, Constant) into the values of a block. The distributions are
Keras' own (TruncatedNormal cut at two standard deviations); only the random
stream differs from Keras', so `GlamModel(config)` built directly draws other
(equally distributed) values than a model created here.
"""

from __future__ import annotations

import contextlib
import hashlib
import math

import keras
import tensorflow as tf
from keras.src.backend.common import global_state

# Elements generated per piece: bounds the int64/uint64 temporaries of a block.
_CHUNK = 1 << 20
_PHI_MINUS_2 = 0.5 * math.erfc(2.0 / math.sqrt(2.0))  # P(Z < -2), TruncatedNormal's cut


@contextlib.contextmanager
def declared():
    """Keras variables created inside are declared only: shape and initializer, no value."""
    with keras.StatelessScope(initialize_variables=False):
        yield


def mark_created(variables):
    """Drops created variables from Keras' list of variables still to initialize
    (a later StatelessScope exit would otherwise initialize them a second time)."""
    done = {id(v) for v in variables}
    pending = global_state.get_global_attribute("uninitialized_variables") or []
    global_state.set_global_attribute("uninitialized_variables",
                                      [v for v in pending if id(v) not in done])


def weight_seed(seed: int, path: str) -> int:
    """A 63-bit seed for the weight at `path` of a run with `seed`."""
    digest = hashlib.sha256(f"{seed}:{path}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def relative_path(model, variable) -> str:
    """The variable's path without the model's own (auto-numbered) name."""
    prefix = f"{model.name}/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path


def seeds_of(model, seed: int):
    """variable -> its seed in `model` for a run with `seed`: one draw per weight path."""
    return lambda variable: weight_seed(seed, relative_path(model, variable))


def block(initializer, seed: int, shape, start, size, dtype):
    """Elements [start, start + size) of the weight `initializer` makes of `shape`.

    An initializer this module cannot index (a routers' seed state) is made
    whole and sliced: only tiny non-weights have one.
    """
    shape, start, size = tuple(map(int, shape)), tuple(map(int, start)), tuple(map(int, size))
    dtype = tf.as_dtype(keras.backend.standardize_dtype(dtype))
    config = initializer.get_config() if hasattr(initializer, "get_config") else {}
    kind = type(initializer).__name__
    if kind == "Zeros":
        return tf.zeros(size, dtype)
    if kind == "Ones":
        return tf.ones(size, dtype)
    if kind == "Constant":
        return tf.fill(size, tf.cast(config["value"], dtype))
    if kind not in ("RandomNormal", "TruncatedNormal", "RandomUniform"):
        whole = tf.convert_to_tensor(initializer(shape, dtype=dtype))
        return whole[tuple(slice(b, b + n) for b, n in zip(start, size))]
    if math.prod(size) <= _CHUNK:
        return tf.cast(tf.cast(_transform(kind, config, _uniform(seed, shape, start, size)),
                               tf.float32), dtype)
    # Pieces along the first dimension longer than 1, to bound the temporaries.
    lead = next(d for d, n in enumerate(size) if n > 1)
    rows = max(1, _CHUNK // (math.prod(size) // size[lead]))
    pieces = []
    for offset in range(0, size[lead], rows):
        piece_start, piece_size = list(start), list(size)
        piece_start[lead] += offset
        piece_size[lead] = min(rows, size[lead] - offset)
        u = _uniform(seed, shape, piece_start, piece_size)
        pieces.append(tf.cast(tf.cast(_transform(kind, config, u), tf.float32), dtype))
    return tf.concat(pieces, axis=lead)


def _transform(kind, config, u):
    """Uniform (0, 1) draws -> the initializer's distribution, by inverse CDF.

    In float64, then rounded: Eigen's vectorized and scalar ndtri differ in
    the last bit, which float32 rounding hides (else an element's value would
    depend on where a block starts).
    """
    if kind == "RandomUniform":
        return config["minval"] + (config["maxval"] - config["minval"]) * u
    u = tf.cast(u, tf.float64)
    if kind == "TruncatedNormal":
        u = _PHI_MINUS_2 + (1.0 - 2.0 * _PHI_MINUS_2) * u
    return config["mean"] + config["stddev"] * tf.math.ndtri(u)


def _uniform(seed, shape, start, size):
    """float32 in (0, 1) for elements [start, start + size) of `shape`: a
    SplitMix64 hash of (seed, flat index), so equal for every way of cutting."""
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    index = tf.zeros([1] * len(size), tf.int64)
    for d, (begin, count) in enumerate(zip(start, size)):
        axis = tf.range(begin, begin + count, dtype=tf.int64) * strides[d]
        index = index + tf.reshape(axis, [count if e == d else 1 for e in range(len(size))])
    z = tf.cast(index, tf.uint64) + tf.constant(seed * 0x9E3779B97F4A7C15 % (1 << 64), tf.uint64)
    z = _mix(z, 30, 0xBF58476D1CE4E5B9)
    z = _mix(z, 27, 0x94D049BB133111EB)
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(31, tf.uint64)))
    top = tf.cast(tf.bitwise.right_shift(z, tf.constant(40, tf.uint64)), tf.float32)
    return (top + 0.5) * (1.0 / (1 << 24))  # 24 bits: exact in float32, never 0 or 1


def _mix(z, shift, multiplier):
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, tf.constant(shift, tf.uint64)))
    return z * tf.constant(multiplier, tf.uint64)


def create(variables, seed_of):
    """Gives each declared Keras variable its whole value on this host.

    seed_of(variable) -> the variable's seed (see `weight_seed`).
    """
    variables = [v for v in variables if v._value is None]
    for variable in variables:
        shape = tuple(variable.shape)
        value = block(variable._initializer, seed_of(variable), shape, (0,) * len(shape),
                      shape, variable.dtype)
        variable._initialize(value)
        variable._initializer = None
    mark_created(variables)
