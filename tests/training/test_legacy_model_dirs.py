"""A model dir written before `moe_offset` existed loads with the MoE blocks it trained."""

import dataclasses
import json

import numpy as np
import pytest

from export.exporter import read_model_dir, restore_model
from glam_tf.config import GlamConfig
from glam_tf.training.run_config import TrainConfig
from glam_tf.training.trainer import ModelDirError, Trainer, check_model_dir
from glam_tf.tokenizer import MODEL_FILENAME

# Two blocks, the MoE one second: what every model dir held before moe_offset.
OLD = GlamConfig(vocab_size=64, num_layers=2, d_model=32, d_ff=64, num_heads=2, head_dim=16,
                 num_experts=4, group_size=64, max_seq_len=32, min_expert_capacity=1,
                 moe_offset=1)
RUN = TrainConfig(steps=2, batch_size=4, seq_len=16, checkpoint_every=2, log_every=2,
                  eval_every=2, eval_batches=1)


def _rows(seed):
    import tensorflow as tf
    rows = tf.random.stateless_uniform([64, RUN.seq_len + 1], [seed, 0], 3, 60, tf.int32)
    rows = tf.data.Dataset.from_tensor_slices(rows).repeat().batch(RUN.batch_size)
    return rows.map(lambda x: {"token_ids": x, "segment_ids": tf.ones_like(x)})


def _by_name(model):
    """Weights by path below the model's own (auto-numbered) name."""
    return {w.path.split("/", 1)[1]: w.numpy() for w in model.weights}


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("legacy")
    check_model_dir(str(model_dir), OLD, RUN)
    trainer = Trainer(str(model_dir), OLD, RUN, _rows(0), _rows(1), log=lambda _: None)
    trainer.train()
    weights = _by_name(trainer.model)
    stored = json.loads((model_dir / "config.json").read_text())
    del stored["moe_offset"]  # as the code of that time wrote it
    (model_dir / "config.json").write_text(json.dumps(stored))
    (model_dir / MODEL_FILENAME).write_bytes(b"")  # read_model_dir only checks it exists
    return model_dir, weights


def test_export_reads_the_old_config_with_its_moe_block_second(legacy_dir):
    model_dir, weights = legacy_dir
    config, _, _, checkpoint = read_model_dir(str(model_dir))
    assert config == OLD and not config.is_moe_layer(0) and config.is_moe_layer(1)
    model = restore_model(config, checkpoint)
    restored = _by_name(model)
    assert restored.keys() == weights.keys()
    for path, value in weights.items():
        np.testing.assert_array_equal(restored[path], value, err_msg=path)


def test_resuming_with_todays_default_position_names_the_stored_one(legacy_dir):
    model_dir, _ = legacy_dir
    with pytest.raises(ModelDirError, match=r"moe_offset=1 \(asked: 0\)"):
        check_model_dir(str(model_dir), dataclasses.replace(OLD, moe_offset=0), RUN)
    assert check_model_dir(str(model_dir), OLD, RUN) is True
