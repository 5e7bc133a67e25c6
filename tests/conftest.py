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
