"""The shared trained model dir (tests/conftest.py) and its export, for the evaluator."""

import pytest


@pytest.fixture(scope="session")
def eval_model_dir(trained_model_dir):
    return trained_model_dir


@pytest.fixture(scope="session")
def eval_export_dir(trained_export_dir):
    """The export tests/export checks too (tests/conftest.py), made as
    test_evaluator.py's EXPORT_* constants say."""
    return trained_export_dir
