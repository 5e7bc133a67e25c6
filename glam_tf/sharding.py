"""Expert-parallel sharding: Mesh-TensorFlow-style layouts on DTensor.

The one module that knows about meshes and devices. Users write Mesh
TensorFlow's syntax:
  mesh    "batch:2,expert:4"                   mesh axis name : size
  layout  "batch:batch,expert:expert,mlp:model" logical axis : mesh axis
Weights carry logical axis names (`glam_tf.layers.dims`); a rule maps a
logical axis to a mesh axis; a dimension no rule maps is replicated. The
MoE layer's `dims.constrain` calls become `dtensor.relayout`s here, so its
expert buffers move to their experts' devices (GShard's all-to-all) and back.

Keras 3 has no DTensor support of its own on TensorFlow, so a built model's
(and its optimizer's) variables get `dtensor.DVariable` backings holding the
laid-out values; Keras code keeps working on them unchanged.
"""

from __future__ import annotations

import contextlib
import math
import os

import tensorflow as tf
from tensorflow.experimental import dtensor

# Specs, rules and the layout decision itself are TF-free (glam_tf.axes), shared
# with the memory plan; re-exported here for the code that lays tensors out.
from glam_tf.axes import (DEFAULT_LAYOUT, ShardingError, mesh_axes_for,  # noqa: F401
                          parse_layout, parse_mesh)
from glam_tf import initializers
from glam_tf.layers import dims
from glam_tf.plan import memory_per_device  # noqa: F401


