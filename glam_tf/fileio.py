"""Files on any TensorFlow filesystem: local paths, gs://, ram:// (tests), ...

Every user path in glam-tf (model dirs, data globs, tokenizers, task files,
export bases, eval outputs) goes through these helpers, which use
`tf.io.gfile`: Python's `open` and `os` would turn `gs://b/run` into a local
folder named `gs:`. TensorFlow is imported on first use, so modules that
work without it (`glam presets`, the task registry) still import without it.

Errors come back as the OSError subclasses Python's own calls raise
(FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, ...)
with `strerror` and `filename` set, so callers and `glam`'s one-line error
messages need not know about `tf.errors`.

Atomic writes write DIR/.NAME.tmp and rename it over DIR/NAME. On a POSIX disk that
rename is atomic. Where it is a copy then a delete (GCS), a reader still never
sees a truncated PATH: the copy is one object write, which GCS makes visible
whole or not at all; a crash between the copy and the delete leaves only a
stale .NAME.tmp, which the next write of NAME replaces.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob as _pyglob
import io
import os
import posixpath
import re
import uuid

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _gfile():
    import tensorflow as tf  # here, not at import: see the module docstring
    return tf.io.gfile


@contextlib.contextmanager
def _os_errors(path):
    """tf.errors.* -> the OSError Python's own call on `path` would raise."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as error:
        # TF's local and GCS messages read "PATH; Reason" or "PATH is not a directory".
        reason = error.message.rsplit("; ", 1)[-1]
        if isinstance(error, tf.errors.NotFoundError):
            code = errno.ENOENT
        elif isinstance(error, tf.errors.AlreadyExistsError):
            code = errno.EEXIST
        elif isinstance(error, tf.errors.PermissionDeniedError):
            code = errno.EACCES
        elif "not a directory" in reason.lower():
            code = errno.ENOTDIR
        elif "is a directory" in reason.lower():
            code = errno.EISDIR
        else:
            code = errno.EIO
        # OSError(errno, ...) is constructed as the matching subclass.
        raise OSError(code, reason or os.strerror(code), os.fspath(path)) from None


def is_remote(path) -> bool:
    """True for a URL-style path such as gs://bucket/x (not a local file name)."""
    return bool(_SCHEME.match(os.fspath(path)))


def absolute(path) -> str:
    """A local path made absolute (~ expanded); a remote one unchanged."""
    path = os.fspath(path)
    return path if is_remote(path) else os.path.abspath(os.path.expanduser(path))


def resolve(base_dir, path) -> str:
    """`path` relative to `base_dir` (absolute and remote paths stand alone), normalized.

    os.path.normpath would fold the `//` of `gs://`; here only the part after
    the scheme is normalized.
    """
    path = os.fspath(path)
    if is_remote(path):
        return path
    joined = os.path.join(os.fspath(base_dir), path)
    scheme = _SCHEME.match(joined)
    if scheme:
        return scheme.group() + posixpath.normpath(joined[scheme.end():])
    return os.path.normpath(joined)


def exists(path) -> bool:
    return _gfile().exists(os.fspath(path))


def isdir(path) -> bool:
    return _gfile().isdir(os.fspath(path))


def isfile(path) -> bool:
    return exists(path) and not isdir(path)


def mtime(path) -> float:
    """When the file or directory was last modified, in seconds since the epoch."""
    with _os_errors(path):
        return _gfile().stat(os.fspath(path)).mtime_nsec / 1e9


def makedirs(path) -> None:
    with _os_errors(path):
        _gfile().makedirs(os.fspath(path))


def listdir(path) -> list:
    """Entry names of a directory (GCS's trailing `/` on subdirectories dropped)."""
    path = os.fspath(path)
    with _os_errors(path):
        names = [name.rstrip("/") for name in _gfile().listdir(path)]
    if path.startswith("ram://"):
        # TF's ram:// lists by name prefix: "assets" also "holds" ".extra" when
        # "assets.extra/" exists. Such ghosts do not exist as paths of their own.
        names = [name for name in names if exists(_join(path, name))]
    return names


def remove(path) -> None:
    with _os_errors(path):
        _gfile().remove(os.fspath(path))


def rmtree(path) -> None:
    """Deletes a directory and everything below it.

    Entry by entry, in reverse name order: TF's ram:// deletes a directory by
    name prefix, so "assets" must go after "assets.extra" (GCS deletes object
    by object either way).
    """
    path = os.fspath(path)
    for name in sorted(listdir(path), reverse=True):
        child = _join(path, name)
        if isdir(child):
            rmtree(child)
        else:
            remove(child)
    with _os_errors(path):
        _gfile().rmtree(path)  # the directory itself, now empty


def rename(source, target, overwrite: bool = False) -> None:
    with _os_errors(target):
        _gfile().rename(os.fspath(source), os.fspath(target), overwrite=overwrite)


def copy(source, target) -> None:
    """Copies a file; an existing target is FileExistsError."""
    with _os_errors(source):
        if not isfile(source):
            raise FileNotFoundError(errno.ENOENT, "No such file", os.fspath(source))
    with _os_errors(target):
        _gfile().copy(os.fspath(source), os.fspath(target), overwrite=False)


def read_bytes(path) -> bytes:
    with _os_errors(path):
        with _gfile().GFile(os.fspath(path), "rb") as f:
            return f.read()


