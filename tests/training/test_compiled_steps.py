"""`jit_compile`: the XLA-compiled train and eval steps against the plain tf.function ones."""

import dataclasses

import numpy as np
import pytest

from test_trainer import RUN, SMALL, _trainer as _checked_trainer

# XLA fuses ops and reorders float32 reductions, so results differ from the
# plain step by rounding only: a few float32 ulps per op. After two steps the
# largest weight difference seen was 3e-7 (weights are O(0.1-1)).
RTOL, ATOL = 1e-5, 1e-6


def _trainer(tmp_path, name, dispatch, jit, config=SMALL):
    run = dataclasses.replace(RUN, dispatch=dispatch, jit_compile=jit)
    return _checked_trainer(tmp_path / name, config, run)


@pytest.mark.parametrize("dispatch", ["gather", "einsum"])
def test_xla_steps_give_the_plain_steps_losses_weights_and_validation_loss(tmp_path, dispatch):
    plain = _trainer(tmp_path, "plain", dispatch, jit=False)
    compiled = _trainer(tmp_path, "xla", dispatch, jit=True)
    for before, after in zip(plain.model.weights, compiled.model.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())  # same initial weights
    for _ in range(2):
        batch = next(plain.data)  # one batch for both
        expected, expected_routing = plain.train_step(batch)
        got, routing = compiled.train_step(batch)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], RTOL, ATOL, err_msg=name)
        np.testing.assert_allclose(routing[0].expert_load, expected_routing[0].expert_load,
                                   RTOL, ATOL)
    for want, have in zip(plain.model.weights, compiled.model.weights):
        np.testing.assert_allclose(have.numpy(), want.numpy(), RTOL, ATOL, err_msg=want.path)
    assert int(compiled.optimizer.iterations) == 2 and int(compiled.skipped) == 0
    np.testing.assert_allclose(compiled.validation_loss(), plain.validation_loss(), RTOL)


@pytest.mark.parametrize("policy", ["sampling", "random"])
def test_the_step_compiles_whole_under_the_random_second_expert_policies(tmp_path, policy):
    # Their noise is drawn by stateless random ops, which XLA compiles; XLA's
    # generator gives other numbers than TensorFlow's kernels for the same
    # seed, so the compiled step is not compared with the plain one here.
    config = dataclasses.replace(SMALL, second_expert_policy=policy)
    trainer = _trainer(tmp_path, policy, "gather", jit=True, config=config)
    batch = next(trainer.data)
    hlo = trainer._train_step.experimental_get_compiler_ir(batch)(stage="hlo")
    assert "HloModule" in hlo
    parts, _ = trainer.train_step(batch)
    assert np.isfinite(float(parts["loss"])) and int(trainer.skipped) == 0
