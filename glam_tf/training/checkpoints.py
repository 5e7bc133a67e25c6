"""A model dir's checkpoints: found by their own files, restored newest first past damage.

`tf.train.CheckpointManager` trusts the state file `checkpoints/checkpoint`.
That file can be unreadable (TensorFlow then sees no checkpoint at all, and a
run would restart from step 0 beside its old checkpoints) or one save behind
(a kill between a checkpoint's `.index` and the state file's update). So the
checkpoints here are the `ckpt-N.index` files themselves, tried newest first:
one that does not restore (truncated or overwritten data, a missing shard,
tensors of another model) is skipped with a line naming its files and why,
and a directory whose checkpoints all fail is one error naming them all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time

from glam_tf import fileio

STATE_FILE = "checkpoint"
_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
# Any file of a saved checkpoint: its index or a data shard.
_CHECKPOINT_FILE = re.compile(r"^ckpt-(\d+)\.(?:index|data-\d+-of-\d+)$")
# What killed saves leave behind: in checkpoints/ and its data directories,
# TensorFlow's sharded save's `ckpt-N_temp/` and state file's
# `checkpoint.tmp<uuid hex>`; in the model dir, glam_tf.fileio's hidden
# temporary copy of one of its files (`.config.json.tmp`, `.tokenizer.model.tmp-<hex>`).
_KILLED_SAVES = (re.compile(r"^ckpt-\d+_temp$"), re.compile(r"^checkpoint\.tmp[0-9a-f]{32}$"))
_KILLED_WRITES = (re.compile(r"^\.(?:config\.json|train\.json|metrics\.jsonl|tokenizer\.model)"
                             r"\.tmp(?:-[0-9a-f]{12})?$"),)


class CheckpointError(ValueError):
    """A checkpoint does not restore; or none of a directory's checkpoints does."""


def _log_to_stderr(line):
    print(line, file=sys.stderr)


def saved_steps(directory) -> list:
    """Steps N of the `ckpt-N.index` files in `directory`, newest first."""
    if not fileio.isdir(directory):
        return []
    return sorted((int(m.group(1)) for m in map(_INDEX.match, fileio.listdir(directory)) if m),
                  reverse=True)


def prefix(directory, step) -> str:
    return os.path.join(os.fspath(directory), f"ckpt-{step}")


def has_checkpoints(directory) -> bool:
    """True when `directory` holds a state file or any checkpoint's file (an index or a
    data shard, of the state's or of a data position's in its subdirectories)."""
    return bool(file_steps(directory)) or fileio.exists(os.path.join(directory, STATE_FILE))


def file_steps(directory) -> dict:
    """{N: [paths]} of every `ckpt-N.index` and `ckpt-N.data-*` file in `directory`
    and its subdirectories (the data positions' checkpoints)."""
    found = {}
    if not fileio.isdir(directory):
        return found
    for name in fileio.listdir(directory):
        path = os.path.join(os.fspath(directory), name)
        match = _CHECKPOINT_FILE.match(name)
        if match:
            found.setdefault(int(match.group(1)), []).append(path)
        elif fileio.isdir(path):
            for step, paths in file_steps(path).items():
                found.setdefault(step, []).extend(paths)
    return found


def state_file_problem(directory):
    """Why `directory`'s state file does not name its newest checkpoint; None if it does."""
    import tensorflow as tf

    path = os.path.join(os.fspath(directory), STATE_FILE)
    steps = saved_steps(directory)
    if not fileio.exists(path):
        return f"{path} is missing" if steps else None
    try:  # None (and a warning in TensorFlow's log) for a file that does not parse
        state = tf.train.get_checkpoint_state(os.fspath(directory))
    except (ValueError, tf.errors.OpError):
        state = None
    if state is None:
        return f"{path} is unreadable"
    named = os.path.basename(state.model_checkpoint_path)
    if steps and named != f"ckpt-{steps[0]}":
        return f"{path} names {named or 'no checkpoint'}, not the newest one, ckpt-{steps[0]}"
    return None


def restore_from(checkpoint, path):
    """Restores `tf.train.Checkpoint` `checkpoint` from `path` (ckpt-N), every object
    it tracks matched, and returns the status; CheckpointError naming the files and
    the reason otherwise."""
    import tensorflow as tf

    try:
        return checkpoint.restore(path).assert_existing_objects_matched()
    except (tf.errors.OpError, IndexError, AssertionError, ValueError) as error:
        files = [os.path.basename(p) for p in fileio.glob(path + ".data-*")]
        raise CheckpointError(f"{', '.join([os.path.basename(path) + '.index', *files])} "
                              f"in {os.path.dirname(path)}: {reason(error)}") from None


def reason(error) -> str:
    """The first line of a restore error, without TensorFlow's op decorations."""
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\]\s*$", "", text)
    line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    if isinstance(error, IndexError):
        line = f"truncated ({line})"
    return line[:300]


def step_of(path):
    """N of a checkpoint path ending in ckpt-N; None for any other path."""
    match = re.fullmatch(r"ckpt-(\d+)", os.path.basename(os.fspath(path)))
    return int(match.group(1)) if match else None


