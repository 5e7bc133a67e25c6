"""Memory per device of a training run on a mesh, from the config alone: no TensorFlow.

`glam train --dry_run` and `glam presets --mesh` print it. Every weight of
`params.weight_specs` is laid out by `axes.mesh_axes_for`, the function the
real run's `sharding.layout_for` wraps, so a layout the run would refuse is
refused here with the same error, and the bytes counted are the bytes each
device would hold.

Activations are an estimate (docs/sharding.md gives the formula): what one
training step keeps for the backward pass on one device, with no
rematerialization, after the batch is split over the mesh's batch axis.
"""

from __future__ import annotations

import dataclasses
import math
import re

from glam_tf import axes as ax
from glam_tf.config import GlamConfig
from glam_tf.params import weight_specs

GIB = 2 ** 30
FLOAT32 = 4  # weights, gradients and optimizer slots are float32
BATCH_MULTIPLE = 8  # the default --batch_size without a mesh


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """Bytes on each device of `mesh` (mesh axis name -> size)."""

    mesh: dict
    rules: dict
    optimizer: str
    batch_size: int
    seq_len: int
    num_weights: int
    weights: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def devices(self) -> int:
        return math.prod(self.mesh.values())

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations


def mesh_sizes(mesh_spec) -> dict:
    """"batch:2,expert:4" -> {"batch": 2, "expert": 4}; None or "" -> {} (one device)."""
    return dict(ax.parse_mesh(mesh_spec)) if mesh_spec else {}


def default_batch_size(mesh: dict, rules: dict) -> int:
    """8 rows, or the smallest multiple of 8 that the batch axis divides."""
    batch_axis = rules.get(ax.BATCH)
    return math.lcm(BATCH_MULTIPLE, mesh[batch_axis]) if batch_axis else BATCH_MULTIPLE


def weight_layouts(config: GlamConfig, mesh: dict, rules: dict) -> list:
    """[(WeightSpec, mesh axis per dimension)] for every weight; ShardingError if one
    does not divide."""
    return [(spec, ax.mesh_axes_for(spec.path, spec.shape, spec.axes, mesh, rules))
            for spec in weight_specs(config)]


def _state_bytes(layouts, mesh, optimizer) -> tuple:
    """(weights, optimizer slots) in bytes per device."""
    weights = slots = 0
    for spec, specs in layouts:
        local = ax.local_shape(spec.shape, specs, mesh)
        weights += math.prod(local)
        if optimizer == "adam":
            slots += 2 * math.prod(local)  # first and second moments
        elif len(local) >= 2:  # Adafactor: factored rows (all but the last) and columns
            slots += math.prod(local[:-1]) + math.prod(local[:-2] + local[-1:])
        else:
            slots += math.prod(local)
    return FLOAT32 * weights, FLOAT32 * slots


def memory_per_device(config: GlamConfig, mesh_spec: str, layout: str = None,
                      optimizer: str = "adafactor") -> dict:
    """Bytes of float32 weights, gradients and optimizer state on each device.

    `layout` as `--layout` takes it (None: the default rules the mesh has axes
    for). Activations are not included: `plan_training` adds them.
    """
    mesh = mesh_sizes(mesh_spec)
    layouts = weight_layouts(config, mesh, ax.rules_for(layout, tuple(mesh)))
    weights, slots = _state_bytes(layouts, mesh, optimizer)
    return {"weights": weights, "gradients": weights, "optimizer": slots,
            "total": 2 * weights + slots}


def training_capacity(config: GlamConfig, group_size: int) -> int:
    """Expert slots per group while training (`layers.routing.expert_capacity` on ints;
    repeated so that the plan needs no TensorFlow, and tested to agree)."""
    factor = config.train_capacity_factor
    if factor is None:
        return group_size
    wanted = math.ceil(group_size * factor / config.num_experts - 1e-6)
    return min(group_size, max(config.min_expert_capacity, wanted))


def _split(mesh: dict, rules: dict, axis: str, taken=()) -> int:
    """How many ways activations along logical `axis` are split: DTensor gives an
    einsum's output the layout of the weight dimension it comes from."""
    mesh_axis = rules.get(axis)
    return mesh[mesh_axis] if mesh_axis and mesh_axis not in taken else 1


