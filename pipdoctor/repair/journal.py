"""Writing a journal (each planned record synced before its changes) and reading one, bounded and streaming.

Reading never holds more than one line (at most schema.MAX_LINE bytes) and one block: a first pass checks
every record against the schema before anything is changed, a second hands them to undo newest first,
read backwards in blocks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from typing import Iterator, Optional

from pipdoctor.repair import schema
from pipdoctor.repair.fs import RepairError, birth_clock_ns
from pipdoctor.repair.store import JournalFile, Store, create_journal, journal_names, open_journal

BLOCK = 1 << 20
# A record a kill -9 or a full disk cut short was never applied (each `planned` record is synced before its
# changes are made): only these may follow it.
_AFTER_A_CUT = (schema.End, schema.Undone)


def _lock(fd: int, path: str) -> None:
    """One fix or undo per journal at a time (a lock dies with its process, kill -9 included: flock(2))."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise RepairError(f"{path} is in use by another pipdoctor fix or undo; try again when it ends") from None
        raise


class Journal:
    """A journal being written: JSON lines, appended; a chown is refused outside root's store."""

    def __init__(self, fd: int, path: str, header: schema.Header, store: Store):
        self.fd = fd
        self.path = path
        self.header = header
        self.store = store
        self.seq = 0

    @classmethod
    def create(cls, store: Store, stamp: str, header: schema.Header, extra: dict) -> "Journal":
        try:
            fd, path = create_journal(store, stamp)
        except RepairError as error:
            raise RepairError(f"{error}; nothing was changed") from None
        except OSError as error:
            raise RepairError(f"cannot create a journal in {store.path}: {error.strerror or error}; "
                              "nothing was changed") from None
        journal = cls(fd, path, header, store)
        try:
            _lock(fd, path)
            journal.write([schema.header_line(header, extra)])
        except OSError as error:
            journal.close()
            raise RepairError(f"cannot write a journal in {store.path}: {error.strerror or error}; nothing "
                              "was changed") from None
        return journal

    def write(self, lines: list, sync: bool = True) -> None:
        data = ("\n".join(lines) + "\n").encode("ascii")
        while data:
            data = data[os.write(self.fd, data):]
        if sync:
            os.fsync(self.fd)

    def planned_chowns(self, dev: int, uid: int, gid: int, entries: list) -> list:
        """The records (one, or more for a chunk past WRITE_LINE) for a chunk of chowns on device dev, synced,
        with the time they were written: no entry the chunk changes was born later. Returns their numbers."""
        return self.planned_chown_parts(dev, uid, gid, schema.entries_json(entries))

    def planned_chown_parts(self, dev: int, uid: int, gid: int, parts: list) -> list:
        """planned_chowns for entries a worker encoded already (schema.entries_json)."""
        if not self.store.root:
            raise RepairError("a chown is journaled only in root's store; nothing more was changed")
        if (uid, gid) != (self.header.uid, self.header.gid):
            raise RepairError(f"a chown to {uid}:{gid} is not to the cache owner {self.header.uid}:"
                              f"{self.header.gid}; nothing more was changed")
        lines = schema.chown_lines(self.seq + 1, dev, uid, gid, birth_clock_ns(), parts)
        self.write(lines)
        first, self.seq = self.seq + 1, self.seq + len(lines)
        return list(range(first, self.seq + 1))

    def planned_rename(self, parent: str, old: str, new: str, st: os.stat_result) -> int:
        self.seq += 1
        self.write([schema.rename_line(schema.Rename(self.seq, parent, old, new, st.st_dev, st.st_ino, st.st_mode))])
        return self.seq

    def done(self, seqs: list) -> None:
        """The changes of these records were made (or skipped and reported) by now: with no birth time, a
        later ctime says an entry changed since. Not synced: undo can do without it."""
        at = time.time_ns()
        self.write([schema.done_line(n, at) for n in seqs], sync=False)

    def end(self) -> None:
        self.write([schema.end_line(time.strftime("%Y-%m-%dT%H:%M:%S%z"))])

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# --- reading ----------------------------------------------------------------------------------------------


def lines_forward(fd: int, size: int) -> Iterator[Optional[bytes]]:
    """The lines of the first size bytes, oldest first; None for a line longer than MAX_LINE (dropped as it
    is read, never held)."""
    pos, buf, skipping = 0, b"", False
    while pos < size:
        block = os.pread(fd, min(BLOCK, size - pos), pos)
        if not block:
            break
        pos += len(block)
        parts = (buf + block).split(b"\n")
        buf = parts.pop()
        for part in parts:
            if skipping:
                skipping = False
                yield None
            else:
                yield part if len(part) <= schema.MAX_LINE else None
        if len(buf) > schema.MAX_LINE:
            skipping, buf = True, b""
    if skipping:
        yield None
    elif buf:
        yield buf


def lines_backward(fd: int, size: int) -> Iterator[Optional[bytes]]:
    """The lines of the first size bytes, newest first, read backwards in blocks; None as in lines_forward."""
    pos, tail, skipping = size, b"", False
    while pos > 0:
        start = max(0, pos - BLOCK)
        block = os.pread(fd, pos - start, start)
        if len(block) != pos - start:
            raise RepairError("the journal shrank while it was read")
        pos = start
        parts = block.split(b"\n")
        for index in range(len(parts) - 1, -1, -1):
            piece = parts[index] + tail if index == len(parts) - 1 else parts[index]
            if index == 0 and pos > 0:  # the line goes on before this block
                if skipping or len(piece) > schema.MAX_LINE:
                    skipping, tail = True, b""
                else:
                    tail = piece
                break
            tail = b""
            if skipping:
                skipping = False
                yield None
            else:
                yield piece if len(piece) <= schema.MAX_LINE else None