def read_text(path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """The file decoded as Python's open(path, encoding=...) would (universal newlines)."""
    return io.TextIOWrapper(io.BytesIO(read_bytes(path)), encoding=encoding,
                            errors=errors).read()


def _temp_name(path, unique: bool) -> str:
    """A hidden sibling of `path`. Not PATH + suffix: ram:// (the tests' gs://) takes
    any name that a file's name starts with for an existing directory."""
    directory, name = os.path.split(os.fspath(path))
    suffix = f"-{uuid.uuid4().hex[:12]}" if unique else ""
    return _join(directory, f".{name}.tmp{suffix}")


def write_atomic(path, data) -> None:
    """Writes `data` (str as UTF-8, or bytes) to path whole or not at all; replaces it."""
    tmp = _temp_name(path, unique=False)
    _write(tmp, data)
    rename(tmp, path, overwrite=True)


def write_new(path, data) -> None:
    """Like write_atomic, but an existing file is FileExistsError and stays untouched."""
    with writing_new(path, binary=not isinstance(data, str)) as f:
        f.write(data)


@contextlib.contextmanager
def writing_new(path, binary: bool = False):
    """A file object whose contents appear at `path` when the block ends without error.

    An existing `path` is FileExistsError, before and after the block; an
    error in the block leaves nothing behind. The temporary name is unique,
    so two writers of one new file never mix their bytes. (The final check and
    the rename are two steps, on every filesystem: two writers finishing at
    the same instant can both succeed, the later one's whole file winning.)
    """
    path = os.fspath(path)
    if exists(path):
        raise FileExistsError(errno.EEXIST, "File exists", path)
    tmp = _temp_name(path, unique=True)
    try:
        with _os_errors(tmp), _gfile().GFile(tmp, "wb" if binary else "w") as f:
            yield f
        rename(tmp, path, overwrite=False)
    except BaseException:
        if exists(tmp):
            remove(tmp)
        raise


def append_text(path, text: str) -> None:
    """Adds `text` at the end of a file (created if missing).

    On GCS an append rewrites the whole object: fine for metrics.jsonl-sized files.
    """
    with _os_errors(path):
        with _gfile().GFile(os.fspath(path), "a") as f:
            f.write(text)


def _write(path, data) -> None:
    with _os_errors(path):
        with _gfile().GFile(path, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)


def check_writable(directory) -> None:
    """Proves that `directory` (created if missing) takes a new file; else an OSError
    naming `directory` (not the probe file, a name the user never gave)."""
    makedirs(directory)
    probe = os.path.join(os.fspath(directory), f".write-test-{uuid.uuid4().hex[:12]}")
    try:
        _write(probe, b"")
    except OSError as error:
        raise OSError(error.errno, error.strerror, os.fspath(directory)) from None
    remove(probe)


def check_creatable(path) -> None:
    """Proves that directory `path` exists or could be made, and takes new files,
    leaving nothing behind locally; else an OSError naming the path in the way.

    Locally the nearest existing directory takes the probe file; a remote path
    (no directories to make on GCS) is probed where it is.
    """
    probe = os.fspath(path)
    if not is_remote(probe):
        probe = absolute(probe)
        while not exists(probe):
            probe = os.path.dirname(probe)
        if not isdir(probe):
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", probe)
    check_writable(probe)


def glob(pattern) -> list:
    """Paths matching `pattern`, as Python's glob.glob(pattern, recursive=True) gives them.

    tf.io.gfile.glob differs: it has no `**`, matches hidden names with `*`
    and prefixes relative matches with `./`. This walks the filesystem
    through gfile with Python's rules: `**` is zero or more directories, and
    a name starting with `.` matches only a pattern part that does too. (A
    trailing `**` gives what is below the directory, not the directory itself.)
    """
    pattern = os.fspath(pattern)
    scheme = _SCHEME.match(pattern)
    root, rest = (pattern[:scheme.end()], pattern[scheme.end():]) if scheme else ("", pattern)
    if rest.startswith("/"):
        root, rest = root + "/", rest.lstrip("/")
    parts = rest.split("/")
    if scheme:  # the bucket (or host) is a fixed part of the root
        root, parts = root + parts[0], parts[1:]
    if not _pyglob.has_magic(pattern):
        return [pattern] if exists(pattern) else []
    return list(_expand(root, parts))


def _join(base, name):
    return base + name if not base or base.endswith("/") else f"{base}/{name}"


def _expand(base, parts):
    """Matches of `parts` (the pattern split at `/`) below `base`, in sorted order."""
    if not parts:
        yield base
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        if not rest:
            yield from _descendants(base, directories_only=False)
            return
        for directory in [base, *_descendants(base, directories_only=True)]:
            yield from _expand(directory, rest)
    elif not _pyglob.has_magic(head):
        path = _join(base, head)
        if isdir(path) if rest else exists(path):
            yield from _expand(path, rest)
    else:
        for name in sorted(_children(base)):
            if name.startswith(".") and not head.startswith("."):
                continue
            if fnmatch.fnmatchcase(name, head) and (not rest or isdir(_join(base, name))):
                yield from _expand(_join(base, name), rest)


def _children(base):
    directory = base or "."
    return listdir(directory) if isdir(directory) else []


def _descendants(base, directories_only):
    """Every non-hidden entry below `base`, at any depth (what `**` stands for)."""
    for name in sorted(_children(base)):
        path = _join(base, name)
        if name.startswith("."):
            continue
        is_directory = isdir(path)
        if is_directory or not directories_only:
            yield path
        if is_directory:
            yield from _descendants(path, directories_only)


def files_below(directory) -> list:
    """Paths, relative to `directory` and `/`-separated, of every file below it, sorted."""
    found = []
    for name in listdir(directory):
        path = _join(os.fspath(directory), name)
        found += [f"{name}/{below}" for below in files_below(path)] if isdir(path) else [name]
    return sorted(found)
