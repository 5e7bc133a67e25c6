"""`glam export`: the TF Serving directory layout, versions, atomic writes, models.config."""

import os
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import text_format
from serving_helpers import NAME
from tensorflow.python.tools import saved_model_utils
from tensorflow_serving.config import model_server_config_pb2

from glam_tf.cli import main
from glam_tf.export import exporter


def test_export_writes_the_tf_serving_layout_and_nothing_else(export_dir, export_base):
    assert Path(export_dir) == export_base / NAME / "1"
    assert sorted(os.listdir(export_base / NAME)) == ["1"]  # no temporary directory left
    for part in ("saved_model.pb", "variables/variables.index", "assets/tokenizer.model",
                 "assets.extra/tf_serving_warmup_requests"):
        assert (Path(export_dir) / part).is_file(), part
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((export_base / "models.config").read_text(), config)
    assert [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config] \
        == [(NAME, "/models/glam", "tensorflow")]


def test_versions_count_up_from_the_largest_and_are_never_overwritten(tmp_path):
    written = []

    def write(directory):
        assert Path(directory).parent == tmp_path / "m"          # inside BASE/NAME
        assert not Path(directory).name.isdigit()                # invisible to TF Serving
        written.append(directory)
        Path(directory, "saved_model.pb").write_text("x")

    assert exporter.publish_version(tmp_path, "m", write) == str(tmp_path / "m" / "1")
    for name in ("3", "notes", "10x"):
        (tmp_path / "m" / name).mkdir()
    assert exporter.publish_version(tmp_path, "m", write).endswith("/m/4")
    assert exporter.publish_version(tmp_path, "m", write, version=7).endswith("/m/7")
    with pytest.raises(FileExistsError, match=f"{tmp_path / 'm' / '7'} exists already"):
        exporter.publish_version(tmp_path, "m", write, version=7)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        exporter.publish_version(tmp_path, "m", write, version=0)
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "10x", "3", "4", "7", "notes"]
    assert (tmp_path / "m" / "7" / "saved_model.pb").read_text() == "x"


def test_a_failed_export_leaves_no_version_and_no_temporary_directory(tmp_path):
    def write(directory):
        Path(directory, "saved_model.pb").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        exporter.publish_version(tmp_path, "m", write)
    assert os.listdir(tmp_path / "m") == []


def test_models_config_gains_the_model_and_keeps_the_other_entries(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('model_config_list { config { name: "other" base_path: "/models/other" '
                    'model_platform: "tensorflow" model_version_policy { all {} } } }')
    exporter.update_models_config(tmp_path, "glam", "/models/glam")
    exporter.update_models_config(tmp_path, "glam", "/srv/glam")  # updated, not duplicated
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(path.read_text(), config)
    entries = {c.name: c for c in config.model_config_list.config}
    assert sorted(entries) == ["glam", "other"]
    assert entries["glam"].base_path == "/srv/glam"
    assert entries["other"].model_version_policy.HasField("all")
    path.write_text("not a config {")
    with pytest.raises(ValueError, match="models.config is not a ModelServerConfig"):
        exporter.update_models_config(tmp_path, "glam", "/models/glam")


@pytest.mark.slow
def test_glam_export_takes_the_next_version_and_refuses_an_existing_one(
        model_dir, export_dir, tmp_path, capsys):
    base = tmp_path / "serving"
    shutil.copytree(export_dir, base / "lm" / "1")  # an earlier export of the same model
    args = ["export", "--model_dir", str(model_dir), "--export_base", str(base), "--name", "lm"]
    assert main(args) == 0
    assert capsys.readouterr().out.split() == [str(base / "lm" / "2")]
    assert sorted(os.listdir(base / "lm")) == ["1", "2"]
    # Without --max_new_tokens: min(256, max_seq_len // 2) = 64, also the signature default.
    defaults = saved_model_utils.get_meta_graph_def(str(base / "lm" / "2"), "serve") \
        .signature_def["serving_default"].defaults
    assert tf.make_ndarray(defaults["max_new_tokens"]) == 64

    assert main(args + ["--version", "1"]) == 2
    error = capsys.readouterr().err
    assert f"{base / 'lm' / '1'} exists already" in error and "Traceback" not in error


def test_glam_export_reports_a_missing_checkpoint_config_or_tokenizer_by_path(
        model_dir, tmp_path, capsys):
    args = lambda d: ["export", "--model_dir", str(d), "--export_base", str(tmp_path / "s"),
                      "--name", "lm"]
    no_checkpoint = tmp_path / "no_checkpoint"
    no_checkpoint.mkdir()
    for name in ("config.json", "train.json", "tokenizer.model"):
        shutil.copy(model_dir / name, no_checkpoint / name)
    assert main(args(no_checkpoint)) == 2
    assert f"no checkpoint in {no_checkpoint / 'checkpoints'}" in capsys.readouterr().err
    for missing in ("config.json", "tokenizer.model"):
        partial = tmp_path / f"without_{missing}"
        shutil.copytree(model_dir, partial)
        os.remove(partial / missing)
        assert main(args(partial)) == 2
        assert f"{partial / missing} is missing" in capsys.readouterr().err
    assert main(args(tmp_path / "nowhere")) == 2
    assert "no such model directory" in capsys.readouterr().err
    assert not (tmp_path / "s" / "lm").exists() or not os.listdir(tmp_path / "s" / "lm")


def test_bad_names_bounds_and_configs_are_refused_before_anything_is_written(model_dir, tmp_path):
    with pytest.raises(ValueError, match="--max_new_tokens 128: must be in \\[1, 127\\]"):
        exporter.export_model(model_dir, tmp_path, "lm", max_new_tokens=128)
    with pytest.raises(ValueError, match="--max_batch 0"):
        exporter.export_model(model_dir, tmp_path, "lm", max_batch=0)
    with pytest.raises(ValueError, match="--name '../x'"):
        exporter.export_model(model_dir, tmp_path, "../x")
    assert os.listdir(tmp_path) == []
    (tmp_path / "models.config").write_text("model_config_list {")
    with pytest.raises(ValueError, match="models.config is not a ModelServerConfig"):
        exporter.export_model(model_dir, tmp_path, "lm")
    assert os.listdir(tmp_path) == ["models.config"]
