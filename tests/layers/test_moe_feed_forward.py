import keras
import numpy as np
import pytest
import tensorflow as tf

from glam_tf.layers.moe_feed_forward import MoeFeedForward
from glam_tf.layers.routing import expert_capacity

M, H, E = 16, 24, 4


def _pair(**kwargs):
    """An einsum and a gather layer with identical weights."""
    args = dict(num_experts=E, d_ff=H, group_size=8, **kwargs)
    einsum = MoeFeedForward(dispatch="einsum", **args)
    gather = MoeFeedForward(dispatch="gather", **args)
    for layer in (einsum, gather):
        layer.build((None, None, M))
    gather.set_weights(einsum.get_weights())
    # Spread the gate so that routing is decisive and overflow happens.
    einsum.router.kernel.assign(einsum.router.kernel * 30.0)
    gather.router.kernel.assign(einsum.router.kernel)
    return einsum, gather


def _numpy_reference(layer, x, padding_mask, training):
    """Per token: sum over its kept choices of gate * expert(x), by plain loops."""
    tokens = x.reshape(-1, M)
    real = padding_mask.reshape(-1).astype(np.float32)
    s = layer.group_size
    g = tokens.shape[0] // s
    factor = layer.train_capacity_factor if training else layer.eval_capacity_factor
    capacity = expert_capacity(s, E, factor, layer.min_expert_capacity)
    routing, _ = layer.router(tokens.reshape(g, s, M), real.reshape(g, s),
                              capacity=capacity, training=training)
    wi, wo = layer.wi_0.numpy(), layer.wo.numpy()
    act = lambda v: np.asarray(tf.nn.gelu(v, approximate=True))
    y = np.zeros_like(tokens)
    for t in range(tokens.shape[0]):
        for k in range(layer.top_k):
            if routing.kept.numpy().reshape(-1, layer.top_k)[t, k]:
                e = routing.expert_index.numpy().reshape(-1, layer.top_k)[t, k]
                gate = routing.gate.numpy().reshape(-1, layer.top_k)[t, k]
                y[t] += gate * (act(tokens[t] @ wi[e]) @ wo[e])
    return y.reshape(x.shape), routing


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("dispatch", ["einsum", "gather"])
def test_moe_output_matches_plain_loop_reference_with_drops_and_padding(top_k, dispatch):
    layers = dict(zip(["einsum", "gather"], _pair(top_k=top_k, train_capacity_factor=1.0,
                                                  min_expert_capacity=1)))
    layer = layers[dispatch]
    x = np.random.default_rng(0).normal(size=(3, 8, M)).astype(np.float32)
    padding = np.ones((3, 8), np.float32)
    padding[1, 5:] = 0
    y, stats = layer(x, padding, training=True)
    expected, routing = _numpy_reference(layer, x, padding, training=True)
    assert not routing.kept.numpy().all(), "the case must drop some choices"
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert float(stats.over_capacity[0]) > 0 or float(stats.over_capacity[-1]) > 0


@pytest.mark.parametrize("expert_activation", ["gelu", "relu", "gated_gelu"])
@pytest.mark.parametrize("policy", ["all", "random"])
def test_einsum_and_gather_dispatch_give_same_outputs_and_gradients(expert_activation, policy):
    einsum, gather = _pair(expert_activation=expert_activation, second_expert_policy=policy,
                           train_capacity_factor=1.0, min_expert_capacity=1, seed=7)
    # 20 tokens in groups of 8: the last group is padded inside the layer.
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 10, M)), tf.float32)
    padding = tf.constant(np.r_[np.ones(17), np.zeros(3)].reshape(2, 10), tf.float32)
    results = []
    for layer in (einsum, gather):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, stats = layer(x, padding, training=True)
            loss = tf.reduce_sum(tf.square(y) * padding[..., None]) + stats.aux_loss
        grads = tape.gradient(loss, [x] + layer.trainable_weights)
        results.append((y, grads, stats))
    (y_e, g_e, s_e), (y_g, g_g, s_g) = results
    np.testing.assert_allclose(y_e, y_g, rtol=1e-5, atol=1e-6)
    for a, b, name in zip(g_e, g_g, ["x"] + [w.path for w in einsum.trainable_weights]):
        assert a is not None and b is not None, name
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b),
                                   rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(s_e.expert_load, s_g.expert_load)


@pytest.mark.parametrize("dispatch", ["einsum", "gather"])
def test_dropless_mode_drops_nothing_where_capacity_would(dispatch):
    layer = dict(zip(["einsum", "gather"], _pair(train_capacity_factor=0.5,
                                                 min_expert_capacity=1)))[dispatch]
    x = np.random.default_rng(2).normal(size=(2, 8, M)).astype(np.float32)
    _, limited = layer(x, training=True)
    assert float(tf.reduce_sum(limited.over_capacity)) > 0
    y, dropless = layer(x, training=True, dropless=True)
    np.testing.assert_array_equal(dropless.over_capacity, [0.0, 0.0])
    np.testing.assert_allclose(dropless.fraction_routed, [0.0, 0.0, 1.0])
    expected, _ = _numpy_reference(
        MoeFeedForwardView(layer, capacity_factor=None), x, np.ones((2, 8)), training=False)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