def activation_bytes(config: GlamConfig, mesh: dict, rules: dict, batch_size: int,
                     seq_len: int) -> int:
    """Estimated activation bytes one device keeps for the backward pass.

    Also lays out the batch and the MoE expert buffers as the run does, so a
    batch the mesh cannot split is refused here too.
    """
    c = config
    m, h, n, d, e, v = c.d_model, c.d_ff, c.num_heads, c.head_dim, c.num_experts, c.vocab_size
    a = 2 if c.compute_dtype == "bfloat16" else 4
    # The run lays out token_ids/segment_ids [B, L + 1] by batch.
    token_specs = ax.mesh_axes_for("token_ids", (batch_size, seq_len + 1), (ax.BATCH, None),
                                   mesh, rules)
    rows = ax.local_shape((batch_size,), token_specs[:1], mesh)[0]
    tokens = rows * seq_len  # per device
    taken = {token_specs[0]}
    heads, mlp, vocab = (_split(mesh, rules, axis, taken) for axis in (ax.HEADS, ax.MLP, ax.VOCAB))
    # Residual stream into each sublayer and the two norms' outputs.
    per_block = 4 * tokens * m * a
    # q, k, v and the context; float32 attention logits and the probabilities.
    per_block += (4 * tokens * n * d * a + rows * n * seq_len ** 2 * (4 + a)) // heads
    dense_terms = 3 if c.dense_gated_gelu else 2  # (gelu, linear, product) or (pre, post)
    expert_terms = 3 if c.expert_activation == "gated_gelu" else 2
    total = 0
    for i in range(c.num_layers):
        total += per_block
        if not c.is_moe_layer(i):
            total += dense_terms * tokens * h * a // mlp
            continue
        # GShard groups over the global batch, laid out as the run lays them out.
        group = min(c.group_size, batch_size * seq_len)
        groups = -(-batch_size * seq_len // group)
        capacity = training_capacity(c, group)
        shape = (e, groups, capacity, m)
        specs = ax.mesh_axes_for("MoE expert buffers [E, G, C, M]", shape,
                                 (ax.EXPERT, ax.BATCH, None, None), mesh, rules)
        local_e, local_g, _, _ = ax.local_shape(shape, specs, mesh)
        total += 2 * tokens * e * 4  # router logits and probabilities, float32
        if mesh:  # the einsum dispatch: dispatch and combine [G, S, E, C]
            total += 2 * local_g * group * e * capacity * a
        # Expert inputs and outputs, and the hidden activations, on the experts' devices.
        slots = local_e * local_g * capacity
        total += slots * 2 * m * a + slots * expert_terms * h * a // _split(
            mesh, rules, ax.MLP, set(specs))
    # Embedding output and final norm; float32 logits and their softmax for the loss.
    total += 2 * tokens * m * a + 2 * tokens * v * 4 // vocab
    return total


def plan_training(config: GlamConfig, mesh_spec: str = None, layout: str = None,
                  optimizer: str = "adafactor", batch_size: int = None,
                  seq_len: int = None) -> MemoryPlan:
    """The memory plan of `glam train` with these flags; ShardingError where the run
    would refuse the layout."""
    mesh = mesh_sizes(mesh_spec)
    return plan_on(config, mesh, ax.rules_for(layout, tuple(mesh)), optimizer, batch_size,
                   seq_len)


def plan_on(config: GlamConfig, mesh: dict, rules: dict, optimizer: str = "adafactor",
            batch_size: int = None, seq_len: int = None) -> MemoryPlan:
    """`plan_training` on a mesh given as {axis: size} and its rules {logical: mesh axis}."""
    batch_size = default_batch_size(mesh, rules) if batch_size is None else batch_size
    seq_len = config.max_seq_len if seq_len is None else seq_len
    for name, value in (("--batch_size", batch_size), ("--seq_len", seq_len)):
        if value < 1:
            raise ValueError(f"{name} {value}: must be >= 1")
    layouts = weight_layouts(config, mesh, rules)
    weights, slots = _state_bytes(layouts, mesh, optimizer)
    return MemoryPlan(mesh=mesh, rules=rules, optimizer=optimizer, batch_size=batch_size,
                      seq_len=seq_len, num_weights=len(layouts), weights=weights,
                      gradients=weights, optimizer_state=slots,
                      activations=activation_bytes(config, mesh, rules, batch_size, seq_len))


