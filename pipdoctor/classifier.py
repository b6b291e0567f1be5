"""Pure: pip's output (bytes, streamed) -> the lines the rules need -> findings, root cause first."""

from __future__ import annotations

import re
from collections import Counter, deque
from typing import Iterable, Optional, Sequence

from pipdoctor.findings import Finding
from pipdoctor.logtext import Line, Log, clean_text

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

# Bytes of pip's output, most frequent first, with their share in percent (counted in tests/data/logs and
# scripts/bench's 100 MB log): every byte that makes up 0.02 % or more; any other byte is rarer. The gate
# picks the bytes its strings start at from this; only its speed depends on it.
_BYTE_SHARE = dict(zip(
    b" \xe2\x94\x81ential.r-sop1c0dm/23u_y6\ng:x4f8h()~kwb7B[59'\x1b;vq^D=MI>Cz,|WRP]NUEGKALS{+*O\rYjTH<F",
    (9.22, 5.77, 5.77, 5.77, 4.46, 4.14, 3.3, 3.29, 3, 2.74, 2.74, 2.56, 2.28, 2.23, 2.14, 2.13, 2.07, 2.02, 1.86,
     1.71, 1.71, 1.66, 1.6, 1.51, 1.48, 1.48, 1.47, 1.1, 1.04, 1.02, 0.93, 0.91, 0.88, 0.86, 0.79, 0.75, 0.69, 0.69,
     0.66, 0.65, 0.62, 0.59, 0.58, 0.56, 0.54, 0.49, 0.47, 0.47, 0.47, 0.33, 0.3, 0.3, 0.3, 0.26, 0.26, 0.2, 0.2,
     0.17, 0.17, 0.16, 0.15, 0.15, 0.12, 0.088, 0.078, 0.077, 0.069, 0.066, 0.058, 0.053, 0.043, 0.04, 0.04, 0.04,
     0.039, 0.039, 0.036, 0.035, 0.032, 0.029, 0.028, 0.028, 0.026, 0.022, 0.021)))
_RARE_SHARE = 0.01
# What a gate pass costs, in passes: one for the C loop that skips to its byte, plus, for every byte it
# stops at, an attempt at its strings (about 120 ns against 0.33 ns per byte skipped; measured on Python
# 3.11 over scripts/bench's log).
_ATTEMPT_COST = 120 / 0.33
_MIN_FRAGMENT = 4
# Chunks fed to the scanner are gathered up to this size before a scan: a pty hands over a few kB per read,
# and each scan costs a fixed overhead on top of its C-level search. Large, because only the last MAX_KEPT/2
# kept lines of a batch can be reported (_scan): in a log dense with kept lines (real users' logs: about one
# line in three) a 4 MB batch is matched over its last few hundred kB only (100 MB of real logs, scanned
# in-process on a busy 2-core machine: 3-5 s in 256 kB batches, 1.1 s in 4 MB ones). It costs twice its size
# in memory while gathered and joined.
_BATCH = 4 * 1024 * 1024
# A block is matched in windows of about this many bytes (whole lines): small enough to stay in the CPU's
# cache over the gate's passes, and the unit in which a dense block's unreported middle is skipped.
_WINDOW = 64 * 1024
# At most this many distinct values per capture are remembered (the most recent ones).
MAX_CAPTURED = 2000


