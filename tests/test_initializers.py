"""Index-keyed initializers: any block of a weight computes alone, equal to the whole's."""

import keras
import numpy as np
import pytest

from glam_tf import initializers
from glam_tf.model import GlamModel
from glam_tf.presets import PRESETS

INITS = [keras.initializers.TruncatedNormal(stddev=0.5),
         keras.initializers.RandomNormal(0.1, 2.0),
         keras.initializers.RandomUniform(-1.0, 3.0), keras.initializers.Ones()]


@pytest.mark.parametrize("init", INITS, ids=lambda i: type(i).__name__)
def test_any_block_equals_that_block_of_the_whole_weight(init, monkeypatch):
    shape = (12, 10, 8)
    whole = initializers.block(init, 7, shape, (0, 0, 0), shape, "float32").numpy()
    part = initializers.block(init, 7, shape, (4, 3, 2), (6, 5, 4), "float32").numpy()
    np.testing.assert_array_equal(part, whole[4:10, 3:8, 2:6])
    monkeypatch.setattr(initializers, "_CHUNK", 13)  # made in many small pieces
    np.testing.assert_array_equal(
        initializers.block(init, 7, shape, (0, 0, 0), shape, "float32").numpy(), whole)


@pytest.mark.parametrize("init, mean, std, bound", [
    (keras.initializers.TruncatedNormal(stddev=0.5), 0.0, 0.5 * 0.8796, 1.0),
    (keras.initializers.RandomNormal(0.1, 2.0), 0.1, 2.0, None),
    (keras.initializers.RandomUniform(-1.0, 3.0), 1.0, 4.0 / 12 ** 0.5, None)])
def test_draws_follow_the_keras_initializers_distribution(init, mean, std, bound):
    x = initializers.block(init, 3, (1000, 1000), (0, 0), (1000, 1000), "float32").numpy()
    assert abs(x.mean() - mean) < 0.01 * std and abs(x.std() - std) < 0.01 * std
    if bound is not None:  # TruncatedNormal is cut at two standard deviations
        assert np.abs(x).max() <= bound


def test_seeds_differ_by_path_and_run_seed_and_nothing_else():
    seed = initializers.weight_seed
    assert seed(0, "block_0/ffn/wo") == seed(0, "block_0/ffn/wo")
    assert seed(0, "block_0/ffn/wo") != seed(1, "block_0/ffn/wo")
    assert seed(0, "block_0/ffn/wo") != seed(0, "block_1/ffn/wo")


def test_a_declared_model_holds_no_values_until_created():
    config = PRESETS["glam_tiny"]
    with initializers.declared():
        model = GlamModel(config)
    assert all(v._value is None for v in model.variables)
    initializers.create(model.variables, initializers.seeds_of(model, 0))
    assert all(v._value is not None for v in model.variables)
    with keras.StatelessScope():  # leaving a scope initializes Keras' pending variables
        pass
    # Same seed, same values: a second model drawn alike equals the first.
    with initializers.declared():
        again = GlamModel(config)
    initializers.create(again.variables, initializers.seeds_of(again, 0))
    for a, b in zip(model.weights, again.weights):
        if "seed" not in a.path:
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
