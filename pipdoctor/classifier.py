"""Pure: pip's output (bytes, streamed) -> the lines the rules need -> findings, root cause first."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from pipdoctor.findings import Finding

try:  # Python's own regex parser, to read the literal text a trigger's every match contains
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# Lines longer than this are cut around the match: pip's progress bars redraw with \r and no \n, so one
# "line" of a terminal capture can be megabytes long.
MAX_LINE = 4096
# A partial line is flushed once it holds this much, which bounds memory on output with no newline.
MAX_PENDING = 1 << 20
# At most this many kept lines per run; the first and the last ones are what explains a failure.
MAX_KEPT = 4000

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# Bytes of pip's output, most frequent first (counted in tests/data/logs and scripts/bench's 100 MB log);
# any other byte is rare. The gate starts its strings at rare bytes; only its speed depends on this table.
_BYTE_FREQUENCY = b" etnialrsodp\xe2\x94\x81c/.-u1ymh\n023gfb:_w^64xk'8()579v"
_MIN_FRAGMENT = 4


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

    A gate (plain strings the triggers require, see _gate) is searched over whole blocks of bytes in C;
    only the few lines it hits are checked against the triggers themselves, and only kept lines are ever
    decoded: that is what makes `explain` fast on a 100 MB CI log.
    """

    def __init__(self, triggers: Sequence[bytes]):
        # MULTILINE: a trigger's ^ and $ mean the start and end of a line, not of a block.
        self._trigger = re.compile(b"|".join(b"(?:%s)" % t for t in triggers), re.MULTILINE)
        self._gate = _gate(triggers)
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
        position = 0
        while True:
            hit = self._gate.search(data, position, end)
            if hit is None:
                break
            start = data.rfind(b"\n", 0, hit.start()) + 1
            stop = data.find(b"\n", hit.start(), end)
            stop = end if stop < 0 else stop
            position = stop + 1
            match = self._trigger.search(data, start, stop)  # the gate is a hint: the trigger decides
            if match is None:
                continue
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


def _gate(triggers: Sequence[bytes]) -> "re.Pattern[bytes]":
    """A regex that matches in every line a trigger matches in, and in few others.

    It is an alternation of plain strings, one that every match of a trigger contains, each cut to start at
    a rare byte; the engine skips in C to the bytes a match can start with, and tries the alternatives
    there only. The triggers' own alternation has to be tried at nearly every byte: 5-10 times slower
    (scripts/bench explain). A trigger with no such string, or with flags, is in the gate as it is.
    """
    parts = []
    for trigger in triggers:
        try:
            parsed = _sre_parse.parse(trigger)
            cased = not parsed.state.flags & (_sre.SRE_FLAG_IGNORECASE | _sre.SRE_FLAG_LOCALE)
            literals = _required_literals(list(parsed)) if cased else None
        except Exception:  # a parser of another shape (it is private): slower, never wrong
            literals = None
        if literals is None:
            parts.append(b"(?:%s)" % trigger)
        else:
            parts.extend(re.escape(_fragment(literal)) for literal in literals)
    return re.compile(b"|".join(dict.fromkeys(parts)), re.MULTILINE)


def _required_literals(items: list) -> Optional[list[bytes]]:
    """Strings one of which is in every match of a parsed regex (the rarest-starting such set), or None."""
    candidates = []
    run = bytearray()
    for op, av in [*items, (None, None)]:
        if op is _sre.LITERAL:
            run.append(av)
            continue
        if len(run) >= 3:
            candidates.append([bytes(run)])
        run = bytearray()
        found = None
        if op is _sre.SUBPATTERN and not av[1]:  # a group that adds no flags of its own, as (?i:...) would
            found = _required_literals(av[-1])
        elif op is _sre.BRANCH:
            branches = [_required_literals(branch) for branch in av[1]]
            found = None if None in branches else [literal for branch in branches for literal in branch]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and av[0] >= 1:
            found = _required_literals(av[2])
        if found:
            candidates.append(found)
    if not candidates:
        return None
    return max(candidates, key=lambda literals: min((_rarity(f[0]), len(f)) for f in map(_fragment, literals)))


def _fragment(literal: bytes) -> bytes:
    """The tail of `literal` from its rarest byte on, at least _MIN_FRAGMENT bytes long."""
    if len(literal) <= _MIN_FRAGMENT:
        return literal
    start = max(range(len(literal) - _MIN_FRAGMENT + 1), key=lambda k: (_rarity(literal[k]), -k))
    return literal[start:]


def _rarity(byte: int) -> int:
    rank = _BYTE_FREQUENCY.find(bytes([byte]))
    return len(_BYTE_FREQUENCY) if rank < 0 else rank


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
