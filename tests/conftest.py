import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

# tests/dtensor needs 8 logical devices set before TF starts: it runs in a
# process of its own, started by tests/test_dtensor_suite.py.
collect_ignore = [] if os.environ.get("GLAM_DTENSOR_SUITE") else ["dtensor"]


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_in_pytests_tmp_path(tmp_path_factory):
    """Python's tempfile writes in this session's pytest basetemp, not in /tmp.

    TFDS makes a `tempfile.mkdtemp("tfds")` directory, and never removes it, each
    time it builds a DatasetInfo for a dataset not prepared in its data_dir (every
    `tfds.builder(name)` of tests/tasks/test_glam_tasks.py, tests/tasks/offline_tfds.py
    and evaluation's TFDS tasks): hundreds of /tmp/tmp*tfds per run before this. Pytest
    keeps only its last three basetemps, so these go with them.
    """
    import tempfile

    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tempfile"))
    yield
    tempfile.tempdir = saved


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


@pytest.fixture(scope="session")
def trained_model_args():
    """The model and data flags of trained_model_dir: a run continuing it repeats them."""
    return ["--preset", "glam_tiny", "--batch_size", "2", "--seq_len", "32",
            "--set", "vocab_size=512", "--set", "num_layers=2"]


@pytest.fixture(scope="session")
def trained_export_base(tmp_path_factory):
    """The TF Serving base dir of trained_export_dir: glam/1 and models.config only."""
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="session")
def trained_export_dir(trained_model_dir, trained_export_base):
    """trained_model_dir exported once, as "glam" version 1 with max_batch 4 and
    max_new_tokens 8 (tests/export/serving_helpers.py and tests/evaluation name these),
    for tests/export and tests/evaluation alike. Read-only."""
    from glam_tf.export import export_model

    return export_model(trained_model_dir, trained_export_base, "glam", max_batch=4,
                        max_new_tokens=8)


@pytest.fixture(scope="session")
def checkpointed_model_dir(tmp_path_factory, trained_model_dir, trained_model_args):
    """trained_model_dir trained on to step 5 with a checkpoint at each step (ckpt-3,
    4 and 5 kept) and steps 4 and 5 logged: a model dir to damage. Read-only: copy it."""
    import shutil

    from glam_tf.cli import main

    directory = tmp_path_factory.mktemp("checkpointed") / "model"
    shutil.copytree(trained_model_dir, directory)
    code = main(["train", *trained_model_args, "--model_dir", str(directory), "--steps", "5",
                 "--checkpoint_every", "1", "--log_every", "1", "--eval_every", "100"])
    assert code == 0
    return directory


@pytest.fixture
def unwritable_dir(tmp_path):
    """A directory in which no file can be created; it is left as it was."""
    if os.geteuid() != 0:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o555)
        yield target
        target.chmod(0o755)
        return
    # Root writes through permission bits; sysfs takes no new file from anyone.
    from pathlib import Path

    target = Path("/sys/kernel")
    if not target.is_dir():
        pytest.skip("running as root on a machine without /sys/kernel")
    yield target
