"""A one-line progress bar redrawn in place on a terminal, and silent anywhere else.

Logs and CI output stay clean: where the stream is not a TTY the bar draws
nothing, and the caller's own progress lines are the record.
"""

from __future__ import annotations

import sys


class ProgressBar:
    """`bar.draw(done, total, "boolq 1-shot")` -> `boolq 1-shot [######......] 120/500`."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0

    def draw(self, done: int, total: int, label: str = "", suffix: str = "") -> None:
        if not self.enabled:
            return
        filled = int(self.width * done / total) if total else self.width
        text = (f"{label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
                f"{'  ' + suffix if suffix else ''}").lstrip()
        self.stream.write("\r" + text.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        """Blanks the bar, so that a line printed next starts on a clean line."""
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0
