import pytest


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    """Path of a 512-piece SentencePiece model trained on the embedded corpus."""
    from glam_tf.data import parse_data_spec
    from glam_tf.tokenizer import train_tokenizer

    directory = tmp_path_factory.mktemp("tokenizer")
    texts = (t.decode() for t in parse_data_spec("embedded").documents("train")
             .take(3000).as_numpy_iterator())
    return train_tokenizer(texts, 512, directory)