def restore_newest(directory, restore, log=_log_to_stderr, upto=None):
    """(path, restore(path)) for the newest checkpoint in `directory` that restores.

    restore(path) restores checkpoint `path` (ckpt-N) and raises CheckpointError
    when it cannot (`restore_from` does). Checkpoints that fail are skipped,
    each with a line to `log`; (None, None) when the directory has none.
    upto: a step; checkpoints after it are not tried.

    Raises:
      CheckpointError: the directory has checkpoints and none restores.
    """
    problem = state_file_problem(directory)
    if problem:
        log(f"{problem}: using the checkpoint files themselves")
    skipped = []
    for step in saved_steps(directory):
        if upto is not None and step > upto:
            continue
        path = prefix(directory, step)
        with _unrestored_value_warnings_off():
            try:
                return path, restore(path)
            except CheckpointError as error:
                problem = str(error)
        skipped.append(problem)
        log(f"Skipping {problem}")
    if skipped:
        raise CheckpointError(f"no checkpoint in {directory} restores: " + "; ".join(skipped))
    if fileio.exists(os.path.join(directory, STATE_FILE)):
        raise CheckpointError(f"{os.path.join(directory, STATE_FILE)} is there but no "
                              f"ckpt-N.index file is: the checkpoints of {directory} are gone")
    # A save killed before the first checkpoint was complete leaves files of one
    # step (its data positions, or its data shard before the index): start over.
    # Files of more steps are checkpoints that were complete once.
    leftovers = file_steps(directory)
    if len(leftovers) > 1:
        names = [os.path.relpath(p, directory) for s in sorted(leftovers) for p in leftovers[s]]
        raise CheckpointError(
            f"{directory} holds files of the checkpoints of steps "
            f"{', '.join(map(str, sorted(leftovers)))} ({', '.join(names[:6])}"
            f"{', ...' if len(names) > 6 else ''}) but no ckpt-N.index of the model's: "
            "its checkpoints are damaged. Put the missing files back, or use a new --model_dir")
    return None, None


class _UnrestoredValues(logging.Filter):
    """Drops TensorFlow's warnings about checkpoint values a restore left unrestored."""

    def filter(self, record) -> bool:
        return not record.getMessage().startswith((
            "Detecting that an object or model or tf.train.Checkpoint is being deleted "
            "with unrestored values", "Value in checkpoint could not be found in the "
                                      "restored object"))


@contextlib.contextmanager
def _unrestored_value_warnings_off():
    """A restore attempt without TensorFlow's warnings about the values it left unrestored.

    One that fails part-way leaves a record of those; when the failure is
    handled, TensorFlow logs a warning per value (40 lines for a model read
    without its optimizer) after the line saying which checkpoint was skipped
    and why.
    """
    logger, unrestored = logging.getLogger("tensorflow"), _UnrestoredValues()
    logger.addFilter(unrestored)
    try:
        yield
    finally:
        logger.removeFilter(unrestored)


def rewrite_state(directory, path) -> None:
    """Makes `directory`'s state file name checkpoint `path` (ckpt-N) as the latest, after
    the checkpoints before it, so that its CheckpointManager keeps and deletes them."""
    step = int(os.path.basename(path).rsplit("-", 1)[1])
    kept = [f"ckpt-{s}" for s in reversed(saved_steps(directory)) if s <= step]
    if not kept or kept[-1] != f"ckpt-{step}":
        return
    # CheckpointState's text format. The manager keeps (and may delete) only
    # the checkpoints stamped later than last_preserved_timestamp.
    now = time.time()
    fileio.write_atomic(os.path.join(directory, STATE_FILE), "".join(
        [f'model_checkpoint_path: "{kept[-1]}"\n']
        + [f'all_model_checkpoint_paths: "{k}"\n' for k in kept]
        + [f"all_model_checkpoint_timestamps: {now:.3f}\n" for _ in kept]
        + [f"last_preserved_timestamp: {now - 1:.3f}\n"]))


def remove_killed_saves(model_dir, log=_log_to_stderr) -> list:
    """Removes what killed saves left in `model_dir` (`_KILLED_WRITES`) and in its
    `checkpoints/` tree (`_KILLED_SAVES`); returns the paths removed. No other
    name is touched, and the model dir's other folders are not even listed."""
    removed = _remove_temporaries(model_dir, _KILLED_WRITES, recurse=False)
    removed += _remove_temporaries(os.path.join(os.fspath(model_dir), "checkpoints"),
                                   _KILLED_SAVES, recurse=True)
    if removed:
        log(f"Removed what killed saves left: {', '.join(removed)}")
    return removed


def _remove_temporaries(directory, patterns, recurse) -> list:
    removed = []
    if not fileio.isdir(directory):
        return removed
    for name in fileio.listdir(directory):
        path = os.path.join(os.fspath(directory), name)
        if any(p.match(name) for p in patterns):
            fileio.rmtree(path) if fileio.isdir(path) else fileio.remove(path)
            removed.append(path)
        elif recurse and fileio.isdir(path):
            removed += _remove_temporaries(path, patterns, recurse)
    return removed
