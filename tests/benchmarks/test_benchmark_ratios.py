"""The benchmarks' FLOP counts, capacities and ratio lines, checked by hand."""

import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))

import ratios  # noqa: E402


def test_dense_equivalent_flops_equal_top2_moe_flops_at_the_paper_shape():
    # 3 (fwd+bwd) * 2 FLOP/MAC * 2048 tokens * 2 matrices * 768 * 6144
    by_hand = 3 * 2 * 2048 * 2 * 768 * 6144
    assert by_hand == 115_964_116_992  # the 116.0 GFLOP of docs/benchmarks.md
    assert ratios.ffn_train_flops(2048, 768, 6144) == by_hand
    assert ratios.moe_train_flops(2048, 768, 3072, top_k=2) == by_hand


def test_every_expert_block_does_e_over_k_times_the_routed_work():
    # Mixtral-style: 64 experts * 3 matrices, every token: 64 * 6 * 2048 * 3 * 768 * 3072
    assert ratios.every_expert_train_flops(2048, 768, 3072, 64) == 5_566_277_615_616
    routed = ratios.moe_train_flops(2048, 768, 3072, top_k=2, matrices=3)
    assert ratios.every_expert_train_flops(2048, 768, 3072, 64) / routed == 32


def test_capacities_of_our_router_and_of_expert_choice():
    assert ratios.capacity(1024, 64, 2.0) == 32       # G=2, C=32 at the paper shape
    assert ratios.capacity(512, 8, 2.0) == 128
    assert ratios.capacity(10, 64, 2.0) == 4          # the minimum capacity
    assert ratios.expert_choice_capacity(1024, 64, 2.0) == 32
    assert ratios.expert_choice_capacity(100, 64, 2.0) == 3  # round(3.125)


def test_glam_tiny_train_flops_per_token_by_hand():
    # 6 * (1,183,360 non-embedding activated + 2048 * 128 logits) + 12 * 4 * 128 * 4 * 32
    assert ratios.transformer_train_flops_per_token(1_445_504, 4, 128, 4, 32) == 9_459_456


def test_the_dense_arm_of_moe_vs_dense_matches_glam_tiny_flops():
    import lm_runs
    from train_throughput import train_flops_per_token

    moe = lm_runs.moe_config("glam")
    dense = lm_runs.dense_config(moe)
    assert dense.d_ff == 600 and not dense.num_experts
    assert train_flops_per_token(moe, 128) == 9_459_456
    assert train_flops_per_token(dense, 128) == 6 * 1_447_552 + 786_432 == 9_471_744  # +0.14%


@pytest.mark.parametrize("style", ["gated", "plain"])
def test_like_for_like_dense_arms_have_twice_the_expert_width(style):
    # Top-2 over experts of width H activates what one FFN of width 2H does, of the same
    # kind; half the blocks are MoE, so the uniform dense width is (2H + H) / 2 = 768.
    import lm_runs
    from glam_tf.params import count_parameters

    moe = lm_runs.moe_config(style)
    dense = lm_runs.dense_config(moe)
    assert dense.d_ff == 768 and dense.dense_gated_gelu == (style == "gated")
    router = moe.num_moe_layers * moe.d_model * moe.num_experts
    assert count_parameters(moe).activated - router == count_parameters(dense).activated


def test_ratio_lines_round_trip_with_targets():
    line = ratios.ratio_line("moe_layer[0.1B/64E]", "gather", "dense_equivalent", 1.1834, 1.3,
                             note="default dispatch")
    assert line == ("moe_layer[0.1B/64E] gather / dense_equivalent = 1.18x "
                    "(target <= 1.3x) MET; default dispatch")
    fields = ratios.parse_ratio_line(line)
    assert fields["figure"] == "moe_layer[0.1B/64E]" and fields["den"] == "dense_equivalent"
    assert fields["ratio"] == pytest.approx(1.18) and fields["verdict"] == "MET"
    missed = ratios.parse_ratio_line(ratios.ratio_line("f", "a", "b", 8.0, 10, ">="))
    assert missed["op"] == ">=" and missed["target"] == 10 and missed["verdict"] == "NOT MET"
    assert ratios.parse_ratio_line(ratios.ratio_line("f", "a", "b", 0.0834))["ratio"] == 0.083
    assert ratios.parse_ratio_line("mfu[glam_tiny]: 0.350 (achieved ...)") is None


def test_a_ratio_line_term_may_be_a_parenthesized_expression():
    line = ratios.ratio_line("sharded_memory[clients=2]", "peak_client_bytes",
                             "(model_state_bytes / 2)", 1.21, 1.3)
    fields = ratios.parse_ratio_line(line)
    assert fields["den"] == "(model_state_bytes / 2)" and fields["ratio"] == 1.21
    assert fields["verdict"] == "MET"


def test_mean_and_sample_std():
    mean, std = ratios.mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == 1.0
    assert ratios.mean_std([5.0]) == (5.0, 0.0)
    assert math.isclose(ratios.median([3, 1, 2]), 2)
