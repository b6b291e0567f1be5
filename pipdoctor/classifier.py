"""Pure: pip's output (bytes, streamed) -> the lines the rules need -> findings, root cause first."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from pipdoctor.findings import Finding

# Lines longer than this are cut around the match: pip's progress bars redraw with \r and no \n, so one
# "line" of a terminal capture can be megabytes long.
MAX_LINE = 4096
# A partial line is flushed once it holds this much, which bounds memory on output with no newline.
MAX_PENDING = 1 << 20
# At most this many kept lines per run; the first and the last ones are what explains a failure.
MAX_KEPT = 4000

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


@dataclass(frozen=True)
class Line:
    """A line of pip's output that some rule asked to keep; `number` is 1-based, as an editor shows it."""

    number: int
    text: str


@dataclass(frozen=True)
class Log:
    """What the rules see: the kept lines in order, and how many lines the whole output had."""

    lines: tuple[Line, ...]
    total_lines: int = 0

    def matching(self, pattern: "re.Pattern[str]") -> list[tuple[Line, "re.Match[str]"]]:
        hits = []
        for line in self.lines:
            match = pattern.search(line.text)
            if match:
                hits.append((line, match))
        return hits


def clean_text(raw: bytes) -> str:
    """Decode one captured line the way a reader sees it: UTF-8, no color codes, last redraw of a \\r line."""
    text = _ANSI.sub("", raw.decode("utf-8", "replace"))
    if "\r" in text:
        parts = [part for part in text.split("\r") if part.strip()]
        text = " ".join(parts)
    return text.rstrip()


class LogScanner:
    """Streams pip's output and keeps only the lines that match a rule's trigger, with their numbers.

    The trigger search runs over whole blocks of bytes in C (one alternation regex), so only the few
    interesting lines are ever decoded: that is what makes `explain` fast on a 100 MB CI log.
    """

    def __init__(self, triggers: Sequence[bytes]):
        # MULTILINE: a trigger's ^ and $ mean the start and end of a line, not of a block.
        self._trigger = re.compile(b"|".join(b"(?:%s)" % t for t in triggers), re.MULTILINE)
        self._pending = b""
        self._counted_lines = 0
        self._head: list[Line] = []
        self._tail: deque[Line] = deque(maxlen=MAX_KEPT - MAX_KEPT // 2)

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk if self._pending else chunk
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) >= MAX_PENDING:
            end = len(data)
        self._scan(data, end)
        self._pending = data[end:]

    def finish(self) -> Log:
        if self._pending:
            self._scan(self._pending + b"\n", len(self._pending) + 1)
            self._pending = b""
        return Log(tuple(self._head) + tuple(self._tail), self._counted_lines)

    def _scan(self, data: bytes, end: int) -> None:
        line_start_number = self._counted_lines
        counted_to = 0
        last_line_start = -1
        for match in self._trigger.finditer(data, 0, end):
            start = data.rfind(b"\n", 0, match.start()) + 1
            if start == last_line_start:
                continue
            last_line_start = start
            stop = data.find(b"\n", match.end(), end)
            stop = end if stop < 0 else stop
            line_start_number += data.count(b"\n", counted_to, start)
            counted_to = start
            raw = data[start:stop]
            if len(raw) > MAX_LINE:
                at = match.start() - start
                raw = raw[max(0, at - MAX_LINE // 2): at + MAX_LINE // 2]
            self._keep(Line(line_start_number + 1, clean_text(raw)))
        self._counted_lines = line_start_number + data.count(b"\n", counted_to, end)
        if end == len(data) and end and data[end - 1:end] != b"\n":
            self._counted_lines += 1

    def _keep(self, line: Line) -> None:
        if len(self._head) < MAX_KEPT // 2:
            self._head.append(line)
            return
        self._tail.append(line)


def scan_blocks(blocks: Iterable[bytes], triggers: Optional[Sequence[bytes]] = None) -> Log:
    from pipdoctor.rules import TRIGGERS

    scanner = LogScanner(triggers or TRIGGERS)
    for block in blocks:
        scanner.feed(block)
    return scanner.finish()


def classify(log: Log, facts=None) -> list[Finding]:
    """Run every rule in precedence order; the first finding is the root cause."""
    from pipdoctor.rules import RULES

    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule.match(log, facts))
    return order_findings(findings)


def order_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first (what made pip fail), then warnings, then info; the rule order decides within each."""
    from pipdoctor.rules import RULE_ORDER

    return sorted(findings, key=lambda f: (f.severity.rank, RULE_ORDER.get(f.code, len(RULE_ORDER))))
