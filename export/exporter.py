"""`export_model`: a trained model directory -> a TF Serving model version.

    BASE/NAME/VERSION/saved_model.pb, variables/, assets/tokenizer.model,
                      assets.extra/tf_serving_warmup_requests
    BASE/models.config   (a ModelServerConfig listing NAME; other entries kept)

Everything is written into a temporary directory inside BASE/NAME (TF
Serving ignores names that are not integers) and then moved into place. On a
local disk the move is one rename, so a version appears whole or not at all.
On gs:// (and other filesystems where a rename is a copy per file) the files
are copied one by one with saved_model.pb last: a version directory without
saved_model.pb is still being written. An existing version is never overwritten.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from glam_tf import fileio
from glam_tf.config import GlamConfig
from glam_tf.export import client, spec
from glam_tf.export.signatures import ServingModule
from glam_tf.tokenizer import EOS_ID, MODEL_FILENAME, load_tokenizer

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MODELS_CONFIG = "models.config"
DEFAULT_MAX_NEW_TOKENS = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_WARMUP_PROMPTS = ("The", "")  # an empty prompt is a valid request too


def export_model(model_dir, export_base, name, *, version=None, max_batch=64,
                 max_new_tokens=None, server_base="/models"):
    """Exports model_dir's latest checkpoint as export_base/name/<version>; returns that path.

    Args:
      version: the version number; None = 1 + the largest one there (1 if none).
      max_batch: most prompts per request (enforced in the graph).
      max_new_tokens: most tokens a request may generate, and the default;
        None = min(256, max_seq_len // 2). At most max_seq_len - 1.
      server_base: where the server sees export_base, for the base_path that
        models.config gets (the tensorflow/serving image mounts it at /models).

    Raises:
      FileNotFoundError: model_dir lacks its config, tokenizer or a checkpoint.
      FileExistsError: the version exists already.
      ValueError: a bad name, version or bound.
    """
    if not _NAME.match(name or ""):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' and '-' "
                         "(it is a directory name and part of the REST URL)")
    if max_batch < 1:
        raise ValueError(f"--max_batch {max_batch}: must be >= 1")
    config, train_config, tokenizer_path, checkpoint = read_model_dir(model_dir)
    if max_new_tokens is None:
        max_new_tokens = min(DEFAULT_MAX_NEW_TOKENS, config.max_seq_len // 2)
    if not 1 <= max_new_tokens <= config.max_seq_len - 1:
        raise ValueError(f"--max_new_tokens {max_new_tokens}: must be in [1, "
                         f"{config.max_seq_len - 1}] (max_seq_len - 1: the prompt needs its "
                         "first token)")
    # The export base, version and models.config are checked before the slow
    # part; the version again when it is published.
    check_export_base(export_base, name)
    version = resolve_version(os.path.join(os.fspath(export_base), name), version)
    read_models_config(export_base)
    remove_stale_exports(os.path.join(os.fspath(export_base), name))
    module = build_module(config, tokenizer_path, checkpoint, max_batch,
                          max_new_tokens)
    path = publish_version(export_base, name, lambda tmp: write_saved_model(module, tmp, name),
                           version)
    update_models_config(export_base, name, server_base.rstrip("/") + "/" + name)
    return path


def read_model_dir(model_dir):
    """(GlamConfig, TrainConfig, tokenizer.model path, newest checkpoint) of a trained
    model dir. The newest by its files (`checkpoints.saved_steps`), whatever the
    state file says; `restore_model` falls back from it past damaged ones."""
    from glam_tf.training.checkpoints import prefix, saved_steps
    from glam_tf.training.run_config import TrainConfig

    model_dir = os.fspath(model_dir)
    if not fileio.isdir(model_dir):
        raise FileNotFoundError(f"{model_dir}: no such model directory")
    paths = {name: os.path.join(model_dir, name)
             for name in ("config.json", "train.json", MODEL_FILENAME)}
    for name, path in paths.items():
        if not fileio.isfile(path):
            raise FileNotFoundError(f"{path} is missing: is {model_dir} a model directory "
                                    "made by glam train?")
    try:
        config = GlamConfig.from_json(fileio.read_text(paths["config.json"]))
        train_config = TrainConfig(**json.loads(fileio.read_text(paths["train.json"])))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{model_dir}: config.json or train.json is damaged ({error})") \
            from None
    directory = os.path.join(model_dir, "checkpoints")
    steps = saved_steps(directory)
    if not steps:
        raise FileNotFoundError(f"no checkpoint in {directory}: "
                                "train the model first (glam train)")
    return config, train_config, paths[MODEL_FILENAME], prefix(directory, steps[0])


def restore_model(config, checkpoint, log=None):
    """An unsharded GlamModel (gather dispatch) holding a checkpoint's weights.

    checkpoint: a checkpoint DIR/ckpt-N, or a directory of them. The newest one
    of DIR that restores, starting at ckpt-N, is taken; the ones skipped are
    logged with the reason (to stderr by default;
    `glam_tf.training.checkpoints.restore_newest`). Another path is restored as
    it is.
    Only the model is read (`tf.train.Checkpoint(model=...)`, as the trainer
    writes it); the optimizer's slots and step counters are left in the file.
    Every weight of the model must be in the checkpoint, and finite.

    Raises:
      CheckpointError (a ValueError): no checkpoint restores, or its weights
        hold NaN or Inf.
    """
    from glam_tf.model import GlamModel
    from glam_tf.training import checkpoints

    model = GlamModel(config, dispatch="gather")

    def restore(path):
        # The optimizer and the data position are not needed.
        checkpoints.restore_from(tf.train.Checkpoint(model=model), path).expect_partial()

    step = checkpoints.step_of(checkpoint)
    if fileio.isdir(checkpoint) or step is not None:
        directory = checkpoint if step is None else os.path.dirname(checkpoint)
        kwargs = {"log": log} if log else {}
        checkpoint, _ = checkpoints.restore_newest(directory, restore, upto=step, **kwargs)
    else:
        restore(checkpoint)
    bad = [w.path for w in model.weights if not np.isfinite(w.numpy()).all()]
    if bad:
        raise checkpoints.CheckpointError(
            f"{checkpoint} holds NaN or Inf in {len(bad)} weights ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}): refusing a model that would serve NaN scores")
    return model


def build_module(config, tokenizer_path, checkpoint, max_batch, max_new_tokens):
    """The ServingModule around the restored model and the in-graph tokenizer."""
    model = restore_model(config, checkpoint)
    tokenizer = load_tokenizer(tokenizer_path)
    return ServingModule(model, tokenizer, tokenizer_path, max_batch, max_new_tokens)


def write_saved_model(module, directory, name):
    """The SavedModel with every signature, plus the warmup requests, into `directory`."""
    tf.saved_model.save(module, directory, signatures=module.signature_functions())
    fileio.makedirs(os.path.join(directory, "assets.extra"))
    with tf.io.TFRecordWriter(os.path.join(directory, WARMUP_FILE)) as writer:
        for request in warmup_requests(module, name):
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def warmup_requests(module, name):
    """One small PredictRequest per signature (TF Serving runs them before serving)."""
    tokens = module.tokenizer.tokenize(tf.constant(_WARMUP_PROMPTS)).to_list()
    prompt_ids = [[EOS_ID] + t for t in tokens]
    width = max(map(len, prompt_ids))
    ids = [[0] * (width - len(p)) + p for p in prompt_ids]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids]
    new = min(2, module.max_new_tokens)
    inputs = {
        "serving_default": {"prompts": list(_WARMUP_PROMPTS), "max_new_tokens": new},
        "beam": {"prompts": list(_WARMUP_PROMPTS), "max_new_tokens": new},
        "score": {"prompts": list(_WARMUP_PROMPTS), "continuations": [" a", ""]},
        "score_candidates": {"prompts": list(_WARMUP_PROMPTS),
                             "candidates": [[" a", " b"], [" a", ""]]},
        "generate_ids": {"prompt_ids": ids, "prompt_mask": mask, "max_new_tokens": new},
        "score_ids": {"prompt_ids": ids, "prompt_mask": mask,
                      "continuation_ids": [[ids[0][-1]], [0]], "continuation_mask": [[1], [0]]},
    }
    assert set(inputs) == set(spec.SIGNATURES)
    return [client.predict_request(name, signature, **values)
            for signature, values in inputs.items()]


def publish_version(export_base, name, write, version=None):
    """Runs write(tmp_dir) and renames tmp_dir to export_base/name/<version>; returns that path.

    The version is 1 + the largest integer directory there (1 if none) unless
    given. The temporary directory is removed if anything fails.
    """
    model_base = os.path.join(os.fspath(export_base), name)
    version = resolve_version(model_base, version)
    final = os.path.join(model_base, str(version))
    fileio.makedirs(model_base)
    tmp = os.path.join(model_base, f".tmp-{version}-{uuid.uuid4().hex[:12]}")
    fileio.makedirs(tmp)
    try:
        write(tmp)
        if fileio.exists(final):  # another export took this version meanwhile
            raise FileExistsError(f"{final} appeared during the export")
        _move_version(tmp, final)
    finally:
        if fileio.exists(tmp):
            fileio.rmtree(tmp)
    return final


def _move_version(tmp, final):
    """tmp -> final: one rename on a local disk; else file by file, saved_model.pb last."""
    if not fileio.is_remote(final):
        try:
            fileio.rename(tmp, final)
        except OSError as error:  # another export took this version meanwhile
            raise FileExistsError(f"{final} appeared during the export: {error}") from error
        return
    # A remote rename of a directory is a copy per object in listing order,
    # which would publish saved_model.pb before variables/: TF Serving could
    # load a half-copied version.
    names = fileio.files_below(tmp)
    names.sort(key=lambda name: name == "saved_model.pb")
    for name in names:
        fileio.makedirs(os.path.dirname(os.path.join(final, name)))
        fileio.copy(os.path.join(tmp, name), os.path.join(final, name))


def check_export_base(export_base, name) -> None:
    """Refuses an export base that is a file, or that this process cannot write in,
    before anything is built; creates nothing."""
    base = os.fspath(export_base)
    model_base = os.path.join(base, name)
    for path, is_dir in ((base, True), (model_base, True),
                         (os.path.join(base, MODELS_CONFIG), False)):
        if fileio.exists(path) and fileio.isdir(path) != is_dir:
            kind = "a file, not a directory" if is_dir else "a directory, not a file"
            raise ValueError(f"--export_base {base}: {path} is {kind}")
    try:
        fileio.check_creatable(model_base)
    except OSError as error:
        raise ValueError(f"--export_base {base}: cannot write into {error.filename} "
                         f"({error.strerror or error})") from None


# A temporary version directory untouched this long is left by a killed export
# (a running one writes into it all along).
STALE_EXPORT_SECONDS = 3600
_TEMP_VERSION = re.compile(r"^\.tmp-\d+-[0-9a-f]{12}$")


def remove_stale_exports(model_base, log=None) -> list:
    """Removes the `.tmp-V-<hex>` directories of killed exports from model_base;
    returns their paths. One counts as killed when nothing in it changed for
    STALE_EXPORT_SECONDS, so a concurrent export's is left alone."""
    if not fileio.isdir(model_base):
        return []
    now = time.time()
    removed = []
    for entry in fileio.listdir(model_base):
        path = os.path.join(model_base, entry)
        if not (_TEMP_VERSION.match(entry) and fileio.isdir(path)):
            continue
        changed = max([fileio.mtime(path)]
                      + [fileio.mtime(os.path.join(path, f)) for f in fileio.files_below(path)])
        if now - changed > STALE_EXPORT_SECONDS:
            fileio.rmtree(path)
            removed.append(path)
    if removed:
        (log or (lambda line: print(line, file=sys.stderr)))(
            f"Removed what killed exports left: {', '.join(removed)}")
    return removed


def resolve_version(model_base, version=None):
    """`version`, or 1 + the largest one in model_base; an existing one is an error."""
    if version is None:
        version = 1 + max(existing_versions(model_base), default=0)
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"--version {version!r}: must be an integer >= 1")
    final = os.path.join(model_base, str(version))
    if fileio.exists(final):
        raise FileExistsError(f"{final} exists already: versions are never overwritten "
                              "(leave out --version to take the next one)")
    return version