class LogScanner:
    """Streams pip's output and keeps only the lines that match a rule's trigger, with their numbers.

    A gate (plain strings the triggers require, see _gate) is searched over whole blocks of bytes in C;
    only the few lines it hits are checked, against the triggers that need the string it hit, and only kept
    lines that will be reported are ever decoded: that is what makes `explain` fast on a 100 MB CI log. Of a
    log dense with kept lines, only the parts whose lines can be reported are matched at all (_scan).

    A capture (a rule's CAPTURES: a regex with one group) is for what is frequent in a healthy run but
    matters only if a rare line comes later (the files pip took from its cache): one C-level findall per
    block, and for each distinct value only the first line it was on, for the last MAX_CAPTURED values.
    Captures default to the rules' own.
    """

    def __init__(self, triggers: Sequence[bytes], captures: Optional[Sequence[bytes]] = None):
        if captures is None:
            from pipdoctor.rules import CAPTURES as captures
        # MULTILINE: a trigger's ^ and $ mean the start and end of a line, not of a block.
        self._gate, self._checks = _gate(triggers)
        self._captures = [(_one_byte_prefix(c), {}) for c in captures]
        self._pending = b""
        self._batch: list[bytes] = []
        self._batched = 0
        self._counted_lines = 0
        self._head: list[Line] = []
        self._tail: deque[tuple[int, bytes]] = deque(maxlen=MAX_KEPT - MAX_KEPT // 2)  # (number, raw)

    def feed(self, chunk: bytes) -> None:
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= _BATCH:
            self._flush()

    def finish(self) -> Log:
        self._flush()
        if self._pending:
            self._scan(self._pending + b"\n", 0, len(self._pending) + 1)
            self._pending = b""
        captured = sorted((line for _, lines in self._captures for line in lines.values()),
                          key=lambda line: line.number)
        tail = tuple(Line(number, clean_text(raw)) for number, raw in self._tail)
        return Log(tuple(self._head) + tail, self._counted_lines,
                   tuple(dict.fromkeys(captured)))

    def _flush(self) -> None:
        if not self._batch:
            return
        data = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
        self._batch.clear()
        self._batched = 0
        begin = 0
        if self._pending:
            newline = data.find(b"\n") + 1
            if newline:  # the line an earlier block began, scanned on its own: the block itself is not copied
                head = self._pending + data[:newline]
                self._scan(head, 0, len(head))
                begin = newline
            else:
                data = self._pending + data
        end = data.rfind(b"\n", begin) + 1 or begin
        if end == begin and len(data) - begin >= MAX_PENDING:
            end = len(data)
        if end > begin:
            self._scan(data, begin, end)
        self._pending = data[end:]

    def _scan(self, data: bytes, begin: int, end: int) -> None:
        """Keep the lines of data[begin:end] (whole lines) that a trigger matches, count them all, capture.

        Only the first and the last kept lines are ever reported (_keep): windows are scanned forward
        while the head fills, then backward from the end until the tail's worth of lines is found. A log
        whose every third line is an error (a traceback, a compiler's) is thus read for its line count and
        captures in C, and matched only where its reported lines are; a sparse one is matched throughout."""
        first_line = self._counted_lines
        found: list = []  # windows of kept lines, in order
        position = begin
        while position < end and len(self._head) + sum(map(len, found)) < MAX_KEPT // 2:
            stop = _window_end(data, position, end)
            found.append(self._kept_in(data, position, stop))
            position = stop
        forward = len(found)
        wanted = self._tail.maxlen
        limit = end
        while limit > position and wanted > 0:
            start = _window_start(data, position, limit)
            window = self._kept_in(data, start, limit)
            found.append(window[-wanted:])
            wanted -= len(found[-1])
            limit = start
        number, counted_to = first_line, begin
        found[forward:] = reversed(found[forward:])
        for start, stop, at in (line for window in found for line in window):
            number += data.count(b"\n", counted_to, start)
            counted_to = start
            self._keep(number + 1, data, start, stop, at)
        self._counted_lines = number + data.count(b"\n", counted_to, end)
        if end == len(data) and end and data[end - 1:end] != b"\n":
            self._counted_lines += 1
        for pattern, lines in self._captures:
            self._capture(pattern, lines, data, begin, end, first_line)

    def _kept_in(self, data: bytes, begin: int, end: int) -> list:
        """(start, stop, where a trigger matched) of each line of data[begin:end] that a trigger matches,
        in order: the gate finds the few candidates in C, the triggers that need the string it hit decide."""
        kept: dict = {}  # start of a kept line -> (its end, where the first trigger matched)
        checks = self._checks
        for gate in self._gate:
            search = gate.search
            position = begin
            while True:
                hit = search(data, position, end)
                if hit is None:
                    break
                at = hit.start()
                position = at + 1  # another string further on may be another trigger's
                start = data.rfind(b"\n", begin, at) + 1 or begin
                if start in kept:
                    continue
                stop = data.find(b"\n", at, end)
                stop = end if stop < 0 else stop
                # The gate is a hint: the triggers that need the string it hit decide.
                match = checks[hit.group()].search(data, start, stop)
                if match is None:
                    continue
                position = stop + 1
                if stop - start > MAX_LINE:  # cut around the first match of any trigger, wherever the gate hit
                    match = checks[checks.ALL_TRIGGERS].search(data, start, stop)
                kept[start] = (stop, match.start())
        return [(start, *kept[start]) for start in sorted(kept)]

    def _capture(self, pattern: "re.Pattern[bytes]", lines: dict, data: bytes, begin: int, end: int,
                 first_line: int) -> None:
        new = set(pattern.findall(data, begin, end)).difference(lines)
        if not new:
            return
        number, counted_to = first_line, begin
        for match in pattern.finditer(data, begin, end):
            value = match.group(1)
            if value not in new:
                continue
            new.discard(value)
            at = match.start()
            start = data.rfind(b"\n", begin, at) + 1 or begin
            stop = data.find(b"\n", at, end)
            number += data.count(b"\n", counted_to, start)
            counted_to = start
            lines[value] = Line(number + 1, clean_text(_cut(data, start, end if stop < 0 else stop, at)))
            if len(lines) > MAX_CAPTURED:
                del lines[next(iter(lines))]
            if not new:
                break

    def _keep(self, number: int, data: bytes, start: int, stop: int, at: int) -> None:
        """The first MAX_KEPT/2 kept lines and the last ones; the last are decoded only if they stay."""
        raw = _cut(data, start, stop, at)
        if len(self._head) < MAX_KEPT // 2:
            self._head.append(Line(number, clean_text(raw)))
            return
        self._tail.append((number, raw))


def _cut(data: bytes, start: int, stop: int, at: int) -> bytes:
    """data[start:stop], cut to MAX_LINE around `at` (where the match is)."""
    if stop - start > MAX_LINE:
        start, stop = max(start, at - MAX_LINE // 2), min(stop, at + MAX_LINE // 2)
    return data[start:stop]


def _window_end(data: bytes, begin: int, end: int) -> int:
    """The end of the window of whole lines that starts at `begin`: about _WINDOW bytes on."""
    if end - begin <= _WINDOW:
        return end
    return data.find(b"\n", begin + _WINDOW, end) + 1 or end


def _window_start(data: bytes, begin: int, end: int) -> int:
    """The start of the window of whole lines that ends at `end`: about _WINDOW bytes back."""
    if end - begin <= _WINDOW:
        return begin
    return data.rfind(b"\n", begin, end - _WINDOW) + 1 or begin


def _gate(triggers: Sequence[bytes]):
    """Regexes that together match in every line a trigger matches in, and in few others; and the checks:
    for each string they can match, the triggers to check when one does (see _Checks).

    Each gate regex is a byte followed by an alternation of plain strings; for each trigger, a string that
    every match of it contains starts at one of those bytes. A regex that starts with one known byte is
    searched by a tight C loop (about 3 GB/s); one that can start with any of several bytes tests a set at
    every byte (about 150 MB/s, scripts/bench explain). So the bytes are few and rare: a greedy set cover
    over _BYTE_SHARE, each byte costing one pass plus an attempt at every place it occurs. A trigger with no
    such string, or with flags, is a gate of its own, as it is.
    """
    literals_of = {}
    loose = []  # triggers that are gates as they are: checked on every hit
    for trigger in triggers:
        try:
            parsed = _sre_parse.parse(trigger)
            cased = not parsed.state.flags & (_sre.SRE_FLAG_IGNORECASE | _sre.SRE_FLAG_LOCALE)
            literals = _required_literals(list(parsed)) if cased else None
        except Exception:  # a parser of another shape (it is private): slower, never wrong
            literals = None
        if literals is None:
            loose.append(trigger)
        else:
            literals_of[trigger] = literals
    starts = _start_bytes([literal for literals in literals_of.values() for literal in literals])
    needs: dict = {}  # gate string -> the triggers that contain it
    for trigger, literals in literals_of.items():
        for literal in literals:
            needs.setdefault(_fragment(literal, starts), []).append(trigger)
    # A gate reports one string per position: when it hits one, any string that starts where it does (it is
    # a prefix of that one, or that one of it) may be there too.
    wanted = {}
    for hit in needs:
        found = [t for fragment, ts in needs.items() if fragment.startswith(hit) or hit.startswith(fragment)
                 for t in ts]
        wanted[hit] = tuple(dict.fromkeys(found + loose))
    by_byte: dict = {}
    for fragment in sorted(needs, key=len, reverse=True):
        by_byte.setdefault(fragment[:1], []).append(re.escape(fragment[1:]))
    # (?!) never matches: with two alternatives the regex's known prefix is its first byte alone, which
    # takes the C loop of one byte (the loop for a longer prefix is half as fast).
    gates = [re.compile(re.escape(first) + b"(?:%s)" % b"|".join(rests + [b"(?!)"] * (len(rests) == 1)))
             for first, rests in by_byte.items()]
    gates += [re.compile(t, re.MULTILINE) for t in loose]
    return gates, _Checks(wanted, triggers)


class _Checks(dict):
    """Gate string -> the regex of the triggers to check when a gate hits it (any other string, a loose
    trigger's hit or ALL_TRIGGERS: every trigger). Compiled on the first hit: most strings never hit in a
    run, and compiling them all would cost a short run (`pipdoctor install`) more than its whole scan."""

    ALL_TRIGGERS = b""

    def __init__(self, wanted: dict, triggers: Sequence[bytes]):
        super().__init__()
        self._wanted = wanted
        self._triggers = tuple(triggers)
        self._compiled: dict = {}  # a tuple of triggers -> its regex, shared by the strings that want it

    def __missing__(self, hit: bytes) -> "re.Pattern[bytes]":
        triggers = self._wanted.get(hit, self._triggers)
        pattern = self._compiled.get(triggers)
        if pattern is None:
            pattern = self._compiled[triggers] = _alternation(triggers)
        self[hit] = pattern
        return pattern


def _start_bytes(literals: Sequence[bytes]) -> list:
    """Bytes to start the gate's strings at, cheapest first: each literal has one, with _MIN_FRAGMENT bytes
    from it to the literal's end (a short literal: its first byte)."""
    def cost(byte: int) -> float:
        return 1 + _BYTE_SHARE.get(byte, _RARE_SHARE) / 100 * _ATTEMPT_COST

    candidates = {literal: set(literal[:max(1, len(literal) - _MIN_FRAGMENT + 1)]) for literal in literals}
    uncovered = set(literals)
    chosen: list = []
    while uncovered:
        covers = Counter(byte for literal in uncovered for byte in candidates[literal])
        best = min(covers, key=lambda b: (cost(b) / covers[b], b))
        chosen.append(best)
        uncovered = {lit for lit in uncovered if best not in candidates[lit]}
    return sorted(chosen, key=cost)


def _one_byte_prefix(pattern: bytes) -> "re.Pattern[bytes]":
    """`pattern` compiled so that its search runs the C loop of one byte (see _gate), when it starts with a
    plain letter or digit that no quantifier follows."""
    if pattern[:1].isalnum() and pattern[1:2] not in (b"*", b"+", b"?", b"{"):
        pattern = pattern[:1] + b"(?:%s|(?!))" % pattern[1:]
    return re.compile(pattern, re.MULTILINE)


def _alternation(triggers: Sequence[bytes]) -> "re.Pattern[bytes]":
    return re.compile(b"|".join(b"(?:%s)" % t for t in triggers), re.MULTILINE)


def _required_literals(items: list) -> Optional[list[bytes]]:
    """Strings one of which is in every match of a parsed regex (the set whose strings all hold rare bytes),
    or None."""
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
    return min(candidates, key=lambda literals: max((_rarest_share(lit), -len(lit)) for lit in literals))


def _fragment(literal: bytes, starts: Sequence[int]) -> bytes:
    """The tail of `literal` from the cheapest of `starts` in it, at least _MIN_FRAGMENT bytes long."""
    if len(literal) <= _MIN_FRAGMENT:
        return literal
    offsets = range(len(literal) - _MIN_FRAGMENT + 1)
    return literal[min((k for k in offsets if literal[k] in starts), key=lambda k: (starts.index(literal[k]), k)):]


def _rarest_share(literal: bytes) -> float:
    """The share of the rarest byte a gate string for `literal` could start at."""
    return min(_BYTE_SHARE.get(byte, _RARE_SHARE) for byte in literal[:max(1, len(literal) - _MIN_FRAGMENT + 1)])


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
