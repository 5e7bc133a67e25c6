"""A tiny trained model dir and its export, for the evaluator's end-to-end tests.

The same recipe as tests/export/conftest.py (glam_tiny with 2 blocks, a
512-piece tokenizer, 3 training steps), with session scope.
"""

import pytest

EXPORT_NAME = "glam"
EXPORT_MAX_BATCH = 4
EXPORT_MAX_NEW_TOKENS = 8


@pytest.fixture(scope="session")
def eval_model_dir(tmp_path_factory):
    from glam_tf.cli import main
    from glam_tf.data import parse_data_spec
    from glam_tf.tokenizer import train_tokenizer

    texts = (t.decode() for t in parse_data_spec("embedded").documents("train")
             .take(3000).as_numpy_iterator())
    tokenizer = train_tokenizer(texts, 512, tmp_path_factory.mktemp("eval_tokenizer"))
    directory = tmp_path_factory.mktemp("eval_run") / "model"
    code = main(["train", "--preset", "glam_tiny", "--model_dir", str(directory), "--steps", "3",
                 "--batch_size", "2", "--seq_len", "32", "--set", "vocab_size=512",
                 "--set", "num_layers=2", "--tokenizer", tokenizer, "--log_every", "3",
                 "--eval_every", "3"])
    assert code == 0
    return directory


@pytest.fixture(scope="session")
def eval_export_dir(eval_model_dir, tmp_path_factory):
    from glam_tf.export import export_model

    return export_model(eval_model_dir, tmp_path_factory.mktemp("eval_serving"), EXPORT_NAME,
                        max_batch=EXPORT_MAX_BATCH, max_new_tokens=EXPORT_MAX_NEW_TOKENS)
