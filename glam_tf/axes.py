"""Logical axis names, mesh and layout specs, and how a tensor is laid out: no TensorFlow.

Everything about layouts that can be decided without devices lives here, so
that the memory plan (`glam_tf.plan`, `glam train --dry_run`) and the real run
(`glam_tf.sharding.layout_for`) take the same decision from the same code.

Specs use Mesh TensorFlow's syntax:
  mesh    "batch:2,expert:4"                    mesh axis name : size
  layout  "batch:batch,expert:expert,mlp:model" logical axis : mesh axis
"""

from __future__ import annotations

# Logical axis names of weights: every weight names one per dimension.
VOCAB = "vocab"
EMBED = "embed"
HEADS = "heads"
KV = "kv"
MLP = "mlp"
EXPERT = "expert"
REL_BUCKETS = "rel_buckets"
LOGICAL_AXES = (VOCAB, EMBED, HEADS, KV, MLP, EXPERT, REL_BUCKETS)

# Activations name their axes only where the layout must change.
BATCH = "batch"  # the data-parallel axis (tokens, groups)
ACTIVATION_AXES = (BATCH, EXPERT)

# Logical axis -> mesh axis. Without --layout, each rule applies only where the
# mesh has its mesh axis (so one default serves every mesh); explicit rules
# must all match.
DEFAULT_LAYOUT = "batch:batch,expert:expert,mlp:model,heads:model,vocab:model"


class ShardingError(ValueError):
    """A mesh, a layout rule or a tensor that cannot be laid out as asked."""


def parse_mesh(spec: str) -> list:
    """"batch:2,expert:4" -> [("batch", 2), ("expert", 4)]."""
    axes = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, size = item.partition(":")
        if not name.isidentifier() or not size.isdigit() or int(size) < 1:
            raise ShardingError(f"mesh {spec!r}: {item!r} is not NAME:SIZE with SIZE >= 1")
        if name in dict(axes):
            raise ShardingError(f"mesh {spec!r}: axis {name!r} appears twice")
        axes.append((name, int(size)))
    if not axes:
        raise ShardingError(f"mesh {spec!r}: no axes")
    return axes


def parse_layout(spec: str, mesh_axes, strict=True) -> dict:
    """"expert:expert,mlp:model" -> {"expert": "expert", "mlp": "model"}.

    strict: a rule naming a mesh axis not in `mesh_axes` is an error; else it
    is dropped (how the defaults adapt to a mesh).
    """
    known = set(LOGICAL_AXES) | set(ACTIVATION_AXES)
    rules = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        logical, _, mesh_axis = item.partition(":")
        if logical not in known:
            raise ShardingError(f"layout rule {item!r}: unknown logical axis {logical!r}; "
                                f"known: {', '.join(sorted(known))}")
        if logical in rules:
            raise ShardingError(f"layout rule {item!r}: {logical!r} has a rule already")
        if mesh_axis not in mesh_axes:
            if strict:
                raise ShardingError(f"layout rule {item!r}: mesh has no axis {mesh_axis!r} "
                                    f"(mesh axes: {', '.join(mesh_axes)})")
            continue
        rules[logical] = mesh_axis
    return rules


def rules_for(layout, mesh_axes) -> dict:
    """The rules `--layout` gives: `layout` strictly, or the defaults the mesh has axes for."""
    if layout is None or layout == DEFAULT_LAYOUT:
        return parse_layout(DEFAULT_LAYOUT, mesh_axes, strict=False)
    return parse_layout(layout, mesh_axes)


def mesh_axes_for(name, shape, axes, mesh: dict, rules: dict) -> tuple:
    """The mesh axis each dimension is split over (None: not split).

    name: what the tensor is, for errors; shape: its (global) sizes, None where
    unknown; axes: one logical axis name or None per dimension; mesh: mesh axis
    name -> size; rules: logical axis -> mesh axis. A mesh axis splits at most
    one dimension (the first that asks for it). A dimension whose size the
    mesh axis does not divide is an error, never a silent replication: the
    plan and the run must agree.
    """
    if len(axes) != len(shape):
        raise ShardingError(f"{name} {list(shape)}: {len(shape)} dimensions but axes {axes}")
    specs, used = [], set()
    for dim, (size, axis) in enumerate(zip(shape, axes)):
        mesh_axis = rules.get(axis) if axis else None
        if mesh_axis is None or mesh_axis in used:
            specs.append(None)
            continue
        parts = mesh[mesh_axis]
        if size is not None and size % parts:
            raise ShardingError(
                f"{name} {list(shape)}: dimension {dim} ({axis}, size {size}) is not "
                f"divisible by mesh axis {mesh_axis!r} of size {parts} (rule {axis}:{mesh_axis})")
        specs.append(mesh_axis)
        used.add(mesh_axis)
    return tuple(specs)


def local_shape(shape, specs, mesh: dict) -> tuple:
    """Each device's slice of a tensor laid out by `specs` (from `mesh_axes_for`)."""
    return tuple(size if spec is None else size // mesh[spec] for size, spec in zip(shape, specs))
