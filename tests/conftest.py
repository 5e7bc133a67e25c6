import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

# tests/dtensor needs 8 logical devices set before TF starts: it runs in a
# process of its own, started by tests/test_dtensor_suite.py.
collect_ignore = [] if os.environ.get("GLAM_DTENSOR_SUITE") else ["dtensor"]


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state and the float32 policy."""
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    """Path of a 512-piece SentencePiece model trained on the embedded corpus."""
    from glam_tf.data import parse_data_spec
    from glam_tf.tokenizer import train_tokenizer

    texts = (t.decode() for t in parse_data_spec("embedded").documents("train")
             .take(3000).as_numpy_iterator())
    return train_tokenizer(texts, 512, tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, tokenizer):
    """glam_tiny with 2 blocks (one MoE) and that tokenizer, trained for 3 steps:
    real weights for comparing exports and backends, not good text. Read-only."""
    from glam_tf.cli import main

    directory = tmp_path_factory.mktemp("run") / "model"
    code = main(["train", "--preset", "glam_tiny", "--model_dir", str(directory), "--steps", "3",
                 "--batch_size", "2", "--seq_len", "32", "--set", "vocab_size=512",
                 "--set", "num_layers=2", "--tokenizer", tokenizer, "--log_every", "3",
                 "--eval_every", "3"])
    assert code == 0
    return directory
