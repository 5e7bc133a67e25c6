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


def check_tokenizer(model_dir, config: GlamConfig, tokenizer_path=None):
    """Which tokenizer a run in model_dir will use, checked and writing nothing:
    (tokenizer, or None when one must be trained; the file to copy, or None).

    Raises:
      ModelDirError: model_dir has checkpoints but no tokenizer.model (its
        embeddings belong to a tokenizer that is gone: never retrained).
      FileNotFoundError: --tokenizer names no SentencePiece model.
      ValueError: the tokenizer has more pieces than the model's vocab_size.
    """
    from glam_tf.tokenizer import MODEL_FILENAME, load_tokenizer
    from glam_tf.training.checkpoints import has_checkpoints
    from glam_tf.training.trainer import ModelDirError

    path = os.path.join(model_dir, MODEL_FILENAME)
    source_path = None
    if fileio.exists(path):
        used = path
    elif tokenizer_path:
        source_path = (os.path.join(tokenizer_path, MODEL_FILENAME)
                       if fileio.isdir(tokenizer_path) else tokenizer_path)
        if not fileio.isfile(source_path):
            raise FileNotFoundError(f"--tokenizer {tokenizer_path}: no SentencePiece model there")
        used = source_path
    elif has_checkpoints(os.path.join(model_dir, "checkpoints")):
        raise ModelDirError(
            f"{path} is missing but {model_dir} has checkpoints: their embeddings belong to "
            "the tokenizer they were trained with, and a new one would read them through "
            "another vocabulary. Put that tokenizer.model back (or give it with --tokenizer), "
            "or use a new --model_dir")
    else:
        return None, None
    try:
        tokenizer = load_tokenizer(used)
    except Exception as error:  # SentencePiece's own parse error: not a model file
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{used} is not a SentencePiece model ({error})") from None
    size = int(tokenizer.vocab_size())
    if size > config.vocab_size:
        raise ValueError(f"{used} has {size} pieces but the model's vocab_size is "
                         f"{config.vocab_size}: use --set vocab_size={size} or another tokenizer")
    return tokenizer, source_path


def prepare_tokenizer(model_dir, config: GlamConfig, source, tokenizer_path=None, log=print):
    """model_dir/tokenizer.model: kept if present, else copied or trained on `source`."""
    from glam_tf.tokenizer import MODEL_FILENAME, load_tokenizer, train_tokenizer

    path = os.path.join(model_dir, MODEL_FILENAME)
    tokenizer, source_path = check_tokenizer(model_dir, config, tokenizer_path)
    if tokenizer is not None and source_path is None:
        if tokenizer_path:
            log(f"{path} exists: using it, not {tokenizer_path}")
        return tokenizer
    if source_path:
        fileio.makedirs(model_dir)
        fileio.write_new(path, fileio.read_bytes(source_path))  # whole or not at all
        return tokenizer
    log(f"Training a {config.vocab_size}-piece SentencePiece tokenizer on {source} ...")
    texts = (t.decode("utf-8") for t in itertools.islice(
        source.documents("train").as_numpy_iterator(), TOKENIZER_DOCUMENTS))
    train_tokenizer(texts, config.vocab_size, model_dir)
    return load_tokenizer(path)


def open_data(spec):
    """The source of a --data spec, its first training document read (the check that
    it can be read at all); a ValueError naming the spec otherwise."""
    import tensorflow as tf

    from glam_tf.data import parse_data_spec

    source = parse_data_spec(spec)
    try:
        first = next(iter(source.documents("train").take(1)), None)
    except tf.errors.OpError as error:
        raise ValueError(f"--data {spec}: cannot read its first document "
                         f"({error.message.strip().splitlines()[0][:300]})") from None
    if first is None:
        raise ValueError(f"--data {spec}: has no training documents")
    return source


def check_run(model_dir, config: GlamConfig, train_config: TrainConfig, sharding=None):
    """The checks of a run's settings that need no data and write nothing."""
    from glam_tf.training.trainer import check_settings

    try:
        fileio.check_creatable(model_dir)
    except OSError as error:
        raise ValueError(f"--model_dir {model_dir}: cannot write into {error.filename} "
                         f"({error.strerror or error})") from None
    if train_config.seq_len > config.max_seq_len:
        raise ValueError(f"--seq_len {train_config.seq_len}: above the model's max_seq_len "
                         f"{config.max_seq_len} (--set max_seq_len={train_config.seq_len} "
                         "for a model that reads longer rows)")
    count = sharding.batch_shards()[1] if sharding else 1
    if train_config.batch_size % count:
        raise ValueError(f"batch_size {train_config.batch_size} does not split into the mesh's "
                         f"{count} batch shards")
    _check_host_memory(config, train_config, sharding)
    check_settings(model_dir, config, train_config)


def _check_host_memory(config, train_config, sharding):
    """A run on CPU devices (plain, or virtual ones on a mesh) must fit in the host's
    memory; on GPUs and TPUs the weights live in the devices' own."""
    import tensorflow as tf

    from glam_tf import plan
    from glam_tf.params import count_parameters, format_count

    if sharding:
        if sharding.mesh.device_type() != "CPU":
            return
        mesh = {axis: sharding.mesh.dim_size(axis) for axis in sharding.mesh.dim_names}
        rules = sharding.rules
    elif tf.config.list_physical_devices("GPU"):
        return
    else:
        mesh, rules = {}, {}
    memory = plan.plan_on(config, mesh, rules, train_config.optimizer, train_config.batch_size,
                          train_config.seq_len)
    plan.check_host_memory(memory,
                           f"A {format_count(count_parameters(config).total)}-parameter model")


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

    from glam_tf.data import make_dataset
    from glam_tf.training.checkpoints import remove_killed_saves
    from glam_tf.training.host_input import HostInput
    from glam_tf.training.trainer import Trainer, write_settings

    # Everything is checked before anything is written: a refused start leaves
    # model_dir as it was, so the corrected command runs.
    check_run(model_dir, config, train_config, sharding)
    source = open_data(train_config.data)
    check_tokenizer(model_dir, config, tokenizer_path)
    _report_accelerators(log)
    remove_killed_saves(model_dir, log)
    tokenizer = prepare_tokenizer(model_dir, config, source, tokenizer_path, log)
    write_settings(model_dir, config, train_config, log)
    # This host reads only the batch shards its devices hold (all of one on one device).
    shards, count = sharding.batch_shards() if sharding else ([0], 1)

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
