"""Keeps TensorFlow's and SentencePiece's start-up log lines off the user's screen.

On import, TensorFlow's C++ libraries print a dozen lines to file descriptor 2
(oneDNN notices, "Could not find cuda drivers", an `E0000 ... failed call to
cuInit` that reads like a failure on any machine without a GPU, CPU-feature
advice), and TF Text's SentencePiece prints a `LOG(INFO)` line per tokenizer
it loads. Most are written before absl's logging is set up, so
TF_CPP_MIN_LOG_LEVEL does not reach them. `quiet_startup` therefore puts a
filter on descriptor 2 itself: a pipe whose reader drops exactly those known
lines and passes every other byte through, so real warnings and errors from
C++ (and from child processes, which inherit the descriptor) still show.
Python's own `sys.stderr` keeps writing to the terminal directly, so progress
bars still see a TTY.

`glam ... --verbose` or GLAM_VERBOSE=1 leaves everything as TensorFlow prints it.
This module imports no TensorFlow: it must run before TensorFlow loads.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import sys
import threading

VERBOSE_ENV = "GLAM_VERBOSE"

# absl's line prefix: severity letter, MMDD or 0000, time, thread id, file:line].
_ABSL = rb"[IWEF]\d{4} [\d:.]+\s+\d+ "
_NOISE = tuple(re.compile(pattern) for pattern in (
    rb"^WARNING: All log messages before absl::InitializeLog\(\) is called",
    _ABSL + rb"port\.cc:\d+\] oneDNN custom operations are on",
    _ABSL + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers",
    _ABSL + rb"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    rb"^To enable the following instructions: .*rebuild TensorFlow",
    # Logged as an error, but only says an int64 op runs on Eigen instead of oneDNN.
    _ABSL + rb"util\.cc:\d+\] oneDNN supports DT_INT64 only on platforms with AVX-512",
    rb"^\S+\.cc\(\d+\) LOG\(INFO\) ",  # SentencePiece's INFO lines
))
# Reported only when no CUDA driver exists at all; with a driver it is a real error.
_NO_DRIVER = re.compile(_ABSL + rb"cudart_stub\.cc:\d+\] Could not find cuda drivers")
_CUINIT = re.compile(_ABSL + rb"cuda_platform\.cc:\d+\] failed call to cuInit")

_active: "_Fd2Filter | None" = None


def verbose_requested(flag: bool = False) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def quiet_startup(verbose: bool = False) -> None:
    """Filters known start-up noise out of descriptor 2 from now on (once per process).

    Does nothing once TensorFlow is loaded: its start-up lines are out, and the
    process (a test runner, a notebook) owns its descriptors.
    """
    global _active
    if verbose_requested(verbose) or "tensorflow" in sys.modules:
        return
    # Later INFO lines (after absl is set up) are dropped at the source.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if _active is None:
        _active = _Fd2Filter()


def is_noise(line: bytes, state: dict) -> bool:
    """Whether one line (without its newline) is start-up noise; `state` spans lines."""
    if _NO_DRIVER.search(line):
        state["no_driver"] = True
    if _CUINIT.search(line):
        return state.get("no_driver", False)
    return any(pattern.search(line) for pattern in _NOISE)


class _Fd2Filter:
    """Descriptor 2 -> pipe -> a thread that drops noise lines -> the real stderr."""

    def __init__(self):
        sys.stderr.flush()
        self._terminal = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._read_end = read_end
        # Python writes straight to the terminal (progress bars test isatty()).
        sys.stderr = io.TextIOWrapper(io.FileIO(os.dup(self._terminal), "w"),
                                      line_buffering=True, errors="backslashreplace")
        self._thread = threading.Thread(target=self._pump, name="glam-stderr-filter",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _pump(self) -> None:
        state: dict = {}
        pending = b""
        while True:
            chunk = os.read(self._read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_noise(line, state))
            if kept:
                os.write(self._terminal, kept)
        if pending and not is_noise(pending, state):
            os.write(self._terminal, pending)

    def close(self) -> None:
        """Gives descriptor 2 back to the terminal and lets the filter drain."""
        sys.stderr.flush()
        os.dup2(self._terminal, 2)  # closes the pipe's last write end we hold
        self._thread.join(timeout=2.0)
