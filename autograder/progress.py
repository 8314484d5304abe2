"""``grade``'s progress: notebooks done / total and the time left at the measured rate.

On a terminal a tqdm bar (as the course's training loops draw, off with ``GRADLAB_PROGRESS=0``);
when stderr is a file or a pipe (a log, CI) a plain line at most every ``every`` seconds and one at
the end, since a bar's carriage returns make a log unreadable. The rate is measured, not guessed:
notebooks finished per second of wall time since the first was started, so the estimate already
counts the ``--jobs`` running at once.
"""
from __future__ import annotations

import datetime
import os
import sys
import threading
import time


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(max(0.0, seconds))))


class Progress:
    """Count tracked futures as they finish.

    Args:
        echo: where the log lines go (``grade`` passes its stderr printer).
        every: seconds between two log lines.
        stream: the stream the bar draws on (a bar only when it is a terminal).

    Examples::

        >>> lines = []
        >>> p = Progress(lines.append, every=0.0, stream=None)
        >>> p.total = 2; p.done(); p.done(); p.close()
        >>> lines[-1].startswith("grade: 2/2 notebooks done")
        True
    """

    def __init__(self, echo, every: float = 10.0, stream=sys.stderr):
        self.echo, self.every = echo, every
        self.total = self.count = 0
        self.start = self.last = time.monotonic()
        self._lock = threading.Lock()
        self._bar = None
        self._said = ""
        on = os.environ.get("GRADLAB_PROGRESS", "1") not in ("0", "false", "no", "")
        if on and stream is not None and hasattr(stream, "isatty") and stream.isatty():
            from tqdm.auto import tqdm
            self._bar = tqdm(total=0, desc="grade", unit="notebook", file=stream, dynamic_ncols=True)

    def track(self, future):
        """Count ``future`` (a notebook run) in the total, and as done when it finishes."""
        with self._lock:
            self.total += 1
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()
        future.add_done_callback(lambda _: self.done())
        return future

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else None
        pct = f" ({self.count / self.total:.0%})" if self.total else ""
        return (f"grade: {self.count}/{self.total} notebooks done{pct}, elapsed {_clock(elapsed)}"
                + (f", {1 / rate:.1f} s/notebook, ETA {_clock(eta)}" if eta is not None and self.count < self.total else ""))

    def done(self) -> None:
        with self._lock:
            self.count += 1
            if self._bar is not None:
                self._bar.update(1)
            elif time.monotonic() - self.last >= self.every:
                self.last = time.monotonic()
                self._say(self.line())

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            if self.total:
                self._say(self.line())

    def _say(self, text: str) -> None:
        if text != self._said:   # the last notebook's line and the closing one are often the same
            self._said = text
            self.echo(text)
