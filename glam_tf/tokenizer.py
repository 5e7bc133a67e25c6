"""SentencePiece tokenizer: trained with `sentencepiece`, applied in-graph with TF Text.

The model is lossless: identity normalization, whitespace kept as it is and
byte fallback, so `detokenize(tokenize(s)) == s` for any Unicode text, even
text whose characters never appeared in training. Ids 0, 1 and 2 are the
padding, end-of-document and unknown pieces; there is no beginning-of-text id
(documents are separated by EOS in a packed stream).
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Iterable, Iterator

import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text
# TF Text's op wrappers; used to build a tokenizer resource that survives
# tf.random.set_seed (see _SharedModelResource).
from tensorflow_text.python.ops.sentencepiece_tokenizer import gen_sentencepiece_tokenizer

from glam_tf import fileio

PAD_ID = 0
EOS_ID = 1
UNK_ID = 2
MODEL_FILENAME = "tokenizer.model"

# SentencePiece skips (with only a log line) training sentences longer than
# max_sentence_length bytes, so long documents are cut into chunks of whole
# lines of at most this many characters (UTF-8 needs at most 4 bytes each).
_CHUNK_CHARS = 2048
_MAX_SENTENCE_BYTES = 4 * _CHUNK_CHARS


def train_tokenizer(texts: Iterable[str], vocab_size: int, output_dir, *,
                    model_type: str = "unigram", input_sentence_size: int = 200_000,
                    seed: int = 0, num_threads: int = 2) -> str:
    """Trains a SentencePiece model on `texts`; returns the path of `tokenizer.model`.

    Each text is cut at line ends into chunks of at most 2,048 characters, the
    units SentencePiece trains on. At most `input_sentence_size` chunks, drawn
    at random (seeded) from all of them, are used, which bounds the time.
    Writes `output_dir/tokenizer.model` and never overwrites it.

    Raises:
      FileExistsError: the model file exists already.
      ValueError: bad arguments, or `vocab_size` is too large for the corpus.
    """
    if model_type not in ("unigram", "bpe"):
        raise ValueError(f"model_type={model_type!r}: must be 'unigram' or 'bpe'")
    if vocab_size < 260:
        raise ValueError(f"vocab_size={vocab_size}: must be >= 260 (3 special ids "
                         "and 256 byte-fallback pieces come first)")
    path = os.path.join(os.fspath(output_dir), MODEL_FILENAME)
    if fileio.exists(path):
        raise FileExistsError(f"{path} exists already; remove it or choose another directory")
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_chunks(texts), model_writer=model,
            vocab_size=vocab_size, model_type=model_type,
            pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,
            byte_fallback=True, normalization_rule_name="identity",
            remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
            split_digits=True, character_coverage=0.9995,
            max_sentence_length=_MAX_SENTENCE_BYTES,
            input_sentence_size=input_sentence_size, shuffle_input_sentence=True,
            num_threads=num_threads, minloglevel=2)
    except RuntimeError as error:
        # Drop the C++ source location: "INTERNAL: src/x.cc(744) [check] Message".
        message = str(error).split("] ", 1)[-1].strip()
        if "too high" in message.lower():
            raise ValueError(f"vocab_size={vocab_size} is too large for this corpus: "
                             f"{message}") from error
        if "vocab" in message.lower():
            raise ValueError(f"vocab_size={vocab_size} does not fit this corpus: "
                             f"{message}") from error
        raise ValueError(f"SentencePiece training failed: {message}") from error
    fileio.makedirs(os.path.dirname(path) or ".")
    try:
        fileio.write_new(path, model.getvalue())
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while training; remove it or choose "
                              "another directory") from None
    return path


def load_tokenizer(path):
    """Loads `tokenizer.model` (or a directory holding it) as an in-graph TF Text tokenizer.

    Returns a `tensorflow_text.SentencepieceTokenizer` with int32 ids, adding
    neither BOS nor EOS: `tokenize(tf.string [...]) -> int32 [..., (tokens)]`.
    """
    path = os.fspath(path)
    if fileio.isdir(path):
        path = os.path.join(path, MODEL_FILENAME)
    if not fileio.isfile(path):
        raise FileNotFoundError(f"no SentencePiece model at {path}")
    model = fileio.read_bytes(path)
    tokenizer = tf_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
    tokenizer._model_resource = _SharedModelResource(model)
    return tokenizer


def detokenize_continuation(tokenizer, tokens):
    """The text of generated `tokens` (int ragged [B, (n)]) as it reads after its prompt.

    SentencePiece drops the space its dummy prefix puts at the start of a text,
    so `detokenize` turns a completion `▁September` into "September", where
    after "June July August ->" it reads " September". The tokens are decoded
    behind the byte-fallback piece of "A", which is then cut off. A model
    without byte-fallback pieces falls back to plain `detokenize`.
    """
    tokens = tf.cast(tokens, tf.int32)
    sentinel = tf.cast(tokenizer.string_to_id("<0x41>"), tf.int32)       # decodes to "A"
    first = tf.fill([tokens.nrows(), 1], sentinel)
    behind = tokenizer.detokenize(tf.concat([tf.RaggedTensor.from_tensor(first), tokens], 1))
    plain = tokenizer.detokenize(tokens)
    rest = tf.strings.length(behind) - 1
    return tf.where(sentinel == UNK_ID, plain,
                    tf.strings.substr(behind, tf.ones_like(rest), rest))


class _SharedModelResource(tf.saved_model.experimental.TrackableResource):
    """The SentencePiece model as a resource that no kernel owns.

    TF Text's own resource belongs to the kernel that made it, and eager
    TensorFlow drops its kernels whenever the global seed is set
    (`tf.random.set_seed`, `keras.utils.set_random_seed`): the tokenizer then
    fails with "Resource ... SentencepieceOp ... does not exist". A shared
    name (from the model's hash) keeps the resource alive.
    """

    def __init__(self, model: bytes):
        super().__init__()
        self._model = model
        self._shared_name = "glam_tf_sentencepiece_" + hashlib.sha256(model).hexdigest()[:32]
        _ = self.resource_handle  # creates the resource now

    def _create_resource(self):
        return gen_sentencepiece_tokenizer.sentencepiece_op(
            model=self._model, shared_name=self._shared_name)


def _chunks(texts: Iterable[str]) -> Iterator[str]:
    """Cuts each text at line ends into chunks of at most _CHUNK_CHARS characters."""
    for text in texts:
        chunk, size = [], 0
        for line in text.splitlines(keepends=True):
            for start in range(0, len(line), _CHUNK_CHARS):
                piece = line[start:start + _CHUNK_CHARS]
                if size + len(piece) > _CHUNK_CHARS:
                    yield from _non_blank("".join(chunk))
                    chunk, size = [], 0
                chunk.append(piece)
                size += len(piece)
        yield from _non_blank("".join(chunk))


def _non_blank(chunk: str) -> Iterator[str]:
    if chunk.strip():
        yield chunk
