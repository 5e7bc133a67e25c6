"""The `files:PATTERN[:FIELD]` data spec: local or remote `.txt` and `.jsonl` files.

A glob (`**` recurses; gs:// and other TF filesystems too) picks the files:
`.txt` is one document per file, `.jsonl` one JSON object per line with its
text in FIELD (default "text"); a trailing `:NAME` is the field when NAME is
an identifier.
"""

from __future__ import annotations

import glob
import logging
import os
import re

from glam_tf import fileio
from glam_tf.data.sources import DataError, TextSource
from glam_tf.jsonl import JsonlError, read_objects

logger = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class FilesSource(TextSource):
    """`.txt` files (a document each) and `.jsonl` files (a document per line).

    Files are read as UTF-8 (a leading byte-order mark is dropped);
    undecodable bytes become U+FFFD, counted in `stats` and logged as a warning.
    """

    def __init__(self, pattern: str, field: str = "text"):
        self.pattern, self.field = pattern, field
        spec = f"files:{pattern}" + (f":{field}" if field != "text" else "")
        paths = match_files(pattern, spec)
        texts, replaced, damaged = [], 0, 0
        for path in paths:
            documents, count = file_documents(path, field)
            texts.extend(documents)
            replaced += count
            damaged += count > 0
        if replaced:
            logger.warning("%s: replaced %d undecodable byte sequence(s) with U+FFFD in "
                           "%d of %d file(s)", spec, replaced, damaged, len(paths))
        super().__init__(texts, spec=spec, files=len(paths), replaced_characters=replaced,
                         files_with_replacements=damaged)
        if not self.stats.documents:
            raise DataError(f"{spec}: the {len(paths)} matching file(s) hold no "
                            "non-empty document")


_FILE_TYPES = (".txt", ".jsonl")


def match_files(pattern: str, what: str) -> list:
    """The files `pattern` matches, sorted; `what` names the pattern in errors."""
    expanded = os.path.expanduser(pattern)
    if fileio.isdir(expanded):
        raise DataError(f"{what} is a directory; give a pattern such as "
                        f"{os.path.join(pattern, '*.txt')}")
    paths = sorted(p for p in fileio.glob(expanded) if fileio.isfile(p))
    if not paths:
        if glob.has_magic(expanded):
            raise FileNotFoundError(f"{what}: the pattern matches no file")
        raise FileNotFoundError(f"{what}: no such file")
    for path in paths:
        if not path.lower().endswith(_FILE_TYPES):
            raise DataError(f"{path}: unsupported file type; only "
                            f"{' and '.join(_FILE_TYPES)} files are read")
    return paths


def file_documents(path: str, field: str = "text") -> tuple:
    """(the documents of one file in order, undecodable byte sequences replaced by U+FFFD).

    A `.txt` file is one document; a `.jsonl` file one per non-blank line, the
    string in `field` of its JSON object. Empty documents are kept.
    """
    text, replaced = _read_text(path)
    if path.lower().endswith(".jsonl"):
        return _jsonl_texts(path, text, field), replaced
    return [text], replaced


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


def parse_spec(spec: str, body: str, context) -> FilesSource:
    """`files:PATTERN[:FIELD]`."""
    if not body:
        raise DataError(f"data spec {spec!r}: files: needs a file or glob pattern")
    head, sep, tail = body.rpartition(":")
    if sep and head and _IDENTIFIER.fullmatch(tail):
        return FilesSource(head, tail)
    return FilesSource(body)
