import os
import pathlib

import pytest
import tensorflow as tf

from glam_tf.data import embedded_documents
from glam_tf.tokenizer import (EOS_ID, MODEL_FILENAME, PAD_ID, detokenize_continuation,
                               load_tokenizer, train_tokenizer)

ROUND_TRIP = [
    "The quick brown fox jumps over the lazy dog.",
    "  leading and trailing spaces, and  doubled  ones  ",
    "lines\n\nwith\tTABS\r\nand CRLF\n",
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich — ça va?",
    "日本語のテキスト、한국어 텍스트, Ελληνικά, עברית, العربية",
    "emoji 🤖🚀 and combining e\u0301 and ﬁ ligatures",
    "Qwxzv plorbnik 1234567890 zzyzx!",  # nothing like it in the corpus
    "",
]


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    return train_tokenizer(embedded_documents()[:600], 1024, tmp_path_factory.mktemp("tok"))


def test_round_trip_restores_any_text_exactly(tokenizer_path):
    tokenizer = load_tokenizer(tokenizer_path)
    ids = tokenizer.tokenize(tf.constant(ROUND_TRIP))
    assert ids.dtype == tf.int32
    decoded = [t.decode("utf-8") for t in tokenizer.detokenize(ids).numpy()]
    assert decoded == ROUND_TRIP


def test_special_ids_are_pad_0_eos_1_and_never_emitted_for_text(tokenizer_path):
    tokenizer = load_tokenizer(tokenizer_path)
    assert tokenizer.id_to_string(PAD_ID).numpy() == b"<pad>"
    assert tokenizer.id_to_string(EOS_ID).numpy() == b"</s>"
    assert int(tokenizer.vocab_size()) == 1024
    ids = tokenizer.tokenize(tf.constant(ROUND_TRIP)).flat_values.numpy()
    assert PAD_ID not in ids and EOS_ID not in ids


def test_model_compresses_english(tokenizer_path):
    tokenizer = load_tokenizer(tokenizer_path)
    text = "Return the number of items in a container and raise an error otherwise."
    assert len(tokenizer.tokenize(text).numpy()) < len(text) / 2


def test_load_tokenizer_accepts_the_directory(tokenizer_path):
    tokenizer = load_tokenizer(os.path.dirname(tokenizer_path))
    assert tokenizer.tokenize("hello").numpy().tolist() == \
        load_tokenizer(tokenizer_path).tokenize("hello").numpy().tolist()


def test_load_tokenizer_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_tokenizer(tmp_path / "nowhere" / MODEL_FILENAME)


def test_train_never_overwrites_an_existing_model(tokenizer_path):
    before = pathlib.Path(tokenizer_path).read_bytes()
    with pytest.raises(FileExistsError, match=MODEL_FILENAME):
        train_tokenizer(["some text"] * 10, 300, os.path.dirname(tokenizer_path))
    assert pathlib.Path(tokenizer_path).read_bytes() == before


def test_vocab_too_large_for_corpus_raises_value_error_naming_size(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=5000"):
        train_tokenizer(["a tiny corpus of a few words.\n"] * 20, 5000, tmp_path)
    assert not (tmp_path / MODEL_FILENAME).exists()


def test_training_is_deterministic(tmp_path):
    texts = embedded_documents()[:100]
    first = train_tokenizer(texts, 512, tmp_path / "a", model_type="bpe")
    second = train_tokenizer(texts, 512, tmp_path / "b", model_type="bpe")
    assert pathlib.Path(first).read_bytes() == pathlib.Path(second).read_bytes()


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocab_size=100), "vocab_size=100"),
    (dict(vocab_size=512, model_type="word"), "model_type"),
])
def test_bad_arguments_raise_value_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_tokenizer(["text"], output_dir=tmp_path, **kwargs)


def test_tokenizer_survives_setting_the_global_seed(tokenizer_path):
    # TF Text's kernel-owned resource dies when tf.random.set_seed clears the
    # kernel cache; load_tokenizer's shared resource does not.
    tokenizer = load_tokenizer(tokenizer_path)
    before = tokenizer.tokenize("seeded text").numpy().tolist()
    tf.random.set_seed(7)
    assert tokenizer.tokenize("seeded text").numpy().tolist() == before


def test_a_continuation_is_detokenized_as_it_reads_after_its_prompt(tokenizer_path):
    tokenizer = load_tokenizer(tokenizer_path)
    prompts, continuations = ["the cat", "Answer:", "x"], [" sat down.", " 42", "yz"]
    alone = tokenizer.tokenize(tf.constant(prompts)).to_list()
    joined = tokenizer.tokenize(tf.constant([p + c for p, c in zip(prompts, continuations)]))
    after = tf.ragged.constant([j[len(a):] for a, j in zip(alone, joined.to_list())],
                               dtype=tf.int32)
    texts = [t.decode() for t in detokenize_continuation(tokenizer, after).numpy()]
    assert texts == continuations
    # Decoded alone, SentencePiece drops the leading space the dummy prefix stands for.
    assert tokenizer.detokenize(after).numpy()[0].decode() == "sat down."
    empty = tf.ragged.constant([[]], dtype=tf.int32)
    assert detokenize_continuation(tokenizer, empty).numpy().tolist() == [b""]
