"""Reading JSON Lines files: one JSON object per non-blank line, errors naming file and line.

The corpus sources, the quality classifier and the task files all read JSONL
through `read_objects`; each adds its own checks of the fields it needs.
"""

from __future__ import annotations

import json
from typing import Iterator, Optional


class JsonlError(ValueError):
    """A line that is not a JSON object; `path` and `line` (1-based) say where."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


def read_objects(path: str, text: Optional[str] = None) -> Iterator[tuple[int, dict]]:
    """Yields (line number, object) for every non-blank line of the file at `path`.

    `text`: the file's contents when the caller has already decoded them
    (else the file is read as UTF-8). Lines are split at "\\n" alone:
    str.splitlines would also cut at U+2028 and other separators that JSON
    allows unescaped inside strings.
    """
    if text is None:
        from glam_tf import fileio  # (which imports TensorFlow only when it reads)
        text = fileio.read_text(path, encoding="utf-8-sig")
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise JsonlError(path, number, f"not valid JSON ({error.msg}, column "
                                           f"{error.colno})") from None
        if not isinstance(record, dict):
            raise JsonlError(path, number,
                             f"expected a JSON object, got {type(record).__name__}")
        yield number, record
