"""Keras 3 layers of the GLaM decoder, one public layer per module.

Einsum letters and logical axis names: see `glam_tf.layers.dims`.
"""

from glam_tf.layers.attention import Attention
from glam_tf.layers.decoder_block import DecoderBlock
from glam_tf.layers.feed_forward import FeedForward
from glam_tf.layers.moe_feed_forward import MoeFeedForward
from glam_tf.layers.relative_position_bias import RelativePositionBias
from glam_tf.layers.rms_norm import RMSNorm
from glam_tf.layers.top2_router import Top2Router

__all__ = ["Attention", "DecoderBlock", "FeedForward", "MoeFeedForward",
           "RelativePositionBias", "RMSNorm", "Top2Router"]
