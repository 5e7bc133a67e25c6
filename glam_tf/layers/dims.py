"""The one dimension legend of glam_tf: einsum letters and logical axis names.

Einsum letters (every einsum string in the project uses these):
  B batch          L query length       T key length
  M model dim      N heads              D head dim
  H ffn hidden     V vocabulary         R relative-position buckets
  G groups         S tokens per group   E experts
  C capacity       K experts per token (top-k)

Logical axis names: every weight declares one per dimension; the sharding
module maps them onto mesh axes and nothing else reads them.
"""

VOCAB = "vocab"
EMBED = "embed"
HEADS = "heads"
KV = "kv"
MLP = "mlp"
EXPERT = "expert"
REL_BUCKETS = "rel_buckets"

LOGICAL_AXES = (VOCAB, EMBED, HEADS, KV, MLP, EXPERT, REL_BUCKETS)


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
