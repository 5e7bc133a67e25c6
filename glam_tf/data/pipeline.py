"""The training input: documents -> shuffled -> tokenized in-graph -> packed -> batched."""

from __future__ import annotations

import os
from typing import Optional, Union

import tensorflow as tf

from glam_tf.data.packing import pack_token_stream
from glam_tf.data.sources import Source
from glam_tf.data.specs import parse_data_spec
from glam_tf.tokenizer import EOS_ID, load_tokenizer


def tokenize_documents(documents: tf.data.Dataset, tokenizer) -> tf.data.Dataset:
    """Scalar tf.string documents -> int32 [n + 1] ids, EOS appended; empty ones skipped.

    A document that tokenizes to nothing (an empty string) is dropped, so it
    leaves no lone EOS behind.
    """
    def tokenize(text):
        ids = tf.cast(tokenizer.tokenize(text), tf.int32)  # [n]
        return tf.concat([ids, [EOS_ID]], axis=0)

    documents = documents.filter(lambda text: tf.strings.length(text) > 0)
    return documents.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE,
                         deterministic=True).filter(lambda ids: tf.size(ids) > 1)


def make_dataset(source_or_spec: Union[Source, str], tokenizer, batch_size: int,
                 row_length: int, seed: int, split: str = "train", repeat: bool = True,
                 shuffle_buffer: int = 10_000, *, data_dir: Optional[str] = None,
                 shard: tuple = (0, 1)) -> tf.data.Dataset:
    """Batches of packed rows for training (repeat=True) or one pass for evaluation.

    source_or_spec: a Source, or a `--data` spec (see glam_tf.data.specs).
    tokenizer: a tensorflow_text.SentencepieceTokenizer, or the path of
      `tokenizer.model` (or of its directory).
    seed: fixes the document order (and a mixture's draws).
    shuffle_buffer: documents held for shuffling a streamed (TFDS) source;
      in-memory sources are fully permuted each epoch; 0 keeps the order.
    data_dir: TFDS data directory for specs naming `tfds:` sources.
    shard: (index, count): only documents index, index + count, ... of the
      shuffled stream are tokenized and packed (one host's batch shard on a
      mesh; `batch_size` is then that shard's rows).

    Yields {"token_ids", "segment_ids", "positions"}: int32 [batch_size, row_length]
    (see glam_tf.data.packing). repeat=True streams forever with full batches;
    repeat=False reads the split once, keeps the last partial row (padded) and
    the last, smaller batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")
    source = (parse_data_spec(source_or_spec, data_dir=data_dir)
              if isinstance(source_or_spec, str) else source_or_spec)
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = load_tokenizer(tokenizer)
    documents = source.stream(split, seed=seed, shuffle_buffer=shuffle_buffer, repeat=repeat)
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard={shard}: the index must be in [0, count)")
    if count > 1:
        documents = documents.shard(count, index)
    rows = pack_token_stream(tokenize_documents(documents, tokenizer), row_length,
                             keep_remainder=not repeat)
    return rows.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)