def configure_virtual_devices(count: int, device_type: str = "CPU"):
    """Splits the first physical device into `count` logical ones (before TF starts)."""
    physical = tf.config.list_physical_devices(device_type)
    if not physical:
        raise ShardingError(f"no {device_type} device to split into {count} virtual devices")
    try:
        tf.config.set_logical_device_configuration(
            physical[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:
        have = len(tf.config.list_logical_devices(device_type))
        if have != count:
            raise ShardingError(f"--virtual_devices {count}: TensorFlow has started with {have} "
                                f"{device_type} devices already; set it before any TF op") from error


def make_mesh(mesh_spec: str, device_type: str = None, tpu: str = None,
              config=None) -> dtensor.Mesh:
    """A DTensor mesh over this process's devices, the TPU's, or all clients' devices.

    `mesh_spec` "auto" takes `default_mesh(config, device count)`. Multi-host:
    set DTENSOR_CLIENT_ID, DTENSOR_NUM_CLIENTS, DTENSOR_JOB_NAME and
    DTENSOR_JOBS in every process; the mesh then spans every client's devices.
    """
    multi_client = int(os.environ.get("DTENSOR_NUM_CLIENTS", "1")) > 1
    if tpu is not None:
        if tpu:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
        device_type = "TPU"
        dtensor.initialize_accelerator_system("TPU")
    else:
        device_type = device_type or ("GPU" if tf.config.list_physical_devices("GPU") else "CPU")
        if multi_client:
            dtensor.initialize_accelerator_system(device_type)
    devices = (dtensor.num_global_devices(device_type) if tpu is not None or multi_client
               else len(tf.config.list_logical_devices(device_type)))
    if mesh_spec == "auto":
        if config is None:
            raise ShardingError("mesh 'auto' needs the model config")
        mesh_spec = default_mesh(config, devices)
    axes = parse_mesh(mesh_spec)
    _check_size(mesh_spec, math.prod(size for _, size in axes), devices, device_type)
    if tpu is not None:
        return dtensor.create_tpu_mesh([n for n, _ in axes], [s for _, s in axes], "glam")
    if multi_client:
        return dtensor.create_distributed_mesh(axes, device_type=device_type)
    return dtensor.create_mesh(axes, device_type=device_type)


def _check_size(spec, size, devices, device_type):
    if size != devices:
        raise ShardingError(f"mesh {spec!r} has {size} devices but there are {devices} "
                            f"{device_type} devices (use --virtual_devices on a CPU)")


def layout_for(name, shape, axes, mesh, rules) -> dtensor.Layout:
    """The layout of a tensor whose dimensions have logical `axes` (None: unsharded).

    The decision is `axes.mesh_axes_for`, the one the memory plan makes too.
    """
    sizes = {axis: mesh.dim_size(axis) for axis in mesh.dim_names}
    specs = mesh_axes_for(name, tuple(shape), tuple(axes), sizes, rules)
    return dtensor.Layout([spec or dtensor.UNSHARDED for spec in specs], mesh)


class Sharding:
    """A mesh and its rules: lays out variables, batches and MoE activations."""

    def __init__(self, mesh: dtensor.Mesh, rules: dict, log=print):
        self.mesh = mesh
        self.rules = rules
        self.log = log

    def replicated(self, rank):
        return dtensor.Layout.replicated(self.mesh, rank)

    def _local_blocks(self, shape, layout):
        """(device, start, size) of the block of `shape` each local device holds."""
        blocks = []
        for device, location in zip(self.mesh.local_devices(), self.mesh.local_device_locations()):
            start, size = [], []
            for dim, spec in enumerate(layout.sharding_specs):
                parts = 1 if spec == dtensor.UNSHARDED else self.mesh.dim_size(spec)
                size.append(shape[dim] // parts)
                start.append(0 if parts == 1 else location[spec] * size[-1])
            blocks.append((device, start, size))
        return blocks

    def _to_mesh(self, value, layout):
        """A host value (the same in every client) as a DTensor with `layout`:
        each local device gets its slice, so this works across clients too."""
        value = tf.convert_to_tensor(value)
        if dtensor.is_dtensor(value):
            return dtensor.relayout(value, layout)
        pieces = [value[tuple(slice(b, b + n) for b, n in zip(start, size))]
                  for _, start, size in self._local_blocks(value.shape, layout)]
        return dtensor.pack(pieces, layout)

    def _back(self, variable, layout):
        """Gives a built Keras variable a DVariable backing with this layout."""
        value = self._to_mesh(tf.convert_to_tensor(variable.value), layout)
        variable._value = dtensor.DVariable(value, trainable=variable.trainable,
                                            name=variable.name)

    def _create(self, variable, layout, seed):
        """Gives a declared Keras variable (`initializers.declared`) a DVariable
        whose every local device computes just its own block of the value."""
        shape = tuple(variable.shape)
        pieces = []
        for device, start, size in self._local_blocks(shape, layout):
            with tf.device(device):
                pieces.append(initializers.block(variable._initializer, seed, shape, start,
                                                 size, variable.dtype))
        value = dtensor.pack(pieces, layout)
        del pieces  # the DVariable below takes the only other reference
        variable._value = dtensor.DVariable(value, trainable=variable.trainable,
                                            name=variable.name)
        variable._initializer = None

    def layouts(self, model) -> dict:
        """{path: layout} of every model variable by its logical axes, logged."""
        layouts, unmatched = {}, []
        for variable in model.variables:
            axes = dims.logical_axes(variable)
            if axes is None:
                axes = (None,) * len(variable.shape)
                unmatched.append(variable.path)
            layouts[variable.path] = layout_for(variable.path, tuple(variable.shape), axes,
                                                self.mesh, self.rules)
        width = max(len(path) for path in layouts)
        self.log(f"Mesh {dict(zip(self.mesh.dim_names, self.mesh.shape()))}, rules "
                 + ",".join(f"{k}:{v}" for k, v in self.rules.items()))
        for path, layout in layouts.items():
            self.log(f"  {path:<{width}}  {layout.sharding_specs}")
        if unmatched:
            self.log("Replicated (no logical axes): " + ", ".join(unmatched))
        return layouts

    def shard_model(self, model) -> dict:
        """Lays out a built model's variables (their host values are sliced);
        returns {path: layout}. For small models: `create_model` makes large ones."""
        layouts = self.layouts(model)
        for variable in model.variables:
            self._back(variable, layouts[variable.path])
        return layouts

    def create_model(self, build, seed: int):
        """(model, {path: layout}): `build()` declares the model's variables and
        each device creates only its own shards of them (no host holds a whole
        sharded weight). Values equal `initializers.create`'s on one device."""
        with initializers.declared():
            model = build()
        layouts, seed_of = self.layouts(model), initializers.seeds_of(model, seed)
        for variable in model.variables:
            self._create(variable, layouts[variable.path], seed_of(variable))
        initializers.mark_created(model.variables)
        return model, layouts

    def create_optimizer(self, optimizer, model, model_layouts: dict):
        """Builds `optimizer` for the model's trainable variables with its slots
        created in their weights' layouts; other variables replicated."""
        with initializers.declared():
            optimizer.build(model.trainable_variables)
        placed = set()
        for index, weight in enumerate(optimizer._trainable_variables):
            specs = model_layouts[weight.path].sharding_specs
            for slot, slot_specs in _slots(optimizer, index, specs):
                self._create(slot, dtensor.Layout(slot_specs, self.mesh), seed=0)
                placed.add(id(slot))
        for variable in optimizer.variables:
            if id(variable) in placed:
                continue
            layout = self.replicated(len(variable.shape))
            if variable._value is None:
                self._create(variable, layout, seed=0)
            else:  # made by the optimizer's constructor (the step counter)
                self._back(variable, layout)
        initializers.mark_created(optimizer.variables)

    def variable(self, value, trainable=False, name=None):
        """A replicated DVariable (counters and the like)."""
        value = tf.convert_to_tensor(value)
        return dtensor.DVariable(self._to_mesh(value, self.replicated(value.shape.rank)),
                                 trainable=trainable, name=name)

    @staticmethod
    def to_host(value):
        """The full value of a DTensor or DVariable as a plain tensor."""
        if isinstance(value, tf.Variable):
            value = value.read_value()
        return unpack_to_host(value)

    def batch_shards(self):
        """(the batch shards this client's devices hold, in order; how many there are).

        The batch is cut into as many shards as the mesh axis the `batch` rule
        names has devices; a client feeds only the rows of its shards.
        """
        axis = self.rules.get(dims.BATCH)
        if axis is None:
            return [0], 1
        held = sorted({location[axis] for location in self.mesh.local_device_locations()})
        return held, self.mesh.dim_size(axis)

    def shard_batch(self, rows):
        """The global batch, laid out along the mesh's batch axis, from this
        client's rows: a dict of [R, ...] tensors holding the rows of its
        `batch_shards()` in order (on one client, the whole batch). Each local
        device gets its shard's rows; no client needs the others' rows."""
        return {key: self._rows_to_mesh(key, value, 0) for key, value in rows.items()}

    def shard_steps(self, batches):
        """N consecutive batches (each as `shard_batch` takes it) stacked into one
        dict of [N, B, ...] DTensors laid out [unsharded, batch, ...]: every
        device holds its rows of all N steps, as `shard_batch` lays out each."""
        return {key: self._rows_to_mesh(key, tf.stack([b[key] for b in batches]), 1)
                for key in batches[0]}

    def _rows_to_mesh(self, key, value, batch_dim):
        """`value` holding this client's rows along `batch_dim`, laid out on the mesh."""
        held, count = self.batch_shards()
        axis = self.rules.get(dims.BATCH)
        value = tf.convert_to_tensor(value)
        here = value.shape[batch_dim]
        if len(held) == count:  # this client holds the whole batch
            total = here
        elif here % len(held):
            raise ShardingError(f"{key}: {here} rows do not split into this client's "
                                f"{len(held)} batch shards")
        else:
            total = here // len(held) * count
        shape = value.shape.as_list()
        shape[batch_dim] = total
        axes = [None] * value.shape.rank
        axes[batch_dim] = dims.BATCH
        layout = layout_for(key, shape, tuple(axes), self.mesh, self.rules)
        if layout.sharding_specs[batch_dim] == dtensor.UNSHARDED:  # batch replicated
            return self._to_mesh(value, layout)
        per_shard = total // count  # layout_for has checked that it divides
        pieces = []
        for location in self.mesh.local_device_locations():
            at = held.index(location[axis]) * per_shard
            rows = [slice(None)] * value.shape.rank
            rows[batch_dim] = slice(at, at + per_shard)
            pieces.append(value[tuple(rows)])
        return dtensor.pack(pieces, layout)

    @contextlib.contextmanager
    def active(self):
        """Runs the model on the mesh: default mesh and MoE relayouts on."""
        def relayout(x, axes):
            return dtensor.relayout(x, layout_for("activation", x.shape, axes, self.mesh,
                                                  self.rules))
        previous, dims._layout_hook = dims._layout_hook, relayout
        try:
            with dtensor.default_mesh(self.mesh):
                yield
        finally:
            dims._layout_hook = previous


def _slots(optimizer, index, specs):
    """(slot variable, its sharding specs) of the weight at `index`.

    Our Adafactor keeps factored rows (the weight's dims but the last) and
    columns (all but the second last); Keras' optimizers keep slots shaped
    like the weight in lists indexed like the trainable variables.
    """
    row, col, full = (getattr(optimizer, name, None) for name in ("_row", "_col", "_full"))
    if row is not None:
        if full[index] is not None:
            return [(full[index], specs)]
        return [(row[index], specs[:-1]), (col[index], specs[:-2] + specs[-1:])]
    slots = []
    for name in ("_momentums", "_velocities", "_velocity_hats", "_accumulators"):
        values = getattr(optimizer, name, None)
        if values and values[index] is not None:
            slots.append((values[index], specs))
    return slots


def unpack_to_host(value):
    """The full value of a DTensor as a plain tensor (for checks and export)."""
    layout = dtensor.fetch_layout(value)
    return dtensor.unpack(dtensor.relayout(value, dtensor.Layout.replicated(
        layout.mesh, layout.rank)))[0]


def default_mesh(config, num_devices: int) -> str:
    """A mesh for `num_devices`: experts spread as far as they divide, the rest batch."""
    experts = math.gcd(config.num_experts, num_devices) if config.is_moe else 1
    axes = [("batch", num_devices // experts)] + ([("expert", experts)] if experts > 1 else [])
    return ",".join(f"{name}:{size}" for name, size in axes)