class MoeFeedForwardView:
    """The layer's weights and router, seen with another eval capacity factor."""

    def __init__(self, layer, capacity_factor):
        self._layer = layer
        self.eval_capacity_factor = capacity_factor

    def __getattr__(self, name):
        return getattr(self._layer, name)


def test_eval_uses_dropless_routing_by_default():
    layer = MoeFeedForward(num_experts=E, d_ff=H, group_size=8, train_capacity_factor=0.5,
                           min_expert_capacity=1)
    x = np.random.default_rng(3).normal(size=(2, 8, M)).astype(np.float32) * 5
    layer.build((None, None, M))
    layer.router.kernel.assign(layer.router.kernel * 30.0)
    _, stats = layer(x, training=False)
    np.testing.assert_array_equal(stats.over_capacity, [0.0, 0.0])


def test_padding_tokens_take_no_capacity_and_do_not_change_real_outputs():
    einsum, _ = _pair(train_capacity_factor=1.0, min_expert_capacity=1)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 8, M)).astype(np.float32)
    padding = np.array([[0, 0, 0, 1, 1, 1, 1, 1]], np.float32)
    y1, s1 = einsum(x, padding, training=True)
    x2 = x.copy()
    x2[0, :3] = rng.normal(size=(3, M)) * 10  # different padding content
    y2, s2 = einsum(x2, padding, training=True)
    np.testing.assert_allclose(y1[0, 3:], y2[0, 3:], rtol=1e-6)
    np.testing.assert_allclose(s1.aux_loss, s2.aux_loss, rtol=1e-6)
    np.testing.assert_array_equal(y1[0, :3], np.zeros((3, M)))


def test_gradients_reach_the_gate_and_every_expert():
    layer, _ = _pair()
    x = tf.constant(np.random.default_rng(5).normal(size=(4, 8, M)), tf.float32)
    with tf.GradientTape() as tape:
        y, stats = layer(x, training=True)
        loss = tf.reduce_sum(y * y) + stats.aux_loss
    grads = tape.gradient(loss, layer.trainable_weights)
    for weight, grad in zip(layer.trainable_weights, grads):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0, weight.path


def test_one_token_input_routes_like_decoding():
    layer, _ = _pair()
    x = np.random.default_rng(6).normal(size=(1, 1, M)).astype(np.float32)
    y, stats = layer(x, training=False, dropless=True)
    assert y.shape == (1, 1, M)
    np.testing.assert_allclose(stats.fraction_routed, [0.0, 0.0, 1.0])


def test_works_with_unknown_batch_and_length_in_a_graph():
    layer, _ = _pair()
    fn = tf.function(lambda x: layer(x, training=False)[0],
                     input_signature=[tf.TensorSpec([None, None, M], tf.float32)])
    x = np.random.default_rng(7).normal(size=(3, 5, M)).astype(np.float32)
    np.testing.assert_allclose(fn(x), layer(x, training=False)[0], rtol=1e-5, atol=1e-6)


def test_bfloat16_compute_keeps_float32_weights_and_tracks_float32_output():
    args = dict(num_experts=E, d_ff=H, group_size=8)
    full = MoeFeedForward(**args)
    half = MoeFeedForward(dtype="mixed_bfloat16", **args)
    for layer in (full, half):
        layer.build((None, None, M))
    half.set_weights(full.get_weights())
    assert all(w.dtype == "float32" for w in half.weights)
    x = np.random.default_rng(8).normal(size=(2, 8, M)).astype(np.float32)
    y_half, _ = half(x)
    assert y_half.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(y_half, tf.float32), full(x)[0], rtol=0.1, atol=0.05)


def test_unknown_dispatch_mode_is_rejected():
    with pytest.raises(ValueError, match="dispatch='dense'"):
        MoeFeedForward(num_experts=E, d_ff=H, dispatch="dense")


def test_layer_builds_on_first_call_with_a_padding_mask():
    layer = MoeFeedForward(num_experts=E, d_ff=H, group_size=8)
    x = np.random.default_rng(9).normal(size=(2, 4, M)).astype(np.float32)
    y, _ = layer(x, np.ones((2, 4), np.float32))
    assert y.shape == (2, 4, M) and layer.built


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "unknown_length"])
def test_no_tokens_give_an_empty_output_not_a_division_by_zero(compiled):
    # A request that scores only empty candidates extends the cache by 0 tokens.
    for layer in _pair():
        call = lambda x, mask: layer(x, padding_mask=mask)[0]
        if compiled:
            call = tf.function(call, input_signature=[tf.TensorSpec([None, None, M]),
                                                      tf.TensorSpec([None, None], tf.int32)])
        for shape in ([2, 0], [0, 3]):
            y = call(tf.zeros(shape + [M]), tf.ones(shape, tf.int32))
            assert y.shape == tuple(shape) + (M,)
