"""glam_tf.fileio: the same behaviour on a local disk and on ram:// (the tests' gs://)."""

import errno
import glob
import os
import uuid

import pytest
import tensorflow as tf

from glam_tf import fileio

TREE = ("a.txt", "b.jsonl", ".hidden.txt", "sub/c.txt", "sub/.d.txt", "sub/deep/e.txt",
        ".dot/f.txt")
PATTERNS = ("*.txt", "*", "*/*.txt", "**/*.txt", "sub/**/*.txt", "**", ".*", "sub/.*",
            "?.txt", "[ab].*", "a.txt", "missing.txt", "*/missing/*.txt")


def _ram_root():
    return f"ram://fileio-{uuid.uuid4().hex}"


def _make_tree(root):
    for name in TREE:
        fileio.makedirs(os.path.dirname(f"{root}/{name}"))
        fileio.write_atomic(f"{root}/{name}", name)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_glob_matches_what_python_glob_matches_locally_and_on_ram(tmp_path, pattern):
    _make_tree(str(tmp_path))
    root = _ram_root()
    _make_tree(root)
    expected = sorted(glob.glob(f"{tmp_path}/{pattern}", recursive=True))
    if pattern == "**":  # Python also gives the directory itself, as ".../"
        expected.remove(f"{tmp_path}/")
    assert sorted(fileio.glob(f"{tmp_path}/{pattern}")) == expected
    on_ram = sorted(p[len(root) + 1:] for p in fileio.glob(f"{root}/{pattern}"))
    assert on_ram == sorted(p[len(str(tmp_path)) + 1:] for p in expected)


def test_relative_patterns_give_relative_paths_without_a_dot_prefix(tmp_path, monkeypatch):
    _make_tree(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert sorted(fileio.glob("**/*.txt")) == ["a.txt", "sub/c.txt", "sub/deep/e.txt"]


@pytest.mark.parametrize("where", ["local", "ram"])
def test_write_new_never_replaces_a_file_and_leaves_no_temporary_behind(tmp_path, where):
    root = str(tmp_path) if where == "local" else _ram_root()
    fileio.makedirs(root)
    fileio.write_new(f"{root}/x.json", "first")
    with pytest.raises(FileExistsError):
        fileio.write_new(f"{root}/x.json", b"second")
    with pytest.raises(RuntimeError):
        with fileio.writing_new(f"{root}/y.json") as f:
            f.write("half")
            raise RuntimeError("the writer fails midway")
    assert fileio.read_text(f"{root}/x.json") == "first"
    assert fileio.listdir(root) == ["x.json"]


@pytest.mark.parametrize("where", ["local", "ram"])
def test_write_atomic_replaces_whole_and_leaves_only_the_file(tmp_path, where):
    root = str(tmp_path) if where == "local" else _ram_root()
    fileio.makedirs(root)
    fileio.write_atomic(f"{root}/m.jsonl", "one\n")
    fileio.append_text(f"{root}/m.jsonl", "two\n")
    assert fileio.read_text(f"{root}/m.jsonl") == "one\ntwo\n"
    fileio.write_atomic(f"{root}/m.jsonl", b"new\r\n")
    assert fileio.read_bytes(f"{root}/m.jsonl") == b"new\r\n"
    assert fileio.read_text(f"{root}/m.jsonl") == "new\n"  # universal newlines, as open()
    assert fileio.listdir(root) == ["m.jsonl"]


def test_tensorflow_errors_come_back_as_python_os_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError) as missing:
        fileio.read_bytes(f"{_ram_root()}/nothing")
    assert missing.value.filename.endswith("/nothing") and missing.value.strerror
    with pytest.raises(IsADirectoryError):
        fileio.read_text(tmp_path)
    with pytest.raises(NotADirectoryError):
        fileio.makedirs(tmp_path / "file" / "below")
    assert not isinstance(missing.value, tf.errors.OpError)


def test_resolve_keeps_the_scheme_and_absolute_paths():
    assert fileio.resolve("gs://b/tasks", "../data/x.jsonl") == "gs://b/data/x.jsonl"
    assert fileio.resolve("gs://b/tasks", "gs://c/y.jsonl") == "gs://c/y.jsonl"
    assert fileio.resolve("/tasks", "data/x.jsonl") == "/tasks/data/x.jsonl"
    assert fileio.absolute("gs://b/run") == "gs://b/run"
    assert fileio.absolute("run") == os.path.join(os.getcwd(), "run")


@pytest.mark.parametrize("where", ["local", "ram"])
def test_files_below_lists_every_file_at_any_depth_hidden_ones_too(tmp_path, where):
    root = str(tmp_path) if where == "local" else _ram_root()
    _make_tree(root)
    assert fileio.files_below(root) == sorted(TREE)


def test_a_directory_that_takes_no_file_is_named_in_the_error_not_the_probe_file(
        unwritable_dir):
    target = unwritable_dir
    before = sorted(os.listdir(target))
    with pytest.raises(PermissionError) as error:
        fileio.check_creatable(target / "exports" / "glam")
    assert error.value.filename == str(target) and error.value.errno == errno.EACCES
    assert sorted(os.listdir(target)) == before