def host_memory() -> tuple:
    """(bytes, what they are) this process may use: the host's RAM, or less under
    an address-space limit (`ulimit -v`); (None, "") where neither is known."""
    import os
    import resource

    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit != resource.RLIM_INFINITY and (ram is None or limit < ram):
        return limit, "the process's address-space limit (ulimit -v)"
    return ram, "the host's RAM" if ram else ""


def check_host_memory(plan: MemoryPlan, title: str, host=None) -> None:
    """Refuses a run whose devices all live in this host's memory (CPU devices) and
    together need more than it has, by the analytic counts: before anything is
    allocated. host: (bytes, what they are), default `host_memory()`."""
    have, what = host or host_memory()
    need = plan.total * plan.devices
    if have is None or need <= have:
        return
    parts = ", ".join(f"{label} {value * plan.devices / GIB:.1f}" for label, value in (
        ("weights", plan.weights), ("gradients", plan.gradients),
        ("optimizer state", plan.optimizer_state), ("activations", plan.activations)))
    raise ValueError(
        f"{title} needs about {need / GIB:.1f} GiB to train here ({parts} GiB, from the "
        f"analytic counts) but {what} is {have / GIB:.1f} GiB: use a smaller preset, or "
        "--batch_size/--seq_len, or devices with memory of their own (--tpu); "
        "`glam train --dry_run --mesh ...` plans a sharded run")


_UNITS = {"b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def parse_memory(text: str) -> int:
    """"32GiB" -> 34359738368, "16GB" -> 16e9 bytes (GiB = 2^30, GB = 10^9)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", text or "")
    unit = match and _UNITS.get(match.group(2).lower())
    if not unit or float(match.group(1)) <= 0:
        raise ValueError(f"--device_memory {text!r}: give a size > 0 with a unit, e.g. 32GiB "
                         f"or 34GB (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    return int(float(match.group(1)) * unit)


def format_plan(plan: MemoryPlan, title: str, compute_dtype: str, device_memory: int = None):
    """(report lines, fits): the plan as `glam train --dry_run` prints it."""
    mesh = ",".join(f"{k}:{v}" for k, v in plan.mesh.items()) or "none (one device)"
    rules = ",".join(f"{k}:{v}" for k, v in plan.rules.items()) or "none"
    lines = [f"Dry run: {title} on mesh {mesh}, {plan.devices} devices",
             f"Layout rules {rules}: every rule divides all {plan.num_weights} weights, "
             f"the batch and the MoE expert buffers",
             f"Batch {plan.batch_size} x {plan.seq_len} tokens, {compute_dtype} activations, "
             f"{plan.optimizer}",
             "Per device:"]
    rows = [("weights (float32)", plan.weights), ("gradients (float32)", plan.gradients),
            (f"optimizer state ({plan.optimizer})", plan.optimizer_state),
            ("activations (estimate)", plan.activations), ("total", plan.total)]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value / GIB:9.2f} GiB" for label, value in rows]
    if device_memory is None:
        return lines, True
    state = plan.weights + plan.gradients + plan.optimizer_state
    have = f"{device_memory / GIB:.2f} GiB"
    if plan.total <= device_memory:
        lines.append(f"Fits in {have} per device ({(device_memory - plan.total) / GIB:.2f} GiB "
                     f"to spare)")
        return lines, True
    why = (f"weights, gradients and optimizer state alone take {state / GIB:.2f} GiB: "
           f"spread them over more devices (a larger expert or model axis)"
           if state > device_memory else
           f"activations take {plan.activations / GIB:.2f} GiB: a smaller --batch_size "
           f"or --seq_len, or a larger batch axis, lowers them")
    lines.append(f"DOES NOT FIT in {have} per device: needs {plan.total / GIB:.2f} GiB; {why}")
    return lines, False
