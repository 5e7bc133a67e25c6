"""Document sources: where training text comes from, chosen by a `--data` spec.

A source yields documents, each a scalar `tf.string`, as a `tf.data.Dataset`
built without Python callbacks (no `py_function`, no `from_generator`), so
that the training loop can checkpoint the iterator and resume exactly.

Spec syntax (`parse_data_spec`):

  embedded                       the default: real English text shipped with
                                 every install (see `embedded_documents`)
  files:PATTERN[:FIELD]          files matched by a glob (`**` recurses; gs://
                                 and other TF filesystems too):
                                 `.txt` is one document per file, `.jsonl` one
                                 JSON object per line with its text in FIELD
                                 (default "text"); a trailing `:NAME` is the
                                 field when NAME is an identifier
  tfds:NAME[:VERSION][:SPLIT[:FIELD]]
                                 a TFDS text dataset already prepared on disk
                                 (default split "train", field "text"; FIELD may
                                 be a `/` path into nested features; SPLIT may
                                 be a slice such as `train[:10%]`)
  quality:CLASSIFIER_DIR[:ALPHA]=SPEC
                                 SPEC's documents kept by GLaM's quality filter:
                                 the classifier saved in CLASSIFIER_DIR and Pareto
                                 sampling (default ALPHA 9); SPEC is any spec but a
                                 mixture (see `glam_tf.data.quality.QualitySource`)
  mix:SPEC=WEIGHT,...            a weighted mixture (see `glam_tf.data.mixture`)
  glam[:COMPONENT=SPEC,...]      GLaM's six-component mixture (ditto)

Train and validation: `tfds` sources use the dataset's own `validation` (or
else `test`) split. Sources without one hold out every document whose
FarmHash Fingerprint64 (`tf.strings.to_hash_bucket_fast`) modulo 1,000,000 is
below 50,000: about 5%, fixed by the text alone, so a document and its exact
duplicates always land on the same side.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import glob
import importlib
import inspect
import logging
import os
import re
import warnings
from typing import Mapping, Optional, Sequence

import tensorflow as tf

from glam_tf import fileio
from glam_tf.jsonl import JsonlError, read_objects

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation")
DEFAULT_DATA_SPEC = "embedded"
VALIDATION_FRACTION = 0.05
_HASH_BUCKETS = 1_000_000
_VALIDATION_BUCKETS = int(VALIDATION_FRACTION * _HASH_BUCKETS)


class DataError(ValueError):
    """A data spec, file or dataset that cannot give documents; names what is wrong."""


def is_validation(texts) -> tf.Tensor:
    """bool [...]: whether each document of a tf.string [...] belongs to the validation split."""
    buckets = tf.strings.to_hash_bucket_fast(texts, _HASH_BUCKETS)
    return buckets < _VALIDATION_BUCKETS


def _check_split(split: str):
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: must be one of {', '.join(SPLITS)}")


class Source(abc.ABC):
    """Documents for training and validation; `spec` is the string that builds it."""

    spec: str

    @abc.abstractmethod
    def documents(self, split: str = "train") -> tf.data.Dataset:
        """Every document of `split` once, in a fixed order: scalar tf.string."""

    def stream(self, split: str = "train", *, seed: int = 0, shuffle_buffer: int = 10_000,
               repeat: bool = True) -> tf.data.Dataset:
        """Documents shuffled (seeded; a new order each epoch) and, by default, repeated.

        shuffle_buffer: documents held for shuffling; 0 or 1 keeps the order.
        The order depends on `seed` and on TensorFlow's global seed.
        """
        ds = self.documents(split)
        if shuffle_buffer > 1:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return ds.repeat() if repeat else ds

    def __repr__(self):
        return f"{type(self).__name__}({self.spec!r})"


@dataclasses.dataclass(frozen=True)
class SourceStats:
    """What an in-memory source read.

    replaced_characters: undecodable byte sequences replaced by U+FFFD.
    files_with_replacements: files that held any of them.
    """

    documents: int
    train_documents: int
    validation_documents: int
    characters: int
    files: int = 0
    replaced_characters: int = 0
    files_with_replacements: int = 0


class TextSource(Source):
    """Documents held in memory, split into train/validation by hash.

    Empty and whitespace-only documents are dropped.
    """

    def __init__(self, texts: Sequence[str], spec: str = "texts", *, files: int = 0,
                 replaced_characters: int = 0, files_with_replacements: int = 0):
        self.spec = spec
        texts = [t for t in texts if t.strip()]
        held_out = is_validation(tf.constant(texts, tf.string)).numpy() if texts else []
        self._splits = {"train": [t for t, v in zip(texts, held_out) if not v],
                        "validation": [t for t, v in zip(texts, held_out) if v]}
        self.stats = SourceStats(
            documents=len(texts), train_documents=len(self._splits["train"]),
            validation_documents=len(self._splits["validation"]),
            characters=sum(len(t) for t in texts), files=files,
            replaced_characters=replaced_characters,
            files_with_replacements=files_with_replacements)

    def texts(self, split: str = "train") -> list:
        _check_split(split)
        return list(self._splits[split])

    def documents(self, split: str = "train") -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(self._table(split))

    def stream(self, split: str = "train", *, seed: int = 0, shuffle_buffer: int = 10_000,
               repeat: bool = True) -> tf.data.Dataset:
        """Each epoch is a full permutation drawn from (seed, epoch) alone.

        Any `shuffle_buffer` > 1 shuffles; the permutation needs no buffer, so
        an iterator checkpoint holds a few integers, not documents, and the
        order does not depend on TensorFlow's global seed.
        """
        table = self._table(split)
        if shuffle_buffer <= 1:
            ds = tf.data.Dataset.from_tensor_slices(table)
            return ds.repeat() if repeat else ds
        size = int(table.shape[0])

        def epoch(index):
            seeds = tf.stack([tf.constant(seed, tf.int64), index])
            order = tf.random.experimental.stateless_shuffle(tf.range(size), seed=seeds)
            return tf.data.Dataset.from_tensor_slices(order)

        epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
        return epochs.flat_map(epoch).map(lambda i: tf.gather(table, i))

    def _table(self, split: str) -> tf.Tensor:
        texts = self.texts(split)
        if not texts:
            raise DataError(f"{self.spec}: no document in the {split} split "
                            f"({self.stats.documents} documents in all; about "
                            f"{VALIDATION_FRACTION:.0%} go to validation, by hash)")
        return tf.constant(texts, tf.string)


# -- embedded ---------------------------------------------------------------

# Standard-library modules (and numpy, a dependency of glam-tf) whose
# docstrings make the embedded corpus; a module that fails to import on this
# platform is skipped.
EMBEDDED_MODULES = (
    "abc", "argparse", "array", "ast", "asyncio.base_events", "asyncio.events",
    "asyncio.locks", "asyncio.protocols", "asyncio.queues", "asyncio.streams",
    "asyncio.subprocess", "asyncio.tasks", "asyncio.transports", "base64", "bdb",
    "binascii", "bisect", "builtins", "bz2", "calendar", "cmath", "cmd", "code", "codecs",
    "codeop", "collections", "collections.abc", "colorsys", "compileall",
    "concurrent.futures", "concurrent.futures.process", "concurrent.futures.thread",
    "configparser", "contextlib", "contextvars", "copy", "copyreg", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "dis", "doctest", "email.charset", "email.contentmanager",
    "email.feedparser", "email.generator", "email.header", "email.headerregistry",
    "email.message", "email.parser", "email.policy", "email.quoprimime", "email.utils",
    "enum", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "gc",
    "getopt", "gettext", "glob", "graphlib", "gzip", "hashlib", "heapq", "hmac",
    "html.parser", "http.client", "http.cookiejar", "http.cookies", "http.server",
    "imaplib", "importlib.abc", "importlib.machinery", "importlib.metadata",
    "importlib.resources", "importlib.util", "inspect", "io", "ipaddress", "itertools",
    "json", "json.decoder", "json.encoder", "keyword", "linecache", "locale", "logging",
    "logging.config", "logging.handlers", "lzma", "mailbox", "marshal", "math", "mimetypes",
    "modulefinder", "multiprocessing.connection", "multiprocessing.managers",
    "multiprocessing.pool", "multiprocessing.process", "multiprocessing.queues",
    "multiprocessing.shared_memory", "netrc", "numbers", "numpy", "numpy.fft",
    "numpy.linalg", "numpy.ma", "numpy.polynomial", "numpy.random", "numpy.testing",
    "operator", "optparse", "os", "pathlib", "pdb", "pickle", "pickletools", "pkgutil",
    "platform", "plistlib", "poplib", "pprint", "profile", "pstats", "py_compile",
    "pyclbr", "queue", "quopri", "random", "re", "reprlib", "rlcompleter", "runpy", "sched",
    "secrets", "select", "selectors", "shelve", "shlex", "shutil", "signal", "site",
    "smtplib", "socket", "socketserver", "sqlite3", "ssl", "stat", "statistics", "string",
    "struct", "subprocess", "symtable", "sys", "sysconfig", "tabnanny", "tarfile",
    "tempfile", "textwrap", "threading", "time", "timeit", "token", "tokenize", "trace",
    "traceback", "tracemalloc", "types", "typing", "unicodedata", "unittest.case",
    "unittest.loader", "unittest.mock", "unittest.result", "unittest.runner",
    "unittest.suite", "urllib.error", "urllib.parse", "urllib.request",
    "urllib.robotparser", "uuid", "warnings", "wave", "weakref", "wsgiref.handlers",
    "wsgiref.headers", "wsgiref.simple_server", "wsgiref.util", "wsgiref.validate",
    "xml.dom.minidom", "xml.dom.pulldom", "xml.etree.ElementTree", "xml.sax.handler",
    "xml.sax.saxutils", "xml.sax.xmlreader", "xmlrpc.client", "xmlrpc.server", "zipapp",
    "zipfile", "zipimport", "zlib", "zoneinfo",
)
_MIN_DOC_CHARS = 100


@functools.lru_cache(maxsize=1)
def embedded_documents() -> tuple:
    """The embedded corpus: English text that needs no download, in a fixed order.

    First the help topics of the Python reference (`pydoc_data.topics`, by
    topic name), then, for each module of EMBEDDED_MODULES in order: its
    docstring, then the docstrings of its public classes and functions by
    name, each class followed by those of its public methods. Docstrings
    are cleaned with `inspect.cleandoc`; those under 100 characters and
    repeats of an earlier one are skipped. The text depends on the Python and
    numpy versions, not on the run (about 3 MB on Python 3.11 and numpy 2).
    """
    from pydoc_data.topics import topics

    docs, seen = [], set()

    def add(doc):
        doc = inspect.cleandoc(doc) if isinstance(doc, str) else ""
        if len(doc) >= _MIN_DOC_CHARS and doc not in seen:
            seen.add(doc)
            docs.append(doc)

    for name in sorted(topics):
        add(topics[name])
    for module_name in EMBEDDED_MODULES:
        for doc in _module_docstrings(module_name):
            add(doc)
    return tuple(docs)


def _module_docstrings(module_name: str) -> list:
    """The docstrings of a module, of its public classes and functions and their methods."""
    with warnings.catch_warnings():  # reading some attributes warns (typing.io, ...)
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            logger.debug("embedded corpus: %s does not import here; skipped", module_name)
            return []
        docs = [module.__doc__]
        for name, value in sorted(vars(module).items()):
            if name.startswith("_") or not (inspect.isclass(value) or inspect.isroutine(value)):
                continue
            docs.append(value.__doc__)
            if inspect.isclass(value):
                docs.extend(member.__doc__ for member_name, member in sorted(vars(value).items())
                            if not member_name.startswith("_") and (
                                inspect.isroutine(member)
                                or isinstance(member, (property, classmethod, staticmethod))))
        return docs


class EmbeddedSource(TextSource):
    """The embedded corpus (`embedded_documents`), split by hash."""

    def __init__(self):
        super().__init__(embedded_documents(), spec="embedded")


# -- local files ------------------------------------------------------------

class FilesSource(TextSource):
    """`.txt` files (a document each) and `.jsonl` files (a document per line).

    Files are read as UTF-8 (a leading byte-order mark is dropped);
    undecodable bytes become U+FFFD, counted in `stats` and logged as a warning.
    """

    def __init__(self, pattern: str, field: str = "text"):
        self.pattern, self.field = pattern, field
        spec = f"files:{pattern}" + (f":{field}" if field != "text" else "")
        paths = _match_files(pattern)
        texts, replaced, damaged = [], 0, 0
        for path in paths:
            text, count = _read_text(path)
            replaced += count
            damaged += count > 0
            if path.lower().endswith(".jsonl"):
                texts.extend(_jsonl_texts(path, text, field))
            else:
                texts.append(text)
        if replaced:
            logger.warning("%s: replaced %d undecodable byte sequence(s) with U+FFFD in "
                           "%d of %d file(s)", spec, replaced, damaged, len(paths))
        super().__init__(texts, spec=spec, files=len(paths), replaced_characters=replaced,
                         files_with_replacements=damaged)
        if not self.stats.documents:
            raise DataError(f"{spec}: the {len(paths)} matching file(s) hold no "
                            "non-empty document")


_FILE_TYPES = (".txt", ".jsonl")


def _match_files(pattern: str) -> list:
    expanded = os.path.expanduser(pattern)
    if fileio.isdir(expanded):
        raise DataError(f"files:{pattern} is a directory; give a pattern such as "
                        f"{os.path.join(pattern, '*.txt')}")
    paths = sorted(p for p in fileio.glob(expanded) if fileio.isfile(p))
    if not paths:
        if glob.has_magic(expanded):
            raise FileNotFoundError(f"files:{pattern}: the pattern matches no file")
        raise FileNotFoundError(f"files:{pattern}: no such file")
    for path in paths:
        if not path.lower().endswith(_FILE_TYPES):
            raise DataError(f"{path}: unsupported file type; files: reads "
                            f"{' and '.join(_FILE_TYPES)} files")
    return paths


def _read_text(path: str):
    """(text, number of undecodable byte sequences replaced by U+FFFD)."""
    raw = fileio.read_bytes(path)
    try:
        return raw.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        text = raw.decode("utf-8-sig", errors="replace")
        # Every replacement adds one U+FFFD; genuine ones were already in the bytes.
        return text, text.count("\ufffd") - raw.count("\ufffd".encode())


def _jsonl_texts(path: str, text: str, field: str) -> list:
    texts = []
    try:
        for number, record in read_objects(path, text):
            where = f"{path}:{number}"
            if field not in record:
                raise DataError(f"{where}: no field {field!r}; the object has fields "
                                f"{', '.join(map(repr, sorted(record))) or '(none)'}")
            value = record[field]
            if not isinstance(value, str):
                raise DataError(f"{where}: field {field!r} holds {type(value).__name__}, "
                                "not a string")
            texts.append(value)
    except JsonlError as error:
        raise DataError(str(error)) from None
    return texts


# -- TFDS -------------------------------------------------------------------

class TfdsSource(Source):
    """A TFDS dataset's text feature `field` (a `/` path into nested features).

    Train documents come from `split`; validation documents from
    `validation_split`, by default the dataset's `validation` split or else
    its `test` split; with neither (or with the split list unknown), `split`
    itself is divided by hash as for local files.
    """

    def __init__(self, name: str, split: str = "train", field: str = "text", *,
                 validation_split: Optional[str] = None, data_dir: Optional[str] = None,
                 download: bool = False):
        self.name, self.split, self.field = name, split, field
        self.validation_split, self.data_dir, self.download = validation_split, data_dir, download
        self.spec = f"tfds:{name}:{split}:{field}"

    def _load(self, split: str) -> tf.data.Dataset:
        import tensorflow_datasets as tfds

        try:
            return tfds.load(self.name, split=split, data_dir=self.data_dir,
                             download=self.download, shuffle_files=False)
        except tfds.core.registered.DatasetNotFoundError:
            raise DataError(f"{self.spec}: TFDS has no dataset {self.name!r}") from None
        except AssertionError as error:  # TFDS's way to say "not prepared"
            raise DataError(f"{self.spec}: the dataset is not prepared under "
                            f"{self.data_dir or 'the default TFDS data_dir'}; prepare it "
                            f"(`tfds build {self.name}`) or give its data_dir ({error})"
                            ) from None

    def _validation_plan(self) -> Optional[str]:
        """The split that holds validation documents, or None to divide `split` by hash."""
        if self.validation_split:
            return self.validation_split
        import tensorflow_datasets as tfds

        try:
            available = set(tfds.builder(self.name, data_dir=self.data_dir).info.splits)
        except tfds.core.registered.DatasetNotFoundError:
            raise DataError(f"{self.spec}: TFDS has no dataset {self.name!r}") from None
        return next((s for s in ("validation", "test") if s in available and s != self.split),
                    None)

    def documents(self, split: str = "train") -> tf.data.Dataset:
        _check_split(split)
        validation = self._validation_plan()
        ds = self._load(validation if split == "validation" and validation else self.split)
        keys = self.field.split("/")
        self._check_field(ds.element_spec, keys)

        def text(example):
            for key in keys:
                example = example[key]
            return example

        ds = ds.map(text, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if validation is None:
            held_out = split == "validation"
            ds = ds.filter(lambda doc: tf.equal(is_validation(doc), held_out))
        return ds.filter(lambda doc: tf.strings.length(tf.strings.strip(doc)) > 0)

    def _check_field(self, spec, keys):
        for key in keys:
            if not isinstance(spec, Mapping) or key not in spec:
                names = ", ".join(sorted(spec)) if isinstance(spec, Mapping) else "(none)"
                raise DataError(f"{self.spec}: no feature {self.field!r}; features: {names}")
            spec = spec[key]
        if not (isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
                and spec.shape.rank == 0):
            raise DataError(f"{self.spec}: feature {self.field!r} is {spec}, not a scalar string")


# -- spec parsing -----------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TFDS_NAME = re.compile(r"[A-Za-z0-9_]+(/[A-Za-z0-9_.\-]+)?")
_TFDS_VERSION = re.compile(r"\d+(\.(\d+|\*)){0,2}")
SPEC_FORMS = ("embedded", "files:PATTERN[:FIELD]", "tfds:NAME[:VERSION][:SPLIT[:FIELD]]",
              "quality:CLASSIFIER_DIR[:ALPHA]=SPEC", "mix:SPEC=WEIGHT,SPEC=WEIGHT,...",
              "glam[:COMPONENT=SPEC,...]")


def parse_data_spec(spec: str, *, data_dir: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None) -> Source:
    """Builds the source a `--data` spec names (syntax in this module's docstring).

    data_dir: TFDS data directory for `tfds:` sources (None: TFDS's default).
    env: where `glam` looks up its components' specs (None: os.environ).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"data spec {spec!r} is empty; expected one of: {', '.join(SPEC_FORMS)}")
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if kind in ("mix", "glam"):
        from glam_tf.data import mixture
        return mixture.parse_mixture_spec(spec, data_dir=data_dir, env=env)
    if kind == "quality":
        from glam_tf.data import quality
        return quality.parse_quality_spec(spec, data_dir=data_dir, env=env)
    if spec == "embedded":
        return EmbeddedSource()
    if kind == "files":
        if not rest:
            raise DataError(f"data spec {spec!r}: files: needs a file or glob pattern")
        head, sep, tail = rest.rpartition(":")
        if sep and head and _IDENTIFIER.fullmatch(tail):
            return FilesSource(head, tail)
        return FilesSource(rest)
    if kind == "tfds":
        parts = _split_outside_brackets(rest, ":")
        name = parts.pop(0)
        if not _TFDS_NAME.fullmatch(name):
            raise DataError(f"data spec {spec!r}: {name!r} is not a TFDS name "
                            "(NAME or NAME/CONFIG)")
        if parts and _TFDS_VERSION.fullmatch(parts[0]):
            name += ":" + parts.pop(0)
        if len(parts) > 2 or any(not p for p in parts):
            raise DataError(f"data spec {spec!r}: expected tfds:NAME[:VERSION][:SPLIT[:FIELD]]")
        split, field = (parts + ["train", "text"][len(parts):])[:2]
        return TfdsSource(name, split, field, data_dir=data_dir)
    raise DataError(f"data spec {spec!r} is not one of: {', '.join(SPEC_FORMS)}")


def _split_outside_brackets(text: str, separator: str) -> list:
    """Splits at `separator` except inside [...] (TFDS slices: `train[:10%]`)."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
