"""DTensor tests: 8 logical CPU devices, set before TensorFlow starts.

This folder runs in its own pytest process (tests/test_dtensor_suite.py
starts it), because the device count cannot change once TF has started.
"""

import pytest

from glam_tf import sharding

sharding.configure_virtual_devices(8)


@pytest.fixture(scope="session")
def shared_mesh_run(tmp_path_factory):
    """The test run (`runs.RUN`) trained once on batch:2,expert:4 (`runs.mesh_run`),
    for every test that compares with it, inspects its trainer or restores its
    checkpoint. Tests must not train on in its model dir: use `runs.copy_of`."""
    import runs

    return runs.mesh_run(tmp_path_factory.mktemp("mesh_run") / "run")
