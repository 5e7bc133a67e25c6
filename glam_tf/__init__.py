"""glam-tf: GLaM, Google's sparse Mixture-of-Experts language model, on TensorFlow."""

from glam_tf.config import ConfigError, GlamConfig
from glam_tf.params import ParameterCount, count_parameters
from glam_tf.presets import PRESETS, get_preset

__all__ = ["ConfigError", "GlamConfig", "ParameterCount", "count_parameters", "PRESETS",
           "get_preset", "GlamModel"]
__version__ = "0.1.0"


def __getattr__(name):
    # The model pulls in TensorFlow; `glam presets` and config work without it.
    if name == "GlamModel":
        from glam_tf.model import GlamModel
        return GlamModel
    raise AttributeError(f"module 'glam_tf' has no attribute {name!r}")
