"""Reads the files a user controls with that user's rights: regular files only, never blocking, bounded."""

from __future__ import annotations

import os
import select
import signal
import stat
import struct
import time
from typing import Optional, Sequence

from pipdoctor.records import record

#: The most pipdoctor reads of one file. pip's config files are a few hundred bytes; a bigger one is not
#: read at all (pip itself would read on without end from /dev/zero, or a FIFO's writer).
MAX_FILE_BYTES = 1 << 20
#: How long the child reading one account's files may take (a FIFO never blocks it: O_NONBLOCK; a hung
#: network filesystem under HOME can).
READ_TIMEOUT = 10.0

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
# One answer per file on the pipe: a kind byte and the payload's length, then the payload.
_HEADER = struct.Struct("<cI")
_MISSING, _DATA, _PROBLEM = b"M", b"D", b"P"
_MAX_PROBLEM_BYTES = 512


@record
class UserFile:
    """One file as pip would meet it, read safely."""

    path: str
    # None: pip would not see it (os.path.exists says no); b"": it exists and pip cannot read it (configparser
    # skips a file it cannot open, a directory included), or pipdoctor would not read it (see `problem`).
    data: Optional[bytes]
    problem: Optional[str] = None  # why pipdoctor did not read an existing file: not regular, too large


class ReaderFailed(Exception):
    """The child reading an account's files gave no complete answer (timeout, killed, could not drop ids)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: str) -> UserFile:
    """`path` with this process's rights, as pip's configuration.py meets it (os.path.exists, then open):
    a regular file of at most MAX_FILE_BYTES is read; anything else is never opened for reading data."""
    return _read_regular(path, MAX_FILE_BYTES, whole=True)


def read_head(path: str, size: int) -> bytes:
    """The first `size` bytes of a regular file (a script's #! line), b"" for anything else; never blocks."""
    return _read_regular(path, size, whole=False).data or b""


def _read_regular(path: str, limit: int, whole: bool) -> UserFile:
    """stat() first so a device is never opened (opening some has effects); O_NONBLOCK and fstat() after open
    catch a FIFO or device swapped in meanwhile (open(2): O_NONBLOCK makes a FIFO's open return at once).
    `whole`: the file must fit in `limit` bytes, else only its first `limit` bytes are wanted."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # os.path.exists is False for these too (a NUL byte included)
        return UserFile(path, None)
    if stat.S_ISDIR(st.st_mode):
        return UserFile(path, b"")
    if not stat.S_ISREG(st.st_mode):
        return UserFile(path, b"", f"it is {_kind(st.st_mode)}, not a regular file")
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return UserFile(path, b"")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return UserFile(path, b"", f"it is {_kind(st.st_mode)}, not a regular file")
        wanted = limit + 1 if whole else limit  # one byte more tells a file that does not fit
        chunks, size = [], 0
        while size < wanted:
            chunk = os.read(fd, min(1 << 16, wanted - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if whole and size > limit:
            return UserFile(path, b"", "it is larger than 1 MiB, more than any pip config file")
        return UserFile(path, b"".join(chunks))
    except OSError:
        return UserFile(path, b"")
    finally:
        os.close(fd)


def read_files(paths: Sequence[str]) -> tuple:
    """Each path read with this process's own rights (pipdoctor runs as the files' user)."""
    return tuple(read_bounded(path) for path in paths)


def read_files_as(uid: int, gid: int, groups: Sequence[int], paths: Sequence[str],
                  timeout: Optional[float] = None) -> tuple:
    """Each path as the user uid:gid (with `groups`) reads it: in one forked child per account (not one per
    file) that drops to those ids before it opens anything, so a symlink to a file only root may read stays
    unread (EACCES, which pip run as that user meets too). When this process already is that user, no child
    is needed."""
    if os.geteuid() == uid and os.getegid() == gid:
        return read_files(paths)
    if not paths:
        return ()
    reader, writer = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(reader)
        os.close(writer)
        raise
    if pid == 0:  # the child: never returns
        _child(reader, writer, uid, gid, groups, paths)
    os.close(writer)
    try:
        answer = _collect(reader, pid, len(paths), READ_TIMEOUT if timeout is None else timeout)
    finally:
        os.close(reader)
    return _parse(answer, paths)


def _child(reader: int, writer: int, uid: int, gid: int, groups: Sequence[int], paths: Sequence[str]) -> None:
    """Drop to the user (setgroups first: after setresuid it is no longer allowed), check that nothing of
    root is left, read, answer, exit without running the parent's cleanup (os._exit).

    The user's own processes can signal this child (its answer is then incomplete: ReaderFailed) but not
    trace it: the change of ids makes it non-dumpable (fs.suid_dumpable, proc(5)), and it holds no fd of
    root's but the pipe. Its answer is checked like any input (_parse)."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # Nothing root opened (a journal, the terminal) stays open in a process the user's ids run.
        os.close(reader)
        os.closerange(0, writer)
        os.closerange(writer + 1, os.sysconf("SC_OPEN_MAX"))
        os.setgroups(list(groups))
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
            os._exit(3)
        for path in paths:
            found = read_bounded(path)
            if found.data is None:
                kind, payload = _MISSING, b""
            elif found.problem is not None:
                kind, payload = _PROBLEM, found.problem.encode("utf-8")[:_MAX_PROBLEM_BYTES]
            else:
                kind, payload = _DATA, found.data
            _write_all(writer, _HEADER.pack(kind, len(payload)) + payload)
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the parent's code
        code = 2
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _collect(reader: int, pid: int, count: int, timeout: float) -> bytes:
    """The child's whole answer, at most what `count` files can take, within `timeout`; the child is killed
    and reaped on every way out."""
    limit = count * (_HEADER.size + MAX_FILE_BYTES)
    deadline = time.monotonic() + timeout
    chunks, size, status = [], 0, None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReaderFailed(f"reading them took longer than {timeout:g} s")
            ready, _, _ = select.select([reader], [], [], left)
            if not ready:
                continue
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise ReaderFailed("the reader answered more than it can have read")
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        why = (f"the reader was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else
               "the reader could not take the user's ids" if os.WEXITSTATUS(status) == 3 else
               f"the reader failed (exit status {os.WEXITSTATUS(status)})")
        raise ReaderFailed(why)
    return b"".join(chunks)


def _parse(answer: bytes, paths: Sequence[str]) -> tuple:
    """The child's answer, one UserFile per path, checked field by field (the child ran as the user)."""
    files, offset = [], 0
    for path in paths:
        if offset + _HEADER.size > len(answer):
            raise ReaderFailed("the reader's answer was cut short")
        kind, length = _HEADER.unpack_from(answer, offset)
        offset += _HEADER.size
        payload = answer[offset:offset + length]
        offset += length
        if len(payload) != length or length > MAX_FILE_BYTES or kind not in (_MISSING, _DATA, _PROBLEM):
            raise ReaderFailed("the reader's answer was malformed")
        if kind == _MISSING:
            files.append(UserFile(path, None))
        elif kind == _PROBLEM:
            files.append(UserFile(path, b"", payload.decode("utf-8", "replace")))
        else:
            files.append(UserFile(path, payload))
    if offset != len(answer):
        raise ReaderFailed("the reader's answer was malformed")
    return tuple(files)
