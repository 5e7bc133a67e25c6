"""Tests of `glam_tf.layers.routing` against a plain-loop numpy reference and hand cases."""

import importlib.util
import math
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from glam_tf.layers.routing import expert_capacity, top_k_routing  # noqa: E402


def _load_reference():
    """Loads reference_routing.py by path: works with or without __init__.py files."""
    path = pathlib.Path(__file__).resolve().with_name("reference_routing.py")
    spec = importlib.util.spec_from_file_location("glam_tf_tests_reference_routing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_top_k_routing = _load_reference().reference_top_k_routing

ROUTING_FIELDS = ("expert_index", "position", "gate", "kept")


def _route(logits, padding_mask, **kwargs):
    """top_k_routing with numpy in and out: dict of all Routing and RoutingStats fields."""
    routing, stats = top_k_routing(tf.constant(logits, tf.float32),
                                   tf.constant(padding_mask, tf.float32), **kwargs)
    out = {name: np.asarray(value) for name, value in routing._asdict().items()}
    out.update({name: np.asarray(value) for name, value in stats._asdict().items()})
    return out


def _assert_matches_reference(got, want, context=""):
    kept = want["kept"]
    np.testing.assert_array_equal(got["kept"], kept, err_msg=f"kept {context}")
    np.testing.assert_array_equal(got["expert_index"], want["expert_index"],
                                  err_msg=f"expert_index {context}")
    np.testing.assert_array_equal(got["position"][kept], want["position"][kept],
                                  err_msg=f"position of kept choices {context}")
    np.testing.assert_allclose(got["gate"], want["gate"], rtol=1e-5, atol=1e-7,
                               err_msg=f"gate {context}")
    for name in ("aux_loss", "router_z_loss", "fraction_routed", "expert_load",
                 "over_capacity", "router_entropy"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-7,
                                   err_msg=f"{name} {context}")


def _routing_case(shape, padded, seed, policy):
    """Random logits, padding mask and the policy's noise."""
    rng = np.random.default_rng(seed)
    g, s, e = shape
    logits = (2.0 * rng.normal(size=shape)).astype(np.float32)
    mask = np.ones((g, s), np.float32)
    for group, token in padded:
        mask[group, token] = 0.0
    noise = None
    if policy == "sampling":
        uniform = rng.uniform(1e-6, 1.0 - 1e-6, size=shape)
        noise = (-np.log(-np.log(uniform))).astype(np.float32)
    elif policy == "random":
        noise = rng.uniform(0.0, 1.0, size=(g, s)).astype(np.float32)
    return logits, mask, noise


# (G, S, E) and the padded (group, token) pairs.
SHAPES = {
    "G3_S16_E8": ((3, 16, 8), [(1, t) for t in range(11, 16)] + [(2, 0), (2, 7)]),
    "G2_S7_E4": ((2, 7, 4), [(1, 2), (1, 6), (0, 0)]),
    "G3_S5_E4_one_group_all_padding": ((3, 5, 4), [(2, t) for t in range(5)] + [(0, 3)]),
}
POLICIES = [  # (top_k, policy, threshold)
    (1, "all", 0.2),
    (2, "all", 0.2),
    (2, "sampling", 0.2),
    (2, "random", 0.2),
    (2, "random", 1.0),  # gate2 < 1: the second choice is often not wanted
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("capacity_kind", ["tight", "factor_1", "ample"])
@pytest.mark.parametrize("top_k,policy,threshold", POLICIES)
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_routing_matches_numpy_reference_on_random_logits(shape_name, top_k, policy,
                                                          threshold, capacity_kind, seed):
    shape, padded = SHAPES[shape_name]
    _, s, e = shape
    capacity = {"tight": 1, "factor_1": expert_capacity(s, e, 1.0, 1), "ample": s}[capacity_kind]
    logits, mask, noise = _routing_case(shape, padded, seed, policy)
    kwargs = dict(top_k=top_k, capacity=capacity, second_expert_policy=policy,
                  second_expert_threshold=threshold, noise=noise)
    got = _route(logits, mask, **kwargs)
    want = reference_top_k_routing(logits, mask, **kwargs)
    _assert_matches_reference(got, want, f"({shape_name}, {policy}, C={capacity})")
    if capacity_kind == "tight":
        assert want["over_capacity"][0] > 0, "the tight case must drop first choices"


def test_reference_random_cases_cover_unwanted_second_choices_and_sampling_changes_choice():
    """Sanity of the random cases: the noise matters under both policies."""
    shape, padded = SHAPES["G3_S16_E8"]
    logits, mask, noise = _routing_case(shape, padded, 0, "random")
    want = reference_top_k_routing(logits, mask, top_k=2, capacity=16,
                                   second_expert_policy="random", second_expert_threshold=1.0,
                                   noise=noise)
    real = mask > 0
    assert 0 < want["wanted"][..., 1][real].sum() < real.sum()
    logits, mask, noise = _routing_case(shape, padded, 0, "sampling")
    sampled = _route(logits, mask, top_k=2, capacity=16, second_expert_policy="sampling",
                     noise=noise)
    plain = _route(logits, mask, top_k=2, capacity=16)
    assert (sampled["expert_index"][..., 1] != plain["expert_index"][..., 1]).any()
    np.testing.assert_array_equal(sampled["expert_index"][..., 0], plain["expert_index"][..., 0])


def test_hand_set_logits_route_to_expected_experts_with_renormalized_gates():
    logits = np.array([[[0.0, 2.0, 1.0, 3.0],     # experts 3 then 1
                        [5.0, -1.0, 4.0, 0.0],    # experts 0 then 2
                        [0.0, 0.0, 0.0, 0.0]]],   # ties: experts 0 then 1
                      np.float32)
    got = _route(logits, np.ones((1, 3)), top_k=2, capacity=3)
    np.testing.assert_array_equal(got["expert_index"][0], [[3, 1], [0, 2], [0, 1]])
    np.testing.assert_array_equal(got["kept"][0], np.ones((3, 2), bool))
    # Renormalized top-2 gates: e^a / (e^a + e^b) = sigmoid(a - b).
    sigmoid = lambda x: 1.0 / (1.0 + math.exp(-x))
    np.testing.assert_allclose(got["gate"][0],
                               [[sigmoid(1), sigmoid(-1)], [sigmoid(1), sigmoid(-1)],
                                [0.5, 0.5]], rtol=1e-6)
    # Slots: choice 1 of all tokens first (experts 3, 0, 0), then choice 2 (1, 2, 1).
    np.testing.assert_array_equal(got["position"][0], [[0, 0], [0, 0], [1, 1]])

    top1 = _route(logits, np.ones((1, 3)), top_k=1, capacity=3)
    np.testing.assert_array_equal(top1["expert_index"][0, :, 0], [3, 0, 0])
    softmax = lambda row: np.exp(row) / np.exp(row).sum()
    np.testing.assert_allclose(  # top-1 gate is the raw softmax probability
        top1["gate"][0, :, 0],
        [softmax(logits[0, 0].astype(np.float64))[3],
         softmax(logits[0, 1].astype(np.float64))[0], 0.25], rtol=1e-6)


def test_overflow_keeps_first_tokens_of_an_expert_and_drops_the_rest():
    s, e = 5, 4
    logits = np.tile(np.array([3.0, 2.0, 0.0, 0.0], np.float32), (1, s, 1))  # all 0 then 1
    got = _route(logits, np.ones((1, s)), top_k=2, capacity=2)
    np.testing.assert_array_equal(got["expert_index"][0], [[0, 1]] * s)
    np.testing.assert_array_equal(got["kept"][0, :, 0], [True, True, False, False, False])
    np.testing.assert_array_equal(got["kept"][0, :, 1], [True, True, False, False, False])
    np.testing.assert_array_equal(got["position"][0, :2], [[0, 0], [1, 1]])
    assert (got["gate"][0, 2:] == 0).all(), "dropped choices must have gate 0"
    np.testing.assert_allclose(got["fraction_routed"], [3 / 5, 0.0, 2 / 5])
    np.testing.assert_allclose(got["over_capacity"], [3 / 5, 3 / 5])
    np.testing.assert_allclose(got["expert_load"], [0.5, 0.5, 0.0, 0.0])


def test_later_first_choice_takes_the_slot_before_earlier_second_choice():
    logits = np.array([[[2.0, 3.0, 0.0],     # token 0: expert 1, then expert 0
                        [3.0, 0.0, 2.0]]],   # token 1: expert 0, then expert 2
                      np.float32)
    got = _route(logits, np.ones((1, 2)), top_k=2, capacity=1)
    np.testing.assert_array_equal(got["expert_index"][0], [[1, 0], [0, 2]])
    # Expert 0's only slot goes to token 1's first choice, not token 0's second.
    np.testing.assert_array_equal(got["kept"][0], [[True, False], [True, True]])
    np.testing.assert_array_equal(got["position"][0][got["kept"][0]], [0, 0, 0])
    assert got["gate"][0, 0, 1] == 0.0
    np.testing.assert_allclose(got["over_capacity"], [0.0, 0.5])
    np.testing.assert_allclose(got["fraction_routed"], [0.0, 0.5, 0.5])


@pytest.mark.parametrize("top_k", [1, 2])
def test_capacity_larger_than_group_drops_nothing(top_k):
    s, e = 3, 8
    capacity = expert_capacity(s, e, 2.0, 16)
    assert capacity == s
    logits = np.zeros((2, s, e), np.float32)  # every token ties: experts 0 (then 1)
    for c in (capacity, 16):  # also a capacity above S passed directly
        got = _route(logits, np.ones((2, s)), top_k=top_k, capacity=c)
        assert got["kept"].all()
        np.testing.assert_array_equal(got["position"][..., 0], [[0, 1, 2]] * 2)
        np.testing.assert_allclose(got["over_capacity"], np.zeros(top_k))
        np.testing.assert_allclose(got["fraction_routed"][-1], 1.0)


@pytest.mark.parametrize("top_k", [1, 2])
def test_one_token_groups_route_and_match_reference(top_k):
    logits = np.random.default_rng(3).normal(size=(4, 1, 4)).astype(np.float32)
    mask = np.array([[1.0], [1.0], [0.0], [1.0]])
    capacity = expert_capacity(1, 4, 2.0, 4)
    assert capacity == 1
    got = _route(logits, mask, top_k=top_k, capacity=capacity)
    want = reference_top_k_routing(logits, mask, top_k=top_k, capacity=capacity)
    _assert_matches_reference(got, want, "(S=1)")
    np.testing.assert_array_equal(got["kept"][..., 0], mask > 0)
    np.testing.assert_array_equal(got["position"][got["kept"]], 0)


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("worst_case", [False, True])
def test_dropless_capacity_keeps_every_choice_of_every_real_token(top_k, worst_case):
    g, s, e = 2, 12, 4
    capacity = expert_capacity(s, e, None, 4)
    assert capacity == s
    if worst_case:  # every token wants expert 0, then expert 1
        logits = np.tile(np.array([2.0, 1.0, 0.0, 0.0], np.float32), (g, s, 1))
    else:
        logits = (3.0 * np.random.default_rng(5).normal(size=(g, s, e))).astype(np.float32)
    mask = np.ones((g, s), np.float32)
    mask[1, 9:] = 0
    got = _route(logits, mask, top_k=top_k, capacity=capacity)
    np.testing.assert_array_equal(got["kept"], np.repeat(mask[..., None] > 0, top_k, -1))
    np.testing.assert_array_equal(got["over_capacity"], np.zeros(top_k))
    np.testing.assert_allclose(got["fraction_routed"], np.eye(top_k + 1)[top_k])


def test_padding_tokens_are_never_kept_and_take_no_slot():
    # Tokens 0 and 2 are padding; every token picks expert 0 then expert 1.
    logits = np.tile(np.array([2.0, 1.0, 0.0], np.float32), (1, 4, 1))
    mask = np.array([[0.0, 1.0, 0.0, 1.0]])
    got = _route(logits, mask, top_k=2, capacity=2)
    np.testing.assert_array_equal(got["kept"][0], [[False, False], [True, True],
                                                   [False, False], [True, True]])
    assert (got["gate"][0, [0, 2]] == 0).all()
    # The real tokens 1 and 3 get slots 0 and 1, not shifted by the padding before them.
    np.testing.assert_array_equal(got["position"][0, [1, 3]], [[0, 0], [1, 1]])
    np.testing.assert_allclose(got["fraction_routed"], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(got["over_capacity"], [0.0, 0.0])


@pytest.mark.parametrize("top_k", [1, 2])
def test_padding_token_logits_do_not_change_losses_or_stats(top_k):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(2, 6, 4)).astype(np.float32)
    mask = np.ones((2, 6), np.float32)
    mask[0, [1, 4]] = 0
    mask[1, 5] = 0
    other = logits.copy()
    other[mask == 0] = 50.0 * rng.normal(size=(int((mask == 0).sum()), 4))
    kwargs = dict(top_k=top_k, capacity=2)
    a, b = _route(logits, mask, **kwargs), _route(other, mask, **kwargs)
    for name in ("aux_loss", "router_z_loss", "fraction_routed", "expert_load",
                 "over_capacity", "router_entropy"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, err_msg=name)
    real = mask > 0
    for name in ("kept", "gate"):
        np.testing.assert_array_equal(a[name][real], b[name][real], err_msg=name)
    assert not b["kept"][~real].any()


def test_all_padding_gives_zero_losses_and_no_routing():
    got = _route(np.random.default_rng(0).normal(size=(2, 3, 4)), np.zeros((2, 3)),
                 top_k=2, capacity=2)
    assert not got["kept"].any()
    assert (got["gate"] == 0).all()
    for name in ("aux_loss", "router_z_loss", "fraction_routed", "expert_load",
                 "over_capacity", "router_entropy"):
        np.testing.assert_array_equal(got[name], np.zeros_like(got[name]), err_msg=name)


def test_uniform_routing_gives_aux_loss_one():
    e = 4
    # Token s prefers expert s % E by the same margin: density and proxy both uniform.
    logits = np.tile(3.0 * np.eye(e, dtype=np.float32), (2, 2, 1))  # [2, 8, 4]
    got = _route(logits, np.ones((2, 2 * e)), top_k=2, capacity=4)
    np.testing.assert_allclose(got["aux_loss"], 1.0, rtol=1e-6)
    # All-zero logits: proxy is 1/E, which gives 1 whatever the density.
    zeros = _route(np.zeros((1, 5, e), np.float32), np.ones((1, 5)), top_k=1, capacity=5)
    np.testing.assert_allclose(zeros["aux_loss"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(zeros["router_z_loss"], math.log(e) ** 2, rtol=1e-6)


def test_collapsed_routing_gives_aux_loss_near_num_experts():
    e = 8
    logits = np.zeros((1, 6, e), np.float32)
    logits[..., 2] = 30.0  # every token, and nearly all gate mass, on expert 2
    got = _route(logits, np.ones((1, 6)), top_k=1, capacity=6)
    np.testing.assert_allclose(got["aux_loss"], e, rtol=1e-5)
    np.testing.assert_allclose(got["expert_load"], np.eye(e)[2])


def test_random_policy_wants_second_choice_only_when_noise_below_gate_over_threshold():
    # Two tokens with the same logits: renormalized gate2 = sigmoid(-ln 9) = 0.1.
    row = np.array([math.log(9.0), 0.0, -20.0], np.float32)
    logits = np.tile(row, (1, 2, 1))
    noise = np.array([[0.4, 0.6]], np.float32)  # 0.1 / 0.2 = 0.5 splits them
    got = _route(logits, np.ones((1, 2)), top_k=2, capacity=2,
                 second_expert_policy="random", second_expert_threshold=0.2, noise=noise)
    np.testing.assert_array_equal(got["kept"][0], [[True, True], [True, False]])
    np.testing.assert_allclose(got["gate"][0], [[0.9, 0.1], [0.9, 0.0]], rtol=1e-5)
    # An unwanted choice is not a capacity drop.
    np.testing.assert_allclose(got["over_capacity"], [0.0, 0.0])
    np.testing.assert_allclose(got["fraction_routed"], [0.0, 0.5, 0.5])


def test_sampling_policy_picks_second_expert_by_noisy_logits_never_the_first():
    logits = np.array([[[3.0, 2.0, 0.0, 1.0]]], np.float32)
    noise = np.array([[[100.0, 0.0, 0.0, 5.0]]], np.float32)  # noise favours 0 (excluded), then 3
    got = _route(logits, np.ones((1, 1)), top_k=2, capacity=1,
                 second_expert_policy="sampling", noise=noise)
    np.testing.assert_array_equal(got["expert_index"][0, 0], [0, 3])
    # The gate comes from the clean softmax: e^3 / (e^3 + e^1).
    np.testing.assert_allclose(got["gate"][0, 0], [1 / (1 + math.exp(-2)),
                                                   1 / (1 + math.exp(2))], rtol=1e-6)


def test_routing_accepts_tensor_capacity_inside_tf_function():
    logits, mask, _ = _routing_case((2, 7, 4), [(1, 2)], 4, "all")
    routed = tf.function(lambda x, m, c: top_k_routing(x, m, top_k=2, capacity=c))
    routing, stats = routed(tf.constant(logits), tf.constant(mask), tf.constant(2))
    want = reference_top_k_routing(logits, mask, top_k=2, capacity=2)
    got = {name: np.asarray(v) for name, v in {**routing._asdict(), **stats._asdict()}.items()}
    _assert_matches_reference(got, want, "(tf.function, tensor capacity)")


@pytest.mark.parametrize("group_size,num_experts,factor,min_capacity,expected", [
    (16, 8, 2.0, 4, 4),
    (1024, 64, 2.0, 4, 32),
    (3, 8, 2.0, 4, 3),        # capped at S
    (16, 8, None, 4, 16),     # dropless
    (1, 8, None, 4, 1),
    (64, 8, 1.0, 1, 8),
    (10, 4, 1.0, 1, 3),       # ceil(2.5)
    (256, 16, 1.25, 4, 20),
    (100, 8, 1.2, 1, 15),     # 15.000000000000002 in float64, 15.0000005 in float32
    (100, 10, 1.1, 1, 11),    # 11.000000000000002 in float64
])
def test_expert_capacity_examples(group_size, num_experts, factor, min_capacity, expected):
    assert expert_capacity(group_size, num_experts, factor, min_capacity) == expected
    tensor = expert_capacity(tf.constant(group_size), num_experts, factor, min_capacity)
    assert int(tensor) == expected, "int32 tensor group size must give the same capacity"


def test_router_entropy_is_log_e_for_equal_logits_and_near_zero_for_a_sure_gate():
    equal = _route(np.zeros((1, 4, 8)), np.ones((1, 4)), top_k=2, capacity=4)
    np.testing.assert_allclose(equal["router_entropy"], np.log(8.0), rtol=1e-6)
    sure = np.full((1, 4, 8), -30.0)
    sure[0, :, 3] = 30.0
    assert float(_route(sure, np.ones((1, 4)), top_k=2, capacity=4)["router_entropy"]) < 1e-6
