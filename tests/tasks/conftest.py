"""Fixtures of the task tests: the real-sample datasets, prepared once per session."""

import os

import pytest

from offline_tfds import REAL_SAMPLE_FOLDERS, REAL_SAMPLES, offline_build


@pytest.fixture(scope="session")
def real_samples(tmp_path_factory):
    """TFDS data dir holding the real-sample datasets of REAL_SAMPLE_FOLDERS's tasks."""
    from glam_tf.tasks import REGISTRY

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    for task_name, folder in REAL_SAMPLE_FOLDERS.items():
        offline_build(REGISTRY.get(task_name).source.name,
                      os.path.join(REAL_SAMPLES, folder), data_dir)
    return data_dir
