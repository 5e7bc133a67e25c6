"""The `embedded` data spec: real English text shipped with every install, no download.

The corpus is the Python reference's help topics and the docstrings of
standard-library modules and numpy (see `embedded_documents`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import warnings

from glam_tf.data.sources import DataError, TextSource

logger = logging.getLogger(__name__)

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


def parse_spec(spec: str, body: str, context) -> EmbeddedSource:
    """`embedded` (nothing may follow it)."""
    if spec != "embedded":
        raise DataError(f"data spec {spec!r}: embedded takes nothing after it")
    return EmbeddedSource()
