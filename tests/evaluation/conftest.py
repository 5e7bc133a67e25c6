"""The shared trained model dir (tests/conftest.py) and its export, for the evaluator."""

import pytest

EXPORT_NAME = "glam"
EXPORT_MAX_BATCH = 4
EXPORT_MAX_NEW_TOKENS = 8


@pytest.fixture(scope="session")
def eval_model_dir(trained_model_dir):
    return trained_model_dir


@pytest.fixture(scope="session")
def eval_export_dir(eval_model_dir, tmp_path_factory):
    from glam_tf.export import export_model

    return export_model(eval_model_dir, tmp_path_factory.mktemp("eval_serving"), EXPORT_NAME,
                        max_batch=EXPORT_MAX_BATCH, max_new_tokens=EXPORT_MAX_NEW_TOKENS)
