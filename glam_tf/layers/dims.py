"""The one dimension legend of glam_tf: einsum letters and logical axis names.

Einsum letters (every einsum string in the project uses these):
  B batch          L query length       T key length
  M model dim      N heads              D head dim
  H ffn hidden     V vocabulary         R relative-position buckets
  G groups         S tokens per group   E experts
  C capacity       K experts per token (top-k)

Logical axis names (defined in `glam_tf.axes`): every weight declares one
per dimension; the sharding module maps them onto mesh axes and nothing else
reads them. Activations name their axes only where the layout must change:
the MoE layer asks for its expert buffers laid out by expert (GShard's
all-to-all) and back by batch, through `constrain`, which does nothing unless
`glam_tf.sharding` runs the model on a mesh.
"""

# Imported, not defined: the TF-free memory plan needs the same names.
from glam_tf.axes import (ACTIVATION_AXES, BATCH, EMBED, EXPERT, HEADS, KV,  # noqa: F401
                          LOGICAL_AXES, MLP, REL_BUCKETS, VOCAB)

_layout_hook = None  # set by glam_tf.sharding while a model runs on a mesh


def constrain(x, axes):
    """x laid out by logical axes (None = not sharded); identity without a mesh."""
    return x if _layout_hook is None else _layout_hook(x, axes)


def add_weight(layer, name, shape, axes, initializer, dtype=None):
    """`layer.add_weight` that also records the weight's logical axis names."""
    if len(axes) != len(shape):
        raise ValueError(f"{layer.name}/{name}: {len(shape)} dims but axes {axes}")
    unknown = [a for a in axes if a not in LOGICAL_AXES]
    if unknown:
        raise ValueError(f"{layer.name}/{name}: unknown logical axes {unknown}")
    weight = layer.add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype)
    weight.logical_axes = tuple(axes)
    return weight


def logical_axes(variable):
    """The logical axis names of a weight made by `add_weight`, else None."""
    return getattr(variable, "logical_axes", None)
