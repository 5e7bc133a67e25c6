import numpy as np
import tensorflow as tf

from glam_tf.training.optimizer import Adafactor, GlamSchedule


def _numpy_adafactor(w, grads, lr, decay_exponent=-0.8, max_decay=0.99, clip=1.0, eps=1e-30):
    """Reference Adafactor on one matrix, unfactored maths written out per step."""
    row = np.zeros(w.shape[0])
    col = np.zeros(w.shape[1])
    for t, g in enumerate(grads, start=1):
        beta = min(1 - t ** decay_exponent, max_decay)
        g2 = g ** 2 + eps
        row = beta * row + (1 - beta) * g2.mean(axis=1)
        col = beta * col + (1 - beta) * g2.mean(axis=0)
        v = np.outer(row, col) / row.mean()
        u = g / np.sqrt(v)
        u /= max(1.0, np.sqrt((u ** 2).mean()) / clip)
        w = w - lr * u
    return w


def test_adafactor_matches_numpy_reference_on_a_matrix_and_a_vector():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    b0 = rng.normal(size=(3,)).astype(np.float32)
    grads = [rng.normal(size=(4, 3)) for _ in range(5)]
    bgrads = [rng.normal(size=(3,)) for _ in range(5)]
    w, b = tf.Variable(w0), tf.Variable(b0)
    optimizer = Adafactor(learning_rate=0.1)
    for g, gb in zip(grads, bgrads):
        optimizer.apply_gradients([(tf.constant(g, tf.float32), w),
                                   (tf.constant(gb, tf.float32), b)])
    np.testing.assert_allclose(w.numpy(), _numpy_adafactor(w0, grads, 0.1), rtol=1e-4, atol=1e-5)
    # rank-1: unfactored second moment
    v = np.zeros(3)
    expected = b0.astype(np.float64)
    for t, g in enumerate(bgrads, start=1):
        beta = min(1 - t ** -0.8, 0.99)
        v = beta * v + (1 - beta) * (g ** 2 + 1e-30)
        u = g / np.sqrt(v)
        u /= max(1.0, np.sqrt((u ** 2).mean()))
        expected = expected - 0.1 * u
    np.testing.assert_allclose(b.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_adafactor_keeps_factored_slots_for_expert_weights():
    w = tf.Variable(tf.zeros([8, 16, 32]))
    optimizer = Adafactor()
    optimizer.build([w])
    sizes = sorted(int(np.prod(v.shape)) for v in optimizer.variables if v.shape.rank)
    assert sizes == [8 * 16, 8 * 32]


def test_schedule_is_constant_then_inverse_square_root():
    schedule = GlamSchedule(peak=0.01, constant_steps=10_000)
    assert float(schedule(0)) == np.float32(0.01)
    assert abs(float(schedule(9_999)) - 0.01) < 1e-9
    np.testing.assert_allclose(float(schedule(39_999)), 1 / np.sqrt(40_000), rtol=1e-6)


def test_schedule_warms_up_linearly():
    schedule = GlamSchedule(peak=0.01, constant_steps=100, warmup_steps=10)
    np.testing.assert_allclose([float(schedule(s)) for s in (0, 4, 9, 50)],
                               [0.001, 0.005, 0.01, 0.01], rtol=1e-6)


def test_adafactor_stays_finite_for_weights_whose_gradient_is_always_zero():
    # Unused embedding rows: their second moments sink to epsilon (1e-30);
    # the update must stay 0, not 0 * inf.
    w = tf.Variable(tf.ones([6, 4]))
    optimizer = Adafactor(learning_rate=0.1)
    grad = np.zeros((6, 4), np.float32)
    for _ in range(50):
        optimizer.apply_gradients([(tf.constant(grad), w)])
    np.testing.assert_array_equal(w.numpy(), np.ones((6, 4)))
    grad[0] = 1.0  # one row used, the rest never
    for _ in range(50):
        optimizer.apply_gradients([(tf.constant(grad), w)])
    assert np.isfinite(w.numpy()).all() and (w.numpy()[1:] == 1).all()


def test_adam_matches_keras_adam_on_plain_variables():
    import keras

    from glam_tf.training.optimizer import Adam

    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(4)]
    ours, theirs = tf.Variable(np.ones((4, 3), np.float32)), tf.Variable(np.ones((4, 3), np.float32))
    mine, keras_adam = Adam(0.01), keras.optimizers.Adam(0.01)
    for g in grads:
        mine.apply_gradients([(tf.constant(g), ours)])
        keras_adam.apply_gradients([(tf.constant(g), theirs)])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
