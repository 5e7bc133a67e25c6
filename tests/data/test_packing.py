import numpy as np
import pytest
import tensorflow as tf

from glam_tf.data.packing import pack_token_stream
from glam_tf.data.pipeline import make_dataset
from glam_tf.data import TextSource, embedded_documents
from glam_tf.tokenizer import EOS_ID, PAD_ID, load_tokenizer, train_tokenizer

DOCS = [[11, 12, 13], [21, 22, 23, 24, 25, 26, 27], [31], [], [41, 42]]
KEYS = ("token_ids", "segment_ids", "positions")


def _rows(dataset):
    return [{k: row[k].tolist() for k in KEYS} for row in dataset.as_numpy_iterator()]


def _documents(docs, dtype=tf.int32):
    return tf.data.Dataset.from_tensor_slices(tf.ragged.constant(docs, dtype=dtype))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = train_tokenizer(embedded_documents()[:300], 1024, tmp_path_factory.mktemp("tok"),
                           model_type="bpe")
    return load_tokenizer(path)


# -- packing ----------------------------------------------------------------

def test_pack_gives_exact_rows_on_hand_made_documents():
    rows = _rows(pack_token_stream(_documents(DOCS), 5, keep_remainder=True))
    assert rows == [
        {"token_ids": [11, 12, 13, 21, 22], "segment_ids": [1, 1, 1, 2, 2],
         "positions": [0, 1, 2, 0, 1]},
        # Document 2 goes on: segment 1 of this row, positions from 0 again.
        {"token_ids": [23, 24, 25, 26, 27], "segment_ids": [1, 1, 1, 1, 1],
         "positions": [0, 1, 2, 3, 4]},
        # The empty document is skipped; the final row is padded with segment 0.
        {"token_ids": [31, 41, 42, PAD_ID, PAD_ID], "segment_ids": [1, 2, 2, 0, 0],
         "positions": [0, 0, 1, 0, 0]},
    ]
    assert len(_rows(pack_token_stream(_documents(DOCS), 5))) == 2  # remainder dropped


def test_document_spanning_three_rows_and_row_boundary_at_document_end():
    docs = [[1, 2, 3], list(range(100, 112)), [7, 8]]
    rows = _rows(pack_token_stream(_documents(docs, tf.int64), 3))
    assert [r["token_ids"] for r in rows] == [
        [1, 2, 3], [100, 101, 102], [103, 104, 105], [106, 107, 108], [109, 110, 111]]
    assert all(r["segment_ids"] == [1, 1, 1] and r["positions"] == [0, 1, 2] for r in rows)
    spec = pack_token_stream(_documents(docs, tf.int64), 3).element_spec
    assert all(spec[k] == tf.TensorSpec([3], tf.int32) for k in KEYS)


def test_many_short_documents_in_one_row():
    rows = _rows(pack_token_stream(_documents([[5], [6, 6], [7], [8, 8, 8]]), 7))
    assert rows == [{"token_ids": [5, 6, 6, 7, 8, 8, 8], "segment_ids": [1, 2, 2, 3, 4, 4, 4],
                     "positions": [0, 0, 1, 0, 0, 1, 2]}]


def test_pack_rejects_non_vector_input():
    with pytest.raises(ValueError, match="integer ids"):
        pack_token_stream(tf.data.Dataset.from_tensor_slices(["text"]), 4)
    with pytest.raises(ValueError, match="row_length=0"):
        pack_token_stream(_documents(DOCS), 0)


# -- pipeline ---------------------------------------------------------------

