"""`glam train`: a Trainer on a --data spec, with the tokenizer kept in the model dir."""

from __future__ import annotations

import itertools
import os
import time

from glam_tf import fileio
from glam_tf.config import GlamConfig
from glam_tf.training.run_config import TrainConfig

# Documents read from the training split to train a tokenizer on.
TOKENIZER_DOCUMENTS = 50_000


def prepare_tokenizer(model_dir, config: GlamConfig, source, tokenizer_path=None, log=print):
    """model_dir/tokenizer.model: kept if present, else copied or trained on `source`."""
    from glam_tf.tokenizer import MODEL_FILENAME, load_tokenizer, train_tokenizer

    path = os.path.join(model_dir, MODEL_FILENAME)
    if fileio.exists(path):
        if tokenizer_path:
            log(f"{path} exists: using it, not {tokenizer_path}")
    elif tokenizer_path:
        source_path = (os.path.join(tokenizer_path, MODEL_FILENAME)
                       if fileio.isdir(tokenizer_path) else tokenizer_path)
        if not fileio.isfile(source_path):
            raise FileNotFoundError(f"--tokenizer {tokenizer_path}: no SentencePiece model there")
        fileio.makedirs(model_dir)
        fileio.write_new(path, fileio.read_bytes(source_path))  # whole or not at all
    else:
        log(f"Training a {config.vocab_size}-piece SentencePiece tokenizer on {source} ...")
        texts = (t.decode("utf-8") for t in itertools.islice(
            source.documents("train").as_numpy_iterator(), TOKENIZER_DOCUMENTS))
        train_tokenizer(texts, config.vocab_size, model_dir)
    tokenizer = load_tokenizer(path)
    size = int(tokenizer.vocab_size())
    if size > config.vocab_size:
        raise ValueError(f"{path} has {size} pieces but the model's vocab_size is "
                         f"{config.vocab_size}: use --set vocab_size={size} or another tokenizer")
    return tokenizer


def _report_accelerators(log) -> None:
    """Says which accelerators train, since TensorFlow's own device lines are quieted."""
    import collections

    import tensorflow as tf

    kinds = collections.Counter(d.device_type for d in tf.config.list_logical_devices()
                                if d.device_type != "CPU")
    if kinds:
        log("Devices: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))


def run_train(model_dir, config: GlamConfig, train_config: TrainConfig, tokenizer_path=None,
              log=print, sharding=None, time_limit=None) -> dict:
    """Trains in model_dir (resuming there); returns the last logged record.

    time_limit: seconds from this call (set-up included) after which training
    stops at a checkpoint; None trains to train_config.steps.
    """
    start = time.monotonic()
    import keras

    from glam_tf.data import make_dataset, parse_data_spec
    from glam_tf.training.host_input import HostInput
    from glam_tf.training.trainer import Trainer, check_model_dir

    check_model_dir(model_dir, config, train_config)
    _report_accelerators(log)
    source = parse_data_spec(train_config.data)
    tokenizer = prepare_tokenizer(model_dir, config, source, tokenizer_path, log)
    # This host reads only the batch shards its devices hold (all of one on one device).
    shards, count = sharding.batch_shards() if sharding else ([0], 1)
    if train_config.batch_size % count:
        raise ValueError(f"batch_size {train_config.batch_size} does not split into the mesh's "
                         f"{count} batch shards")

    # Streamed sources' shuffles draw on TensorFlow's global seed as well.
    keras.utils.set_random_seed(train_config.seed)

    def host_input(split):
        return HostInput({s: make_dataset(source, tokenizer, train_config.batch_size // count,
                                          train_config.seq_len + 1, seed=train_config.seed,
                                          split=split, shard=(s, count))
                          for s in shards}, count)

    trainer = Trainer(model_dir, config, train_config, host_input("train"),
                      host_input("validation"), log=log, sharding=sharding)
    if time_limit is not None:
        time_limit = max(time_limit - (time.monotonic() - start), 0.0)
    record = trainer.train(time_limit=time_limit)
    log(f"Done: {trainer.steps_done} steps in {model_dir} "
        f"(checkpoints/, tensorboard/, metrics.jsonl, tokenizer.model)")
    return record
