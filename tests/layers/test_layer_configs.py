"""Every layer rebuilds from get_config with non-default arguments."""

import keras
import pytest

from glam_tf.config import GlamConfig
from glam_tf.layers import (Attention, DecoderBlock, FeedForward, MoeFeedForward,
                            RelativePositionBias, RMSNorm, Top2Router)

CONFIG = GlamConfig(vocab_size=64, num_layers=2, d_model=32, d_ff=48, num_heads=2,
                    head_dim=8, num_experts=4, group_size=16)

LAYERS = [
    RMSNorm(epsilon=1e-3, name="norm"),
    RelativePositionBias(num_heads=3, num_buckets=16, max_distance=64),
    Attention(num_heads=3, head_dim=5),
    FeedForward(d_ff=7, gated=False),
    Top2Router(num_experts=6, top_k=1, second_expert_policy="sampling",
               second_expert_threshold=0.3, seed=3),
    MoeFeedForward(num_experts=6, d_ff=7, top_k=1, expert_activation="relu",
                   train_capacity_factor=1.25, eval_capacity_factor=2.0, min_expert_capacity=2,
                   group_size=64, second_expert_policy="random", second_expert_threshold=0.5,
                   dispatch="einsum", seed=5),
    DecoderBlock(CONFIG, moe=True, dispatch="einsum"),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_round_trips_through_get_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    # and through Keras' registry of serializable objects
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer) and revived.get_config() == config
