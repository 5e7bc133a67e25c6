"""`HostInput`: this process's rows of each global batch, read from its data shards.

On a mesh the batch is split into B shards along the mesh's batch axis, and
each host reads, tokenizes and packs only the shards its own devices hold:
data shard s of B is every B-th document of the shuffled stream
(`make_dataset(..., shard=(s, B))`), so the union over hosts is the whole
stream and no two hosts read the same document. One device is one shard of
one. The shards' positions are checkpointed one by one, so a host count may
change between runs as long as the batch-shard count does not.
"""

from __future__ import annotations

import os

import tensorflow as tf


class HostInput:
    """Iterates this host's rows: each data shard's next batch, joined in shard order.

    shards: {shard index: dataset of that shard's batches [rows, ...]}, the
      shards this host's devices hold (`Sharding.batch_shards`).
    count: batch shards in all.
    """

    def __init__(self, shards: dict, count: int):
        self.count = count
        self.indices = sorted(shards)
        self.datasets = [shards[s] for s in self.indices]
        self.iterators = [iter(d) for d in self.datasets]

    @classmethod
    def of(cls, data) -> "HostInput":
        """A HostInput as given, or one shard of one from a plain dataset."""
        return data if isinstance(data, HostInput) else cls({0: data}, 1)

    def __iter__(self):
        return self

    @property
    def element_spec(self):
        """The tf.TypeSpec structure of one joined batch, as tf.data gives it."""
        specs = [d.element_spec for d in self.datasets]
        if len(specs) == 1:
            return specs[0]
        rows = tf.nest.flatten(specs[0])[0].shape[0]  # every shard has as many rows
        total = None if rows is None else len(specs) * rows
        return tf.nest.map_structure(
            lambda spec: tf.TensorSpec([total] + spec.shape[1:].as_list(), spec.dtype), specs[0])

    def __next__(self):
        return _join([next(it) for it in self.iterators])

    def take(self, count) -> list:
        """The first `count` joined batches (validation), read once."""
        return [_join(parts) for parts in zip(*(d.take(count) for d in self.datasets))]

    def checkpoints(self, directory, max_to_keep) -> list:
        """One CheckpointManager per shard: `data/` for one shard, else `data-S-of-B/`."""
        names = (["data"] if self.count == 1
                 else [f"data-{s}-of-{self.count}" for s in self.indices])
        return [tf.train.CheckpointManager(tf.train.Checkpoint(data=it),
                                           os.path.join(directory, name), max_to_keep=max_to_keep)
                for it, name in zip(self.iterators, names)]


def _join(parts):
    if len(parts) == 1:
        return parts[0]
    return {key: tf.concat([p[key] for p in parts], axis=0) for key in parts[0]}