def read_header(fd: int, path: str) -> schema.Header:
    first = next(lines_forward(fd, min(os.fstat(fd).st_size, schema.MAX_LINE + 1)), None)
    try:
        return schema.parse_header(schema.decode_line(first if first is not None else b""))
    except schema.BadRecord as error:
        raise RepairError(f"{path} is not a pipdoctor journal (version {schema.VERSION}): line 1: {error}") from None


def check_journal(journal: JournalFile, size: int) -> tuple[schema.Header, list]:
    """Every record of the first size bytes checked against the schema before anything is changed: the
    header and notes (a record cut short at the end). RepairError names the first bad line."""
    path = journal.path
    lines = lines_forward(journal.fd, size)
    header = read_header(journal.fd, path)
    next(lines, None)
    cut = None  # (line number, reason) of a line cut short: only end/undone may follow it
    for number, line in enumerate(lines, start=2):
        if line is not None and not line.strip():
            continue
        try:
            obj = schema.decode_line(line)
        except schema.BadRecord as error:
            cut = cut or (number, str(error))
            continue
        try:
            rec = schema.parse_record(obj, header)
        except schema.BadRecord as error:
            raise RepairError(f"{path}: line {number} is not a valid journal record ({error}); nothing was "
                              "changed") from None
        if cut is not None and not isinstance(rec, _AFTER_A_CUT):
            raise RepairError(f"{path}: line {cut[0]} is not a journal record ({cut[1]}); nothing was changed")
        if isinstance(rec, schema.Chown) and not journal.store.root:
            raise RepairError(f"{path}: line {number} is a chown, which only journals in root's store hold: not "
                              "trusted; nothing was changed")
    notes = [f"line {cut[0]} was cut short (a kill -9 or a full disk) before its changes: nothing to undo "
             "there"] if cut else []
    return header, notes


def records_newest_first(journal: JournalFile, size: int, header: schema.Header) -> Iterator[schema.Record]:
    """The valid records of the first size bytes, newest first (check_journal vouched for them; the header
    and a line cut short are passed over)."""
    for line in lines_backward(journal.fd, size):
        if line is not None and not line.strip():
            continue
        try:
            yield schema.parse_record(schema.decode_line(line), header)
        except schema.BadRecord:
            continue


def append_undone(journal: JournalFile, size: int, restored: int, skipped: int) -> None:
    """The `undone` record, through the fd the journal was read from; on a line of its own even when the
    journal ends in a record cut short."""
    line = schema.undone_line(time.strftime("%Y-%m-%dT%H:%M:%S%z"), restored, skipped) + "\n"
    payload = line.encode("ascii")
    if size and os.pread(journal.fd, 1, size - 1) != b"\n":
        payload = b"\n" + payload
    while payload:
        payload = payload[os.write(journal.fd, payload):]


def lock_journal(journal: JournalFile) -> None:
    _lock(journal.fd, journal.path)


def latest_fix_journals(store: Store, tool: Optional[str] = None, notes: Optional[list] = None) -> list:
    """The journals of the newest fix, newest first, for `fix --undo` without a JOURNAL: one fix of pip's and
    uv's caches writes one journal per cache, named by the fix's one stamp (T.jsonl, T-2.jsonl), each with
    its tool. With `tool`, that installer's newest journal alone. A journal that cannot be read (a kill -9
    before its header was written) is passed over with a note. The newest is picked even when it was undone:
    undoing it again changes nothing (the note says so), where picking the one before it would revert an
    older fix the user did not ask about."""
    found = [(order, name, header) for order, name, header in _journals(store, notes)
             if tool is None or header.tool == tool]
    if not found:
        return []
    newest = max(found)
    if tool is not None:
        return [newest[1]]
    stem = _stamp_of(newest[1])
    group, tools = [], set()
    for order, name, header in sorted(found, reverse=True):
        if _stamp_of(name) == stem and header.tool not in tools:
            group.append(name)
            tools.add(header.tool)
    return group


def _stamp_of(name: str) -> str:
    """The fix's stamp in a journal name: T of T.jsonl and T-2.jsonl."""
    stem = name[:-len(".jsonl")]
    base, dash, suffix = stem.rpartition("-")
    return base if dash and suffix.isascii() and suffix.isdigit() else stem


def _journals(store: Store, notes: Optional[list]) -> list:
    """(order, name, header) of each journal in the store whose header can be read; the others are passed
    over with a note."""
    found = []
    for name in journal_names(store):
        try:
            journal = open_journal(store, name, writable=False)
            try:
                header = read_header(journal.fd, journal.path)
            finally:
                os.close(journal.fd)
        except RepairError as error:
            if notes is not None:
                notes.append(f"passed over {store.path}/{name}: {error}")
            continue
        found.append((_journal_order(name, header), name, header))
    return found


def _journal_order(name: str, header: schema.Header) -> tuple:
    """Newest first: the header's start, then the name's -N suffix as a number (T.jsonl, T-2.jsonl, ...,
    T-10.jsonl were created in that order within one second)."""
    stem = name[:-len(".jsonl")]
    _, dash, suffix = stem.rpartition("-")
    return header.started_ns, int(suffix) if dash and suffix.isascii() and suffix.isdigit() else 1