def test_one_pass_tokenizes_every_document_with_eos_and_pads_the_end(tokenizer):
    docs = ["First document.", "", "A second, longer document with some more words in it.",
            "Drittes Dokument: ünïcödé ✓", "   "]
    ds = make_dataset(TextSource(docs * 3), tokenizer, batch_size=4, row_length=16,
                      seed=0, repeat=False, shuffle_buffer=0)
    batches = list(ds.as_numpy_iterator())
    assert all(b[k].dtype == np.int32 and b[k].shape[1] == 16 for b in batches for k in KEYS)
    ids = np.concatenate([b["token_ids"].reshape(-1) for b in batches])
    segments = np.concatenate([b["segment_ids"].reshape(-1) for b in batches])
    ids = ids[segments > 0]
    assert (ids != PAD_ID).all() and ids[-1] == EOS_ID
    pieces = np.split(ids, np.flatnonzero(ids == EOS_ID)[:-1] + 1)
    decoded = [tokenizer.detokenize(p[:-1]).numpy().decode() for p in pieces]
    assert decoded == TextSource(docs * 3).texts("train")
    last = batches[-1]
    assert last["segment_ids"][-1, -1] == 0 and last["token_ids"][-1, -1] == PAD_ID


def test_training_stream_has_static_shapes_and_valid_segments(tokenizer):
    ds = make_dataset("embedded", tokenizer, batch_size=3, row_length=32, seed=1)
    assert all(ds.element_spec[k] == tf.TensorSpec([3, 32], tf.int32) for k in KEYS)
    for batch in ds.take(5).as_numpy_iterator():
        segments, positions = batch["segment_ids"], batch["positions"]
        assert (segments[:, 0] == 1).all() and (positions[:, 0] == 0).all()
        step = np.diff(segments, axis=1)
        assert np.isin(step, [0, 1]).all()
        assert (positions[:, 1:][step == 1] == 0).all()
        assert (np.diff(positions, axis=1)[step == 0] == 1).all()
        assert (batch["token_ids"] != PAD_ID).all()


def test_document_order_is_deterministic_under_a_seed(tokenizer):
    def first(seed):
        ds = make_dataset("embedded", tokenizer, batch_size=2, row_length=32, seed=seed)
        return next(iter(ds))["token_ids"].numpy()

    assert (first(4) == first(4)).all()
    assert (first(4) != first(5)).any()


@pytest.mark.parametrize("spec", ["embedded", "mix:embedded=0.6,files:{tmp}/*.txt=0.4"])
def test_iterator_checkpoint_resume_gives_identical_batches(tokenizer, tmp_path, spec):
    (tmp_path / "local.txt").write_text("A local text file with a few words. " * 20)
    spec = spec.format(tmp=tmp_path)

    def dataset():
        return make_dataset(spec, tokenizer, batch_size=2, row_length=48, seed=7)

    iterator = iter(dataset())
    for _ in range(3):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt" / "data"))
    expected = [next(iterator) for _ in range(3)]

    restored = iter(dataset())
    tf.train.Checkpoint(iterator=restored).restore(path).assert_consumed()
    for want in expected:
        got = next(restored)
        for k in KEYS:
            np.testing.assert_array_equal(got[k].numpy(), want[k].numpy())


def _documents_packed(dataset):
    """The documents (token lists, EOS-ended) packed into a one-pass dataset, in order."""
    tokens = [t for batch in dataset.as_numpy_iterator()
              for row in batch["token_ids"] for t in row.tolist() if t != PAD_ID]
    documents, current = [], []
    for t in tokens:
        current.append(t)
        if t == EOS_ID:
            documents.append(current)
            current = []
    assert current == []  # the last document ends with its EOS
    return documents


def test_host_shards_pack_every_shard_th_document_of_the_one_host_stream(tokenizer):
    # Per-host input on a mesh: shard s of B packs documents s, s + B, ... of
    # the same seeded, shuffled stream, so the hosts together read each
    # document once. Reference: the one-host stream, sliced.
    source = TextSource(embedded_documents()[:40])

    def packed(shard):
        return _documents_packed(make_dataset(source, tokenizer, batch_size=2, row_length=32,
                                              seed=3, split="train", repeat=False, shard=shard))

    whole = packed((0, 1))
    assert len(whole) > 20
    for index in range(3):
        assert packed((index, 3)) == whole[index::3], index
