"""One progress line on stderr for long work (explain of a big log; walks of big caches): a person at a
terminal sees that pipdoctor is working and how far it is; a pipe, a log file or a --json reader sees nothing.

The line appears only once the work has taken SHOW_AFTER seconds (short work stays silent), is redrawn in
place with \\r at most REDRAW_EVERY seconds apart, and is wiped when the work ends, so the report that follows
starts on a clean line. No thread: the worker calls advance(), which looks at the clock only every
`check_every` units. NO_COLOR does not hide it: it is not color (https://no-color.org)."""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from pipdoctor.terminal import TerminalText, tell

SHOW_AFTER = 1.0
REDRAW_EVERY = 0.1


class Progress:
    """Counts units of work (bytes, or entries: anything countable) toward an optional total and draws
    `label: done[ of total] unit, rate[, time left]` on fd 2 when `shown`."""

    def __init__(self, label: str, *, shown: bool, total: Optional[int] = None, unit: str = "entries",
                 check_every: int = 1, clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._shown = shown
        self._check_every = max(1, check_every)
        self._check_at = self._check_every
        self._clock = clock
        self._started = clock()
        self._drawn_at: Optional[float] = None
        self._width = 0  # of the line on screen, to wipe it

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        if not self._shown or self.done < self._check_at:
            return
        self._check_at = self.done + self._check_every
        now = self._clock()
        if now - self._started < SHOW_AFTER or (self._drawn_at is not None and now - self._drawn_at < REDRAW_EVERY):
            return
        self._drawn_at = now
        self._draw(describe(self.label, self.done, self.total, self.unit, now - self._started))

    def counter(self) -> Callable[[int], None]:
        """A callback for one walk, which reports its running count (cachewalk.walk_cache's progress hook):
        each walk of a check (pip's cache, uv's, every account's) adds to the one line."""
        seen = 0

        def walked(count: int) -> None:
            nonlocal seen
            self.advance(count - seen)
            seen = count
        return walked

    def close(self) -> None:
        """Wipe the line, if one was drawn."""
        if self._width:
            tell(TerminalText("\r" + " " * self._width + "\r"))
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _draw(self, text: str) -> None:
        try:  # a line wider than the terminal would wrap, and \r returns only to the start of its last row
            columns = os.get_terminal_size(2).columns
        except OSError:
            columns = 0
        if columns:  # 0: a terminal whose size nobody set
            text = text[:columns - 1]
        tell(TerminalText("\r" + text.ljust(self._width)))
        self._width = len(text)


def on_terminal(label: str, *, quiet: bool, total: Optional[int] = None, unit: str = "entries",
                check_every: int = 1) -> Progress:
    """A Progress shown only where a person watches: stderr is a terminal, and not `quiet` (--json)."""
    return Progress(label, shown=not quiet and os.isatty(2), total=total, unit=unit, check_every=check_every)


def describe(label: str, done: int, total: Optional[int], unit: str, seconds: float) -> str:
    """`pipdoctor: explain: 45.2 of 100.0 MB, 120.3 MB/s, 0:01 left`, or with no total
    `pipdoctor: check: 120,345 entries, 45,021/s`."""
    rate = done / seconds if seconds > 0 else 0.0
    if unit == "bytes":
        scale, suffix = _byte_scale(total or done)
        amount = f"{done / scale:.1f} of {total / scale:.1f} {suffix}" if total else f"{done / scale:.1f} {suffix} read"
        rate_scale, rate_suffix = _byte_scale(rate)
        speed = f"{rate / rate_scale:.1f} {rate_suffix}/s"
    else:
        amount = f"{done:,} of {total:,} {unit}" if total else f"{done:,} {unit}"
        speed = f"{rate:,.0f}/s"
    parts = [f"pipdoctor: {label}: {amount}", speed]
    if total and rate > 0 and done < total:
        left = int((total - done) / rate + 0.5)
        parts.append(f"{left // 60}:{left % 60:02d} left")
    return ", ".join(parts)


def _byte_scale(size: float) -> tuple[float, str]:
    for scale, suffix in ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
        if size >= scale:
            return scale, suffix
    return 1, "B"
