"""The shared trained model dir (tests/conftest.py) and its export, for tests/export."""

import pytest
import tensorflow as tf


@pytest.fixture(scope="session")
def tokenizer_path(tokenizer):
    return tokenizer


@pytest.fixture(scope="session")
def model_dir(trained_model_dir):
    return trained_model_dir


@pytest.fixture(scope="session")
def export_base(trained_export_base):
    return trained_export_base


@pytest.fixture(scope="session")
def export_dir(trained_export_dir):
    """The shared export (tests/conftest.py), made with NAME, MAX_BATCH and MAX_NEW_TOKENS."""
    return trained_export_dir


@pytest.fixture(scope="session")
def loaded(export_dir):
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(export_dir)


@pytest.fixture(scope="session")
def reference(model_dir):
    """The trained model and tokenizer in this process, built without the exporter.

    Weights are read from the checkpoint by key, through the optimizer's
    `_trainable_variables/<i>` list (the exporter restores them through
    `model/...` instead, so the two paths check each other); a weight missing
    there is read as model/<name>.
    """
    from glam_tf.config import GlamConfig
    from glam_tf.model import GlamModel
    from glam_tf.tokenizer import load_tokenizer

    config = GlamConfig.from_json((model_dir / "config.json").read_text())
    model = GlamModel(config)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir / "checkpoints")))
    by_model = {id(model.embedding): "model/embedding",
                id(model.final_norm.variables[0]): "model/final_norm/scale"}
    for i, variable in enumerate(model.trainable_variables):
        key = f"optimizer/_trainable_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"
        if not reader.has_tensor(key):
            key = by_model[id(variable)] + "/.ATTRIBUTES/VARIABLE_VALUE"
        variable.assign(reader.get_tensor(key))
    return model, load_tokenizer(model_dir / "tokenizer.model")


@pytest.fixture(scope="session")
def predictor(export_dir):
    """The export behind a TF Serving-style Predict (TF1 Session, SignatureDef defaults)."""
    from loopback_serving import SessionPredictor

    return SessionPredictor(export_dir)
