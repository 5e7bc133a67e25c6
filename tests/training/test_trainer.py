import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from glam_tf.config import GlamConfig
from glam_tf.training.run_config import TrainConfig
from glam_tf.training.trainer import ModelDirError, Trainer, check_model_dir

SMALL = GlamConfig(vocab_size=64, num_layers=2, d_model=32, d_ff=64, num_heads=2, head_dim=16,
                   num_experts=4, group_size=64, max_seq_len=32, min_expert_capacity=1)
RUN = TrainConfig(steps=12, batch_size=4, seq_len=16, checkpoint_every=4, log_every=2,
                  eval_every=6, eval_batches=2)


def _counting_data(train_config):
    """Rows of an arithmetic pattern a model can learn quickly; two docs per row."""
    def make(seed):
        length = train_config.seq_len + 1
        rows = tf.data.Dataset.range(1 << 20).map(
            lambda i: tf.cast((tf.range(length, dtype=tf.int64) * 3 + i) % 50 + 3, tf.int32))
        rows = rows.shuffle(64, seed=seed).batch(train_config.batch_size, drop_remainder=True)
        segments = tf.repeat([1, 2], [length // 2, length - length // 2])
        return rows.map(lambda x: {"token_ids": x,
                                   "segment_ids": tf.broadcast_to(segments, tf.shape(x))})
    return make(train_config.seed), make(train_config.seed + 1)


def _trainer(model_dir, config=SMALL, run=RUN, log=lambda _: None):
    """A Trainer in a checked model dir, as `glam train` makes one."""
    check_model_dir(str(model_dir), config, run)
    keras.utils.set_random_seed(run.seed)  # the shuffle draws on TF's global seed
    return Trainer(str(model_dir), config, run, *_counting_data(run), log=log)


def _metrics(model_dir):
    with open(model_dir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A model dir of SMALL trained for RUN (12 steps, checkpoints at 4, 8, 12). Read-only."""
    model_dir = tmp_path_factory.mktemp("trained")
    _trainer(model_dir).train()
    return model_dir


def test_loss_falls_on_a_learnable_pattern(tmp_path):
    trainer = _trainer(tmp_path, run=dataclasses.replace(RUN, steps=30))
    trainer.train()
    losses = [r["cross_entropy"] for r in _metrics(tmp_path) if "cross_entropy" in r]
    assert losses[-1] < 0.5 * losses[0], losses


def test_resumed_run_continues_with_the_same_losses_as_an_uninterrupted_one(tmp_path,
                                                                            trained_dir):
    first = _trainer(tmp_path / "b", run=dataclasses.replace(RUN, steps=8))
    first.train()
    messages = []
    _trainer(tmp_path / "b", log=messages.append).train()
    assert messages[0].startswith(f"Resuming {tmp_path / 'b'} from step 8")
    # Training records but their speed (a stopped run also validates at its last step).
    without_speed = lambda records: [{k: v for k, v in r.items() if k != "tokens_per_second"}
                                     for r in records if "loss" in r]
    assert without_speed(_metrics(tmp_path / "b")) == without_speed(_metrics(trained_dir))


def test_a_nan_step_is_skipped_and_leaves_every_weight_unchanged(tmp_path):
    trainer = _trainer(tmp_path)
    batch = next(trainer.data)
    trainer.train_step(batch)
    before = [w.numpy().copy() for w in trainer.model.weights]
    iterations = int(trainer.optimizer.iterations)
    row = int(batch["token_ids"][0, 0])
    poisoned = before[0].copy()  # the embedding: one used row becomes NaN
    poisoned[row] = np.nan
    trainer.model.embedding.assign(poisoned)
    trainer.train_step(batch)
    assert int(trainer.skipped) == 1 and int(trainer.optimizer.iterations) == iterations
    trainer.model.embedding.assign(before[0])
    for weight, old in zip(trainer.model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), old, err_msg=weight.path)
    parts, _ = trainer.train_step(batch)
    assert np.isfinite(float(parts["loss"])) and int(trainer.skipped) == 1
    assert all(np.isfinite(w.numpy()).all() for w in trainer.model.weights)


def test_another_model_config_in_the_model_dir_is_an_error(trained_dir):
    with pytest.raises(ModelDirError, match=r"d_ff=64 \(asked: 32\)"):
        check_model_dir(str(trained_dir), dataclasses.replace(SMALL, d_ff=32), RUN)
    assert GlamConfig.from_json((trained_dir / "config.json").read_text()) == SMALL


def test_other_data_settings_in_the_model_dir_are_an_error(trained_dir):
    with pytest.raises(ModelDirError, match="batch_size=4"):
        check_model_dir(str(trained_dir), SMALL, dataclasses.replace(RUN, batch_size=8))


def test_summaries_hold_loss_parts_and_routing_statistics(trained_dir):
    record = _metrics(trained_dir)[0]
    for key in ("loss", "cross_entropy", "moe_aux_loss", "router_z_loss", "logit_z_loss",
                "learning_rate", "tokens_per_second", "skipped_steps"):
        assert key in record, key
    tags = set()
    for path in (trained_dir / "tensorboard" / "train").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    assert {"loss", "moe_0/expert_load", "moe_0/dropped_token_fraction",
            "moe_0/over_capacity_2", "learning_rate"} <= tags
    assert any("validation_cross_entropy" in r for r in _metrics(trained_dir))


def test_metrics_jsonl_records_each_moe_layers_expert_load_fractions(trained_dir):
    records = [r for r in _metrics(trained_dir) if "loss" in r]
    assert records and all("expert_load" in r for r in records)
    for record in records:
        (layer,) = record["expert_load"]  # SMALL: 2 blocks, one of them MoE
        assert len(layer) == SMALL.num_experts
        assert all(x >= 0 for x in layer) and abs(sum(layer) - 1) < 1e-4


def test_time_limit_stops_at_a_checkpointed_step_and_a_rerun_goes_on(tmp_path):
    messages = []
    trainer = _trainer(tmp_path, log=messages.append)
    trainer.train(time_limit=0.0)
    assert trainer.stopped_early and trainer.steps_done == 1
    assert trainer.checkpoints.latest_checkpoint.endswith("ckpt-1")
    assert any(m.startswith("Stopping at step 1/12: the time limit") for m in messages)
    assert any(r.get("step") == 1 and "validation_cross_entropy" in r for r in _metrics(tmp_path))
    again = _trainer(tmp_path)
    again.train(time_limit=600.0)
    assert not again.stopped_early and again.steps_done == RUN.steps


@pytest.mark.slow
def test_tiny_preset_loss_falls_clearly_on_the_embedded_corpus(tmp_path, tokenizer):
    from glam_tf.data import make_dataset
    from glam_tf.presets import PRESETS
    from glam_tf.tokenizer import load_tokenizer

    config = dataclasses.replace(PRESETS["glam_tiny"], vocab_size=512)
    run = TrainConfig(steps=40, batch_size=8, seq_len=64, log_every=1, eval_every=40,
                      checkpoint_every=40)

    tok = load_tokenizer(tokenizer)
    make = lambda split: make_dataset("embedded", tok, run.batch_size, run.seq_len + 1,
                                      seed=run.seed, split=split)
    check_model_dir(str(tmp_path), config, run)
    trainer = Trainer(str(tmp_path), config, run, make("train"), make("validation"),
                      log=lambda _: None)
    initial = trainer.validation_loss()
    trainer.train()
    losses = [r["cross_entropy"] for r in _metrics(tmp_path) if "cross_entropy" in r]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0, losses
    assert trainer.validation_loss() < initial - 1.0


def test_the_progress_bar_shows_step_loss_and_throughput():
    import io

    from glam_tf.progress import ProgressBar
    from glam_tf.training.summaries import bar_text

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    ProgressBar(screen, width=10).draw(5, 10, suffix=bar_text(3.25, 1234.0))
    assert screen.getvalue() == "\r[#####.....] 5/10  loss 3.2500  1,234 tok/s"

def test_a_run_killed_before_its_first_checkpoint_leaves_one_record_per_step(tmp_path):
    run = dataclasses.replace(RUN, steps=4, log_every=1)
    # What two killed starts left: steps 1-2 logged twice, a line cut short, no checkpoint.
    lines = [json.dumps({"step": s, "loss": 1.0}) for s in (1, 2, 1, 2)] + ['{"step": 3, "lo']
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines))
    messages = []
    _trainer(tmp_path, run=run, log=messages.append).train()
    assert messages[0] == f"Starting {tmp_path} from step 0 (redoing 5 logged steps after it): " \
                          "no checkpoint yet"
    assert [r["step"] for r in _metrics(tmp_path) if "loss" in r] == [1, 2, 3, 4]


def test_weights_turning_non_finite_stop_the_run_and_keep_the_last_finite_checkpoint(tmp_path):
    from glam_tf.training.trainer import NonFiniteError

    trainer = _trainer(tmp_path, run=dataclasses.replace(RUN, steps=4))
    trainer.train()
    poisoned = trainer.model.embedding.numpy()
    poisoned[0, 0] = np.inf  # as an infinite update leaves it: loss and gradients stay finite
    trainer.model.embedding.assign(poisoned)
    trainer.train_config = dataclasses.replace(RUN, steps=8)
    with pytest.raises(NonFiniteError, match=r"step 6: 1 variables hold NaN or Inf .*ckpt-4 "
                                             r"is the last checkpoint"):
        trainer.train()
    assert trainer.checkpoints.latest_checkpoint.endswith("ckpt-4")
    assert max(r["step"] for r in _metrics(tmp_path)) == 4  # step 6 is not logged
    # A checkpoint of such weights (as a run without this check saved them) is
    # skipped at the next start, which resumes from the finite one.
    trainer.data_checkpoints.save(checkpoint_number=6)
    trainer.checkpoints.save(checkpoint_number=6)
    messages = []
    assert _trainer(tmp_path, run=dataclasses.replace(RUN, steps=8),
                    log=messages.append).steps_done == 4
    assert "ckpt-6: NaN or Inf in 1 variables (glam_model" in messages[0], messages


def test_train_settings_are_named_by_their_flags_and_must_be_finite():
    from glam_tf.config import ConfigError

    for field, value, words in (("steps", 0, "--steps 0: must be an integer >= 1"),
                                ("peak_learning_rate", float("inf"), "--learning_rate inf"),
                                ("peak_learning_rate", float("nan"), "--learning_rate nan"),
                                ("eval_batches", 0, "TrainConfig.eval_batches=0")):
        with pytest.raises(ConfigError) as error:
            dataclasses.replace(RUN, **{field: value})
        assert str(error.value).startswith(words), str(error.value)
        assert "GlamConfig" not in str(error.value)


def test_a_resume_with_another_schedule_is_refused(trained_dir):
    with pytest.raises(ModelDirError, match="peak_learning_rate=0.01"):
        check_model_dir(str(trained_dir), SMALL,
                        dataclasses.replace(RUN, peak_learning_rate=0.02))
    assert json.loads((trained_dir / "train.json").read_text())["peak_learning_rate"] == 0.01


def test_a_model_dir_without_checkpoints_takes_new_settings_and_says_so_once(tmp_path):
    _trainer(tmp_path)  # settings written, nothing trained
    (tmp_path / "tokenizer.model").write_bytes(b"kept")
    config, run = dataclasses.replace(SMALL, d_ff=32), dataclasses.replace(
        RUN, peak_learning_rate=0.001, batch_size=8)
    messages = []
    assert check_model_dir(str(tmp_path), config, run, log=messages.append) is True
    assert messages == [f"{tmp_path} has no checkpoint, so nothing trained is lost: starting "
                        "it again with the new settings (d_ff=64 (asked: 32); batch_size=4 "
                        "(asked: 8); peak_learning_rate=0.01 (asked: 0.001)), keeping its "
                        "tokenizer.model"]
    assert GlamConfig.from_json((tmp_path / "config.json").read_text()) == config
    assert json.loads((tmp_path / "train.json").read_text()) == json.loads(run.to_json())
    assert (tmp_path / "tokenizer.model").read_bytes() == b"kept"
    messages.clear()  # the same settings again: nothing to say, nothing rewritten
    check_model_dir(str(tmp_path), config, dataclasses.replace(run, steps=99),
                    log=messages.append)
    assert messages == [] and json.loads((tmp_path / "train.json").read_text())["steps"] == 12
