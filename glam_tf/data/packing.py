"""Packing: the documents' token ids, concatenated and cut into rows of fixed length.

Every row holds L = row_length tokens, with no padding inside the stream: a
document longer than the room left continues at the start of the next row.

  token_ids    int32 [L]
  segment_ids  int32 [L]  1, 2, ... numbers the documents (or parts of them)
                          in the row, in order; a continued document is
                          segment 1 of the new row; 0 marks padding
  positions    int32 [L]  index of each token within its segment in this row,
                          0 at every segment start, a continued document too

Only tf.data ops are used (enumerate, rebatch, map), so an iterator over the
rows can be saved and restored with tf.train.Checkpoint(iterator=...).
"""

from __future__ import annotations

import tensorflow as tf

from glam_tf.tokenizer import PAD_ID


def pack_token_stream(documents: tf.data.Dataset, row_length: int, *,
                      keep_remainder: bool = False) -> tf.data.Dataset:
    """Packs a dataset of documents' ids (integer [n]; empty ones skipped) into rows.

    keep_remainder: emit the last, partial row of a finite stream, padded
    with PAD_ID and segment 0; by default it is dropped.
    Returns a dataset of {"token_ids", "segment_ids", "positions"}: int32 [L].
    """
    if row_length < 1:
        raise ValueError(f"row_length={row_length}: must be >= 1")
    if isinstance(documents.element_spec, tf.RaggedTensorSpec):
        documents = documents.map(
            lambda t: t.to_tensor() if isinstance(t, tf.RaggedTensor) else t)
    spec = documents.element_spec
    if not (isinstance(spec, tf.TensorSpec) and spec.shape.rank == 1 and spec.dtype.is_integer):
        raise ValueError(f"pack_token_stream needs documents of integer ids [n]; got {spec}")
    documents = documents.map(lambda ids: tf.cast(ids, tf.int32))
    documents = documents.filter(lambda doc_ids: tf.size(doc_ids) > 0)
    # Tag every token with its document's index: (doc [n], ids [n]), then cut
    # the concatenated stream into rows without visiting tokens one by one.
    tagged = documents.enumerate().map(lambda i, t: (tf.fill(tf.shape(t), i), t))
    rows = tagged.rebatch(row_length, drop_remainder=not keep_remainder)
    return rows.map(lambda doc, ids: _segment_row(doc, ids, row_length),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _segment_row(doc, ids, row_length):
    """doc int64 [n], ids int32 [n] (n <= L) -> the row dict, padded to L."""
    n = tf.shape(ids)[0]
    starts = tf.concat([[True], doc[1:] != doc[:-1]], axis=0)       # [n]
    segment_ids = tf.cumsum(tf.cast(starts, tf.int32))              # [n], from 1
    index = tf.range(n)
    start_index = tf.boolean_mask(index, starts)                    # [segments]
    positions = index - tf.gather(start_index, segment_ids - 1)     # [n]
    padding = [[0, row_length - n]]
    row = {"token_ids": tf.pad(ids, padding, constant_values=PAD_ID),
           "segment_ids": tf.pad(segment_ids, padding),
           "positions": tf.pad(positions, padding)}
    return {k: tf.ensure_shape(v, [row_length]) for k, v in row.items()}
