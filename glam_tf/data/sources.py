"""Document sources: the `Source` interface, in-memory text, and the train/validation rule.

A source yields documents, each a scalar `tf.string`, as a `tf.data.Dataset`
built without Python callbacks (no `py_function`, no `from_generator`), so
that the training loop can checkpoint the iterator and resume exactly. Each
kind of source lives in its own module and is named by a `--data` spec
(`glam_tf.data.specs`); this module imports none of them.

Train and validation: `tfds` sources use the dataset's own `validation` (or
else `test`) split. Sources without one hold out every document whose
FarmHash Fingerprint64 (`tf.strings.to_hash_bucket_fast`) modulo 1,000,000 is
below 50,000: about 5%, fixed by the text alone, so a document and its exact
duplicates always land on the same side.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Sequence

import tensorflow as tf

SPLITS = ("train", "validation")
VALIDATION_FRACTION = 0.05
_HASH_BUCKETS = 1_000_000
_VALIDATION_BUCKETS = int(VALIDATION_FRACTION * _HASH_BUCKETS)


class DataError(ValueError):
    """A data spec, file or dataset that cannot give documents; names what is wrong."""


def is_validation(texts) -> tf.Tensor:
    """bool [...]: whether each document of a tf.string [...] belongs to the validation split."""
    buckets = tf.strings.to_hash_bucket_fast(texts, _HASH_BUCKETS)
    return buckets < _VALIDATION_BUCKETS


def is_number(text: str) -> bool:
    """Whether `float(text)` reads it (spec parsers tell weights and alphas from paths)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_split(split: str):
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: must be one of {', '.join(SPLITS)}")


class Source(abc.ABC):
    """Documents for training and validation; `spec` is the string that builds it."""

    spec: str

    @abc.abstractmethod
    def documents(self, split: str = "train") -> tf.data.Dataset:
        """Every document of `split` once, in a fixed order: scalar tf.string."""

    def stream(self, split: str = "train", *, seed: int = 0, shuffle_buffer: int = 10_000,
               repeat: bool = True) -> tf.data.Dataset:
        """Documents shuffled (seeded; a new order each epoch) and, by default, repeated.

        shuffle_buffer: documents held for shuffling; 0 or 1 keeps the order.
        The order depends on `seed` and on TensorFlow's global seed.
        """
        ds = self.documents(split)
        if shuffle_buffer > 1:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return ds.repeat() if repeat else ds

    def __repr__(self):
        return f"{type(self).__name__}({self.spec!r})"


@dataclasses.dataclass(frozen=True)
class SourceStats:
    """What an in-memory source read.

    replaced_characters: undecodable byte sequences replaced by U+FFFD.
    files_with_replacements: files that held any of them.
    """

    documents: int
    train_documents: int
    validation_documents: int
    characters: int
    files: int = 0
    replaced_characters: int = 0
    files_with_replacements: int = 0


class TextSource(Source):
    """Documents held in memory, split into train/validation by hash.

    Empty and whitespace-only documents are dropped.
    """

    def __init__(self, texts: Sequence[str], spec: str = "texts", *, files: int = 0,
                 replaced_characters: int = 0, files_with_replacements: int = 0):
        self.spec = spec
        texts = [t for t in texts if t.strip()]
        held_out = is_validation(tf.constant(texts, tf.string)).numpy() if texts else []
        self._splits = {"train": [t for t, v in zip(texts, held_out) if not v],
                        "validation": [t for t, v in zip(texts, held_out) if v]}
        self.stats = SourceStats(
            documents=len(texts), train_documents=len(self._splits["train"]),
            validation_documents=len(self._splits["validation"]),
            characters=sum(len(t) for t in texts), files=files,
            replaced_characters=replaced_characters,
            files_with_replacements=files_with_replacements)

    def texts(self, split: str = "train") -> list:
        check_split(split)
        return list(self._splits[split])

    def documents(self, split: str = "train") -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(self._table(split))

    def stream(self, split: str = "train", *, seed: int = 0, shuffle_buffer: int = 10_000,
               repeat: bool = True) -> tf.data.Dataset:
        """Each epoch is a full permutation drawn from (seed, epoch) alone.

        Any `shuffle_buffer` > 1 shuffles; the permutation needs no buffer, so
        an iterator checkpoint holds a few integers, not documents, and the
        order does not depend on TensorFlow's global seed.
        """
        table = self._table(split)
        if shuffle_buffer <= 1:
            ds = tf.data.Dataset.from_tensor_slices(table)
            return ds.repeat() if repeat else ds
        size = int(table.shape[0])

        def epoch(index):
            seeds = tf.stack([tf.constant(seed, tf.int64), index])
            order = tf.random.experimental.stateless_shuffle(tf.range(size), seed=seeds)
            return tf.data.Dataset.from_tensor_slices(order)

        epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
        return epochs.flat_map(epoch).map(lambda i: tf.gather(table, i))

    def _table(self, split: str) -> tf.Tensor:
        texts = self.texts(split)
        if not texts:
            raise DataError(f"{self.spec}: no document in the {split} split "
                            f"({self.stats.documents} documents in all; about "
                            f"{VALIDATION_FRACTION:.0%} go to validation, by hash)")
        return tf.constant(texts, tf.string)
