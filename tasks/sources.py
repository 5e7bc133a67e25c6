"""Where a task's raw examples come from: TFDS, JSONL files, or a Python function.

Every source yields plain Python examples: dicts of str, int, float, bool,
lists and nested dicts (TFDS bytes are decoded as UTF-8, numpy values become
Python values). `located(split)` also gives where each example comes from
("data.jsonl:12", "tfds super_glue/boolq:1.0.2[validation] #3") so that errors
can name it.

`ManualFileSource` reads a release file the user downloads by hand (OpenAI's
LAMBADA text, QuAC's and CoQA's own JSON, whose order and extra answers TFDS
drops); `SplitSources` takes each split from its own source.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from typing import Callable, Iterable, Iterator, Mapping, Optional, Union

from glam_tf import fileio
from glam_tf.jsonl import JsonlError, read_objects


class TaskDataError(ValueError):
    """Task data that is missing or malformed; names where (file:line) and which field."""

    def __init__(self, message: str, *, location: Optional[str] = None,
                 field: Optional[str] = None):
        self.message, self.location, self.field = message, location, field
        parts = [location] if location else []
        if field is not None:
            parts.append(f"field {field!r}")
        super().__init__(": ".join(parts + [message]))

    def at(self, location: str) -> "TaskDataError":
        """This error with `location` filled in (kept when already set)."""
        return TaskDataError(self.message, location=self.location or location, field=self.field)


class SkipExample(TaskDataError):
    """One example a formatter can read but that cannot be scored (e.g. a ReCoRD answer
    that is none of the passage's entities): the evaluator skips it and counts it under
    `reason`, where any other TaskDataError is bad input that ends the run."""

    def __init__(self, reason: str, message: str, *, location: Optional[str] = None,
                 field: Optional[str] = None):
        self.reason = reason
        super().__init__(message, location=location, field=field)

    def at(self, location: str) -> "SkipExample":
        return SkipExample(self.reason, self.message, location=self.location or location,
                           field=self.field)


def to_python(value):
    """numpy / bytes values (as from `tfds.as_numpy`) -> plain Python values."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return to_python(value.tolist())
    return value


def _split_pairs(value, owner: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        value = tuple(value.items())
    pairs = tuple(tuple(p) for p in value)
    for p in pairs:
        if len(p) != 2 or not all(isinstance(s, str) and s for s in p):
            raise TaskDataError(f"{owner}: split mapping entries must be "
                                f"(name, target) strings, not {p!r}", field="splits")
    return pairs


class Source(abc.ABC):
    """Raw examples of a task, by split."""

    @abc.abstractmethod
    def located(self, split: str) -> Iterator[tuple[str, dict]]:
        """(location, example) of every example of `split`, in order."""

    @abc.abstractmethod
    def describe(self, split: Optional[str] = None) -> str:
        """A short human-readable name of the data (of `split`)."""

    def examples(self, split: str) -> Iterator[dict]:
        """Every example of `split`, in order."""
        return (example for _, example in self.located(split))


@dataclasses.dataclass(frozen=True)
class TfdsSource(Source):
    """A TensorFlow Datasets dataset that is already prepared on disk; never downloads.

    Attributes:
      name: `name[/config]:version`, e.g. "super_glue/boolq:1.0.2".
      splits: task split name -> TFDS split (e.g. {"validation": "dev"});
        a split not listed is passed to TFDS unchanged. Stored as pairs.
      data_dir: TFDS data directory; None: TFDS's default (`TFDS_DATA_DIR`
        or ~/tensorflow_datasets).
      manual_instructions: how to provide the data of a dataset TFDS cannot
        download itself; shown when the data is missing.
      unique_field: when set, only the first example of each value of this
        field is kept (TriviaQA's validation split holds its web and wiki dev
        files, which repeat questions under the same `question_id`).
    """

    name: str
    splits: tuple[tuple[str, str], ...] = ()
    data_dir: Optional[str] = None
    manual_instructions: Optional[str] = None
    unique_field: Optional[str] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TaskDataError(f"TfdsSource.name must be a TFDS name, not {self.name!r}",
                                field="name")
        object.__setattr__(self, "splits", _split_pairs(self.splits, f"TfdsSource {self.name}"))

    def tfds_split(self, split: str) -> str:
        return dict(self.splits).get(split, split)

    def _where(self, split: Optional[str] = None) -> str:
        return f"tfds {self.name}" + ("" if split is None else f"[{self.tfds_split(split)}]")

    def describe(self, split: Optional[str] = None) -> str:
        once = "" if self.unique_field is None else f", each {self.unique_field} once"
        return self._where(split) + once

    def located(self, split: str) -> Iterator[tuple[str, dict]]:
        import tensorflow_datasets as tfds  # heavy: imported on first use only

        where = self._where(split)
        try:
            dataset = tfds.load(self.name, split=self.tfds_split(split), data_dir=self.data_dir,
                                download=False, shuffle_files=False)
        except AssertionError as e:  # TFDS: "could not find data in ..."
            raise TaskDataError(self._missing_message(str(e)), location=where) from None
        except tfds.core.DatasetNotFoundError:
            raise TaskDataError(f"TFDS has no dataset {self.name!r} (tensorflow-datasets "
                                f"{tfds.__version__})", location=where) from None
        seen = set()
        for index, example in enumerate(tfds.as_numpy(dataset)):
            example = to_python(example)
            if self.unique_field is not None:
                if self.unique_field not in example:
                    raise TaskDataError("the example has no such field",
                                        location=f"{where} #{index}", field=self.unique_field)
                if example[self.unique_field] in seen:
                    continue
                seen.add(example[self.unique_field])
            yield f"{where} #{index}", example

    def _missing_message(self, detail: str) -> str:
        base = self.name.split(":")[0]
        if self.manual_instructions:
            how = self.manual_instructions
        else:
            how = (f"prepare it once with `tfds build {base}` (this downloads), or "
                   f"`TfdsSource.prepare()`; loading never downloads")
        return f"the dataset is not prepared on disk ({detail.strip()}). {how}"

    def prepare(self, manual_dir: Optional[str] = None) -> None:
        """Downloads (or reads from `manual_dir`) and prepares the dataset on disk.

        The one method of this package that may download; evaluation and
        tests never call it on a dataset that needs the network.
        """
        import tensorflow_datasets as tfds

        builder = tfds.builder(self.name, data_dir=self.data_dir)
        config = tfds.download.DownloadConfig(manual_dir=manual_dir)
        try:
            builder.download_and_prepare(download_config=config)
        except (AssertionError, FileNotFoundError) as e:
            if not self.manual_instructions:
                raise
            raise TaskDataError(f"cannot prepare from manual_dir={manual_dir!r} ({e}). "
                                f"{self.manual_instructions}",
                                location=self._where()) from None


def default_manual_dir() -> str:
    """TFDS's folder for files downloaded by hand: <TFDS data dir>/downloads/manual."""
    import tensorflow_datasets as tfds

    return fileio.resolve(tfds.core.constants.DATA_DIR, "downloads/manual")


@dataclasses.dataclass(frozen=True)
class ManualFileSource(Source):
    """A dataset's own release file per split, downloaded by hand into a folder.

    Attributes:
      files: split -> file name inside `manual_dir` (stored as pairs).
      instructions: where to get the files; shown when one is missing.
      records: None: the file is JSON Lines, one example per line. Else a
        function parsed JSON document -> iterable of example dicts (QuAC's and
        CoQA's `{"data": [...]}` files); it raises TaskDataError on a document
        that breaks the release format.
      manual_dir: the folder; None: `default_manual_dir()` (TFDS's, as for
        StoryCloze), read when the data is.
    """

    files: tuple[tuple[str, str], ...]
    instructions: str
    records: Optional[Callable[[object], Iterable[dict]]] = None
    manual_dir: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "files", _split_pairs(self.files, "ManualFileSource"))
        if not self.files:
            raise TaskDataError("ManualFileSource needs at least one file", field="files")
        if not isinstance(self.instructions, str) or not self.instructions:
            raise TaskDataError("ManualFileSource.instructions must say where to get the "
                                "files", field="instructions")
        if self.records is not None and not callable(self.records):
            raise TaskDataError(f"ManualFileSource.records must be callable, not "
                                f"{self.records!r}", field="records")

    def path(self, split: str) -> str:
        files = dict(self.files)
        if split not in files:
            raise TaskDataError(f"no file for split {split!r}; files are given for "
                                f"{', '.join(files)}", location=self.describe())
        return fileio.resolve(self.manual_dir or default_manual_dir(), files[split])

    def describe(self, split: Optional[str] = None) -> str:
        files = dict(self.files)
        return "manual " + (", ".join(files.values()) if split is None
                            else files.get(split, f"(no file for {split!r})"))

    def located(self, split: str) -> Iterator[tuple[str, dict]]:
        path = self.path(split)
        if not fileio.isfile(path):
            raise TaskDataError(f"no such file. {self.instructions}", location=path)
        if self.records is None:
            yield from _read_jsonl(path)
            return
        try:
            document = json.loads(fileio.read_text(path, encoding="utf-8-sig"))
        except json.JSONDecodeError as error:
            raise TaskDataError(f"not valid JSON ({error.msg}, line {error.lineno})",
                                location=path) from None
        try:
            for index, example in enumerate(self.records(document)):
                yield f"{path} #{index}", example
        except TaskDataError as e:
            raise e.at(path) from None
        except KeyError as e:
            raise TaskDataError("a record of the file lacks this field",
                                location=path, field=str(e.args[0])) from None
        except (TypeError, AttributeError) as e:  # a list where a record should be, ...
            raise TaskDataError(f"the file does not have its release's layout ({e})",
                                location=path) from None


@dataclasses.dataclass(frozen=True)
class SplitSources(Source):
    """Each split from its own source: split -> (source, that source's split name)."""

    parts: tuple[tuple[str, Source, str], ...]

    def __post_init__(self):
        parts = tuple(tuple(p) for p in self.parts)
        for p in parts:
            if (len(p) != 3 or not isinstance(p[0], str) or not isinstance(p[1], Source)
                    or not isinstance(p[2], str)):
                raise TaskDataError("SplitSources entries must be (split, Source, split "
                                    f"of that source), not {p!r}", field="parts")
        if not parts:
            raise TaskDataError("SplitSources needs at least one split", field="parts")
        object.__setattr__(self, "parts", parts)

    def part(self, split: str) -> tuple[Source, str]:
        for name, source, inner in self.parts:
            if name == split:
                return source, inner
        raise TaskDataError(f"no source for split {split!r}; sources are given for "
                            f"{', '.join(p[0] for p in self.parts)}", location=self.describe())

    def describe(self, split: Optional[str] = None) -> str:
        if split is not None:
            source, inner = self.part(split)
            return source.describe(inner)
        return "; ".join(f"{name}: {source.describe(inner)}"
                         for name, source, inner in self.parts)

    def located(self, split: str) -> Iterator[tuple[str, dict]]:
        source, inner = self.part(split)
        return source.located(inner)


@dataclasses.dataclass(frozen=True)
class JsonlSource(Source):
    """Examples in JSON Lines files: one JSON object per line, blank lines skipped.

    Attributes:
      path: either one file whose examples each name their split in the
        `split_field` field, or a mapping split name -> file (one file per
        split; stored as pairs).
      split_field: the field naming an example's split (one-file form).
    """

    path: Union[str, tuple[tuple[str, str], ...]]
    split_field: str = "split"

    def __post_init__(self):
        if not isinstance(self.path, str):
            object.__setattr__(self, "path", _split_pairs(self.path, "JsonlSource"))
        elif not self.path:
            raise TaskDataError("JsonlSource.path is empty", field="path")

    def describe(self, split: Optional[str] = None) -> str:
        if isinstance(self.path, str):
            return self.path if split is None else f"{self.path} ({self.split_field}={split!r})"
        files = dict(self.path)
        return files.get(split, ", ".join(files.values()))

    def located(self, split: str) -> Iterator[tuple[str, dict]]:
        if isinstance(self.path, str):
            for location, example in _read_jsonl(self.path):
                if self.split_field not in example:
                    raise TaskDataError("the example does not name its split",
                                        location=location, field=self.split_field)
                if example[self.split_field] == split:
                    yield location, example
            return
        files = dict(self.path)
        if split not in files:
            raise TaskDataError(f"no file for split {split!r}; files are given for "
                                f"{', '.join(files)}", location=self.describe())
        yield from _read_jsonl(files[split])


def _read_jsonl(path: str) -> Iterator[tuple[str, dict]]:
    if not fileio.isfile(path):
        raise TaskDataError("no such file", location=path)
    try:
        for number, example in read_objects(path):
            yield f"{path}:{number}", example
    except JsonlError as error:
        raise TaskDataError(error.message, location=f"{error.path}:{error.line}") from None


@dataclasses.dataclass(frozen=True)
class CallableSource(Source):
    """Examples from a Python function: `fn(split)` returns an iterable of dicts."""

    fn: Callable[[str], Iterable[dict]]

    def __post_init__(self):
        if not callable(self.fn):
            raise TaskDataError(f"CallableSource.fn must be callable, not {self.fn!r}",
                                field="fn")

    def describe(self, split: Optional[str] = None) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"{name}()" if split is None else f"{name}({split!r})"

    def located(self, split: str) -> Iterator[tuple[str, dict]]:
        where = self.describe(split)
        for index, example in enumerate(self.fn(split)):
            if not isinstance(example, dict):
                raise TaskDataError(f"examples must be dicts, not {type(example).__name__}",
                                    location=f"{where} #{index}")
            yield f"{where} #{index}", to_python(example)