def existing_versions(model_base):
    """The integer-named version directories in model_base (what TF Serving would load)."""
    if not fileio.isdir(model_base):
        return []
    return [int(entry) for entry in fileio.listdir(model_base)
            if entry.isdigit() and fileio.isdir(os.path.join(model_base, entry))]


def update_models_config(export_base, name, base_path):
    """Adds or updates `name` in export_base/models.config, keeping every other entry."""
    path = os.path.join(os.fspath(export_base), MODELS_CONFIG)
    config = read_models_config(export_base)
    entries = config.model_config_list.config
    entry = next((e for e in entries if e.name == name), None)
    if entry is None:
        entry = entries.add(name=name)
    entry.base_path = base_path
    entry.model_platform = "tensorflow"
    fileio.write_atomic(path, text_format.MessageToString(config))
    return path


def read_models_config(export_base):
    """export_base/models.config as a ModelServerConfig (empty if there is none)."""
    path = os.path.join(os.fspath(export_base), MODELS_CONFIG)
    config = model_server_config_pb2.ModelServerConfig()
    if fileio.exists(path):
        try:
            text_format.Parse(fileio.read_text(path), config)
        except text_format.ParseError as error:
            raise ValueError(f"{path} is not a ModelServerConfig text proto: {error}") \
                from error
        if config.WhichOneof("config") == "custom_model_config":
            raise ValueError(f"{path} holds a custom_model_config; list the model there by hand")
    return config
