"""Applies a fix plan to pip's cache: journal first (fsync), O_NOFOLLOW + dev/ino re-check, lchown/rename, undo."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from pipdoctor.ownership import mounts_below
from pipdoctor.records import record

JOURNAL_VERSION = 1
# Samples of skipped entries kept for the report; the count is always exact.
SAMPLES = 20
# pip's cache holds directories, regular files and (rarely) symlinks; anything else is not pip's and a
# chown could hand a device or a FIFO to the user.
_PIP_KINDS = (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK)
# linux/fcntl.h, linux/fs.h (renameat2(2)).
_AT_EMPTY_PATH = 0x1000
_AT_SYMLINK_NOFOLLOW = 0x100
_RENAME_NOREPLACE = 1
_O_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_O_ENTRY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# A mount point below the cache root, a bind mount of the same filesystem included (its st_dev is the cache's):
# what lies there is not the cache's, whatever its path says.
_MOUNT_POINT = "a mount point (not entered, not changed)"

_libc = ctypes.CDLL(None, use_errno=True)
_fchownat = _libc.fchownat
_fchownat.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_int)
_renameat2 = getattr(_libc, "renameat2", None)
_statx = getattr(_libc, "statx", None)
# linux/stat.h: struct statx is 256 bytes; stx_mask at 0, stx_btime (s64 sec, u32 nsec) at 80.
_STATX_BTIME = 0x800


class RepairError(Exception):
    """The repair refuses to start (unsafe cache root, no journal: nothing was changed), or stopped half-way
    (the journal could not be written: the message says what was done and how to undo it)."""


def _chown_fd(fd: int, uid: int, gid: int) -> None:
    """fchownat(fd, "", AT_EMPTY_PATH): the very inode an O_PATH fd holds, a symlink itself included."""
    if _fchownat(fd, b"", uid, gid, _AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _birth_ns(fd: int) -> Optional[int]:
    """The inode's birth time (statx(2) STATX_BTIME) in ns, or None where the filesystem or libc lacks it."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(256)
    if _statx(fd, b"", _AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW, _STATX_BTIME, buf) != 0:
        return None
    mask = int.from_bytes(buf.raw[0:4], "little")
    if not mask & _STATX_BTIME:
        return None
    return int.from_bytes(buf.raw[80:88], "little", signed=True) * 1_000_000_000 \
        + int.from_bytes(buf.raw[88:92], "little")


def _rename_noreplace(dir_fd: int, old: str, new: str) -> None:
    """renameat2(RENAME_NOREPLACE) inside one directory: never replaces an existing entry (rename(2) would
    replace an empty directory); falls back to a lexists check where the filesystem lacks the flag."""
    if _renameat2 is not None:
        if _renameat2(dir_fd, os.fsencode(old), dir_fd, os.fsencode(new), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), new)
    try:
        os.stat(new, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(old, new, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), new)


def open_dir_nofollow(path: str) -> int:
    """A directory fd for an absolute path, opened component by component from / with O_NOFOLLOW: a
    symlink anywhere on the way (swapped in after the check read it) fails with ELOOP/ENOTDIR."""
    if not os.path.isabs(path) or any(part in (".", "..") for part in path.split("/")):
        raise RepairError(f"{path} is not an absolute, normalized path")
    root = os.open("/", _O_DIR)
    try:
        return _open_below(root, path)
    finally:
        os.close(root)


def _open_below(base_fd: int, rel: str) -> int:
    """A directory fd for rel (a/b/c) below base_fd, O_NOFOLLOW at every step."""
    fd = os.dup(base_fd)
    try:
        for part in [p for p in rel.split("/") if p]:
            if part in (".", ".."):
                raise OSError(errno.EINVAL, "not a plain name", part)
            child = os.open(part, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


# --- where journals live ---------------------------------------------------------------------------------


def journal_dir(home: Optional[str], environ: Mapping[str, str]) -> Optional[str]:
    """$XDG_DATA_HOME/pipdoctor/journals, else ~/.local/share/pipdoctor/journals, of the cache's owner."""
    data = environ.get("XDG_DATA_HOME")
    if data and os.path.isabs(data):
        return os.path.join(data, "pipdoctor", "journals")
    if home and os.path.isabs(home):
        return os.path.join(home, ".local", "share", "pipdoctor", "journals")
    return None


def _trusted_dir(st: os.stat_result, owner_uid: int) -> bool:
    """A directory the journal may go through: the owner's, or root's and writable by nobody else."""
    if not stat.S_ISDIR(st.st_mode):
        return False
    return st.st_uid == owner_uid or (st.st_uid == 0 and not st.st_mode & 0o022)


def _make_journal_dir(path: str, owner_uid: int, owner_gid: int, home: Optional[str]) -> int:
    """Open (creating what is missing, owned by the cache's owner) the journal dir; no symlink is followed
    below the owner's HOME, and every existing part must be the owner's (or root's, not group-writable)."""
    if not os.path.isabs(path) or ".." in path.split("/"):
        raise RepairError(f"will not write a journal in {path}: not an absolute path without '..'; nothing was changed")
    inside = bool(home) and (path + "/").startswith(home.rstrip("/") + "/")
    if not inside and os.geteuid() == 0 and owner_uid != 0:
        # Outside the owner's HOME (XDG_DATA_HOME elsewhere) nothing says the parts on the way are safe to
        # create files in as root.
        raise RepairError(f"will not write a journal in {path} as root: it is outside {owner_uid}'s HOME {home}; "
                          "nothing was changed")
    # rest from the path as given, the start resolved: a HOME that is a symlink (/home/u -> /data/u) is
    # followed once, by the admin's choice, and nothing below it is.
    start = os.path.realpath(home) if inside else "/"
    rest = path[len(home.rstrip("/")) + 1:] if inside else path.lstrip("/")
    fd = open_dir_nofollow(start)
    as_root = os.geteuid() == 0
    try:
        for part in [p for p in rest.split("/") if p and p != "."]:
            try:
                child = os.open(part, _O_DIR, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o700, dir_fd=fd)
                child = os.open(part, _O_DIR, dir_fd=fd)
                if as_root and owner_uid != 0:
                    os.fchown(child, owner_uid, owner_gid)
            os.close(fd)
            fd = child
            if start != "/" and not _trusted_dir(os.fstat(fd), owner_uid):
                raise RepairError(f"will not write a journal through {path}: a part of it belongs to another "
                                  "user or is writable by others")
    except BaseException:
        os.close(fd)
        raise
    return fd


class Journal:
    """JSON lines, appended; each batch of `planned` records reaches the disk (fsync) before its changes."""

    def __init__(self, fd: int, path: str):
        self.fd = fd
        self.path = path
        self.seq = 0

    @classmethod
    def create(cls, directory: str, stamp: str, owner_uid: int, owner_gid: int, home: Optional[str],
               header: dict) -> "Journal":
        try:
            dir_fd = _make_journal_dir(directory, owner_uid, owner_gid, home)
        except OSError as error:
            raise RepairError(f"cannot create the journal dir {directory}: {error.strerror or error}; "
                              "nothing was changed") from None
        try:
            for suffix in [""] + [f"-{n}" for n in range(2, 100)]:
                name = f"{stamp}{suffix}.jsonl"
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
                    break
                except FileExistsError:
                    continue
            else:
                raise RepairError(f"cannot create a journal in {directory}: too many with the same timestamp")
            if os.geteuid() == 0 and owner_uid != 0:
                os.fchown(fd, owner_uid, owner_gid)
            journal = cls(fd, os.path.join(directory, name))
            journal.write([_dumps({"t": "header", "version": JOURNAL_VERSION, **header})])
            os.fsync(dir_fd)
            return journal
        except OSError as error:
            raise RepairError(f"cannot write a journal in {directory}: {error.strerror or error}; nothing "
                              "was changed") from None
        finally:
            os.close(dir_fd)

    def write(self, lines: list, sync: bool = True) -> None:
        data = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
        while data:
            data = data[os.write(self.fd, data):]
        if sync:
            os.fsync(self.fd)

    def planned_chowns(self, dev: int, uid: int, gid: int, entries: list) -> int:
        """One record for a chunk of chowns on device dev: entries are [rel path, ino, old uid, old gid, old
        mode]. One json.dumps per chunk (C), not one f-string per entry: the journal must not be the cost."""
        self.seq += 1
        self.write([_dumps({"t": "planned", "n": self.seq, "op": "chown", "dev": dev, "new_uid": uid,
                            "new_gid": gid, "entries": entries})])
        return self.seq

    def done(self, seq: int) -> None:
        """The changes of record seq were made (or skipped and reported), by the time `at_ns`: an entry born
        later is a new file on a reused inode, and undo leaves it alone. Not synced: undo can do without it."""
        self.write([_dumps({"t": "done", "n": seq, "at_ns": time.time_ns()})], sync=False)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _dumps(record: dict) -> str:
    # ensure_ascii: a name that is not UTF-8 (surrogate-escaped) is stored as \udcXX and read back exactly.
    return json.dumps(record, separators=(",", ":"))


# --- applying --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an apply (or an undo) did: counts, samples of what it skipped and why, and the journal."""

    journal: Optional[str] = None
    chowned: int = 0
    renamed: list = field(default_factory=list)  # (old path, new path)
    restored: int = 0  # undo: entries given back their old owner or name
    already: int = 0  # undo: entries already as they were
    skipped: list = field(default_factory=list)  # (path, reason), at most SAMPLES
    skipped_count: int = 0
    notes: list = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < SAMPLES:
            self.skipped.append((path, reason))

    def to_json(self) -> dict:
        from pipdoctor.ownership import display_path

        return {"journal": self.journal, "chowned": self.chowned,
                "renamed": [{"from": display_path(a), "to": display_path(b)} for a, b in self.renamed],
                "restored": self.restored,
                "already": self.already, "skipped_count": self.skipped_count,
                "skipped": [{"path": display_path(p), "reason": r} for p, r in self.skipped], "notes": self.notes}


def check_cache_root(root_fd: int, path: str, names_ok: Callable[[list], Optional[str]]) -> os.stat_result:
    """Re-check, on the opened fd, what the plan checked on the path: a directory that is no system directory
    (by device and inode, whatever path led here) and looks like pip's cache (names_ok returns the reason it
    does not, or None)."""
    from pipdoctor.remediation import SYSTEM_DIRS

    st = os.fstat(root_fd)
    if not stat.S_ISDIR(st.st_mode):
        raise RepairError(f"{path} is not a directory")
    for system in SYSTEM_DIRS:
        try:
            other = os.stat(system)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
            raise RepairError(f"refusing to act on {path}: it is {system}, a system directory, not a pip cache")
    reason = names_ok(os.listdir(root_fd))
    if reason:
        raise RepairError(reason)
    return st


def _rel(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _fd_budget() -> int:
    """Directories the walk may keep open for a pending chunk before it flushes early. pip's cache has about
    one directory per file, so with the usual soft limit of 1024 fds a chunk would be cut to a few hundred
    entries, an fsync each: raise the soft limit toward the hard one first (for this process only)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * _Chowner.CHUNK + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    return max(64, min(_Chowner.CHUNK, (soft - 256) // 2))


class _Chowner:
    """One pass giving a subtree to uid:gid, never following a symlink and never leaving the cache.

    Changes are queued and applied in chunks: the chunk's `planned` records go to the journal in one
    write and one fsync, then the chunk is applied, then one `done` record follows (an fsync per entry or
    per directory costs far more than the chown itself). A directory is changed after everything below it
    (post-order), so while its entries are changed it still belongs to root: in a directory only root can
    write (mode without group/other write, no ACL), no name can be swapped, and the listing's lstat is
    the re-check; fchownat(AT_SYMLINK_NOFOLLOW) then changes exactly that entry. Anywhere else (a
    directory the user or another account can write), each entry is opened O_PATH|O_NOFOLLOW, its dev/ino
    compared with the listing's, and changed through that fd, so a symlink or hard link swapped in after
    the listing is skipped and reported, never followed.
    """

    CHUNK = 8192  # entries per journal fsync

    def __init__(self, journal: Journal, root_dev: int, uid: int, gid: int, outcome: Outcome, root_path: str,
                 mounts: frozenset = frozenset()):
        self.journal = journal
        self.root_dev = root_dev
        # Inodes of the mount points below the root on its own device (bind mounts): never entered or changed.
        self.mount_inos = frozenset(ino for dev, ino in mounts if dev == root_dev)
        self.uid = uid
        self.gid = gid
        self.outcome = outcome
        self.root_path = root_path.rstrip("/")
        self.pending: list = []  # (dir fd, name, rel, stat, sealed)
        self.used: set = set()  # dir fds that pending changes need
        self.to_close: list = []  # dir fds the walk is done with, kept for the pending chunk

    def _full(self, rel: str) -> str:
        return f"{self.root_path}/{rel}" if rel else self.root_path

    def _eligible(self, rel: str, st: os.stat_result) -> bool:
        fmt = stat.S_IFMT(st.st_mode)
        if fmt not in _PIP_KINDS:
            self.outcome.skip(self._full(rel), "not a file, directory or symlink (pip makes no such entry)")
            return False
        if fmt != stat.S_IFDIR and st.st_nlink > 1:
            self.outcome.skip(self._full(rel), f"has {st.st_nlink} hard links: another name may lie outside "
                                               "the cache (not changed)")
            return False
        return True

    @staticmethod
    def _sealed(st: os.stat_result) -> bool:
        """Only root can add, remove or rename entries in this directory (we run as root): root's, and no
        write bit for group or others. An ACL cannot add a writer behind that: its mask is the group bits,
        and a mask without write makes every named entry's write ineffective (acl(5))."""
        return st.st_uid == 0 and not st.st_mode & 0o022

    # -- the queue -----------------------------------------------------------------------------------
    # The walk inlines _queue (a call per entry costs as much as the chown itself); the lists and sets are
    # only ever changed in place, so the walk's local names for them stay valid across a flush.

    def _queue(self, dir_fd: int, name: str, rel: str, st: os.stat_result, sealed: bool) -> None:
        self.pending.append((dir_fd, name, rel, st, sealed))
        self.used.add(dir_fd)
        if len(self.pending) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        """Journal the pending chunk (one write, one fsync), apply it, then close the directories only it
        still needed. (Applying it on a second thread was tried: the GIL and the kernel's locks made the
        pass slower and cost twice the CPU.)"""
        pending = self.pending[:]
        self.pending.clear()
        if pending:
            uid, gid, outcome = self.uid, self.gid, self.outcome
            seq = self.journal.planned_chowns(self.root_dev, uid, gid, [
                [rel, st.st_ino, st.st_uid, st.st_gid, st.st_mode] for _, _, rel, st, _ in pending])
            changed = 0
            chown, change = os.chown, self._change
            for dir_fd, name, rel, st, sealed in pending:
                if sealed:
                    try:
                        chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
                        changed += 1
                    except FileNotFoundError:
                        outcome.skip(self._full(rel), "vanished before it was changed")
                    except OSError as error:
                        outcome.skip(self._full(rel), f"chown failed: {error.strerror}")
                else:
                    reason = change(dir_fd, name, st)
                    if reason is None:
                        changed += 1
                    else:
                        outcome.skip(self._full(rel), reason)
            outcome.chowned += changed
            self.journal.done(seq)
        self.used.clear()
        for fd in self.to_close:
            os.close(fd)
        self.to_close.clear()

    def _change(self, dir_fd: int, name: str, st: os.stat_result) -> Optional[str]:
        """Change one entry of a directory others can write, through an O_PATH fd whose dev/ino/type match
        the listing's; the reason it was skipped, or None."""
        try:
            fd = os.open(name, _O_ENTRY, dir_fd=dir_fd)
        except FileNotFoundError:
            return "vanished before it was changed"
        except OSError as error:
            return f"cannot open it: {error.strerror}"
        try:
            now = os.fstat(fd)
            # The type too: an unlinked inode's number is often reused at once (ext4), by the very symlink
            # swapped in for it.
            if (now.st_ino, now.st_dev, stat.S_IFMT(now.st_mode)) != (st.st_ino, st.st_dev, stat.S_IFMT(st.st_mode)):
                kind = "a symlink" if stat.S_ISLNK(now.st_mode) else "another entry"
                return f"replaced by {kind} after it was read (not changed)"
            if not stat.S_ISDIR(now.st_mode) and now.st_nlink > 1:
                return f"has {now.st_nlink} hard links now (not changed)"
            _chown_fd(fd, self.uid, self.gid)
            return None
        except OSError as error:
            return f"chown failed: {error.strerror}"
        finally:
            os.close(fd)

    # -- the walk ------------------------------------------------------------------------------------

    def run(self, root_fd: int, rel: str) -> None:
        """Give rel (a path below the root; '' is the root itself) and everything below it to uid:gid."""
        outcome = self.outcome
        if not rel:
            st = os.fstat(root_fd)
            try:
                self._walk(os.dup(root_fd), "", st)
            finally:
                self.flush()
            if (st.st_uid, st.st_gid) != (self.uid, self.gid):
                self._change_root(root_fd, st)
            return
        parent, _, name = rel.rpartition("/")
        try:
            top_fd = _open_below(root_fd, parent)
        except OSError as error:
            outcome.skip(self._full(rel), f"cannot reach it: {error.strerror}")
            return
        try:
            try:
                st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
            except OSError as error:
                outcome.skip(self._full(rel), f"cannot read it: {error.strerror}")
                return
            if st.st_dev != self.root_dev:
                outcome.skip(self._full(rel), "on another filesystem (not entered)")
                return
            if st.st_ino in self.mount_inos:
                outcome.skip(self._full(rel), _MOUNT_POINT)
                return
            if stat.S_ISDIR(st.st_mode):
                try:
                    start_fd = os.open(name, _O_DIR, dir_fd=top_fd)
                except OSError as error:
                    outcome.skip(self._full(rel), f"cannot open it: {error.strerror}")
                    return
                now = os.fstat(start_fd)
                if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                    os.close(start_fd)
                    outcome.skip(self._full(rel), "replaced after it was read (not entered)")
                    return
                self._walk(start_fd, rel, st)
            if (st.st_uid != self.uid or st.st_gid != self.gid) and self._eligible(rel, st):
                self._queue(top_fd, name, rel, st, False)
        finally:
            self.flush()
            os.close(top_fd)

    def _change_root(self, root_fd: int, st: os.stat_result) -> None:
        seq = self.journal.planned_chowns(st.st_dev, self.uid, self.gid,
                                          [["", st.st_ino, st.st_uid, st.st_gid, st.st_mode]])
        try:
            os.fchown(root_fd, self.uid, self.gid)
            self.outcome.chowned += 1
        except OSError as error:
            self.outcome.skip(self.root_path, f"chown failed: {error.strerror}")
        self.journal.done(seq)

    def _walk(self, start_fd: int, start_rel: str, start_st: os.stat_result) -> None:
        """Everything below start_fd (which it closes); directories after their contents. Written for speed
        (local names, no calls per entry): it costs most of the pass, and `chown -R` is the yardstick."""
        uid, gid, root_dev, mount_inos = self.uid, self.gid, self.root_dev, self.mount_inos
        outcome = self.outcome
        S_IFMT, S_IFDIR, S_IFREG = 0o170000, stat.S_IFDIR, stat.S_IFREG
        eligible, flush, full = self._eligible, self.flush, self._full
        scandir, open_dir, close, fstat = os.scandir, os.open, os.close, os.fstat
        changes, used, to_close = self.pending, self.used, self.to_close
        chunk, budget = self.CHUNK, _fd_budget()
        # [dir fd, rel, name, its lstat, sealed, subdirs still to enter (None before the listing)]: depth-first,
        # so only the fds along one path (and those a pending chunk needs) are open.
        stack = [[start_fd, start_rel, start_rel.rpartition("/")[2], start_st, self._sealed(fstat(start_fd)), None]]
        try:
            while stack:
                top = stack[-1]
                fd, rel, _, _, sealed, pending = top
                if pending is None:
                    pending = top[5] = []
                    prefix = rel + "/" if rel else ""
                    for entry in scandir(fd):
                        name = entry.name
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except OSError:
                            outcome.skip(full(prefix + name), "vanished while listed")
                            continue
                        if st.st_dev != root_dev:
                            outcome.skip(full(prefix + name), "on another filesystem (not entered)")
                            continue
                        if st.st_ino in mount_inos:
                            outcome.skip(full(prefix + name), _MOUNT_POINT)
                            continue
                        fmt = st.st_mode & S_IFMT
                        if fmt == S_IFDIR:
                            pending.append((name, st))
                        elif (st.st_uid != uid or st.st_gid != gid) and (
                                fmt == S_IFREG and st.st_nlink == 1 or eligible(prefix + name, st)):
                            changes.append((fd, name, prefix + name, st, sealed))
                            used.add(fd)
                            if len(changes) >= chunk:
                                flush()
                if pending:
                    name, st = pending.pop()
                    child_rel = rel + "/" + name if rel else name
                    try:
                        child = open_dir(name, _O_DIR, dir_fd=fd)
                    except OSError as error:
                        outcome.skip(full(child_rel), f"cannot open it ({error.strerror}): not entered")
                        continue
                    if not sealed:  # in a sealed directory the listing's lstat is still the truth
                        now = fstat(child)
                        if now.st_ino != st.st_ino or now.st_dev != st.st_dev:
                            close(child)
                            outcome.skip(full(child_rel), "replaced after it was read (not entered)")
                            continue
                        st = now
                    # sealed: see _sealed (inlined)
                    stack.append([child, child_rel, name, st, st.st_uid == 0 and not st.st_mode & 0o022, None])
                    continue
                stack.pop()
                if stack:
                    parent = stack[-1]
                    st = top[3]
                    if st.st_uid != uid or st.st_gid != gid:
                        changes.append((parent[0], top[2], rel, st, parent[4]))
                        used.add(parent[0])
                        if len(changes) >= chunk:
                            flush()
                if fd in used:
                    to_close.append(fd)
                    if len(to_close) >= budget:
                        flush()
                else:
                    close(fd)
        finally:
            for item in stack:
                if item[0] in used:
                    to_close.append(item[0])
                else:
                    os.close(item[0])


@record
class Change:
    """One change the plan asks for, in apply's terms (paths relative to the cache root)."""

    kind: str  # "chown" or "rename"
    rel: str  # the entry, relative to the cache root ('' is the root itself, for chown only)
    uid: int = -1
    gid: int = -1
    new_name: str = ""  # rename: the new name, in the same directory


def apply_changes(root: str, changes: list, *, journal_dir_path: str, stamp: str, owner_uid: int,
                  owner_gid: int, owner_name: Optional[str], home: Optional[str],
                  names_ok: Callable[[list], Optional[str]], extra_header: Optional[dict] = None) -> Outcome:
    """Apply the changes inside the cache root, journal first. Refuses (RepairError, nothing changed) when
    the root cannot be opened without following a symlink or no longer looks like pip's cache."""
    try:
        root_fd = open_dir_nofollow(root)
    except OSError as error:
        raise RepairError(f"cannot open the cache {root} without following a symlink: {error.strerror}; "
                          "nothing was changed") from None
    try:
        root_st = check_cache_root(root_fd, root, names_ok)
        mounts = mounts_below(root)
        header = {"cache_root": root, "dev": root_st.st_dev, "ino": root_st.st_ino, "user": owner_name,
                  "uid": owner_uid, "gid": owner_gid, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "started_ns": time.time_ns(),
                  "pid": os.getpid(), "euid": os.geteuid(), **(extra_header or {})}
        journal = Journal.create(journal_dir_path, stamp, owner_uid, owner_gid, home, header)
        outcome = Outcome(journal=journal.path)
        try:
            for change in changes:
                if change.kind == "chown":
                    _Chowner(journal, root_st.st_dev, change.uid, change.gid, outcome, root,
                             mounts).run(root_fd, change.rel)
                elif change.kind == "rename":
                    _rename(root_fd, root, change, journal, outcome)
            journal.write([_dumps({"t": "end", "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})])
            journal.close()
        except OSError as error:
            # A full disk under the journal, most likely: what the journal holds was made (or never begun:
            # each record reaches the disk before its changes), and undo reverts exactly that.
            try:
                journal.close()
            except OSError:
                pass
            where = f" ({error.filename})" if error.filename else ""
            raise RepairError(f"stopped half-way: {error.strerror or error}{where}; {outcome.chowned} entries were "
                              f"given to uid {owner_uid} and {len(outcome.renamed)} moved aside so far; to put "
                              f"them back: {undo_command(journal.path, os.geteuid() == 0)}") from None
        return outcome
    finally:
        os.close(root_fd)


def undo_command(path: str, as_root: bool) -> str:
    """The command that undoes the fix journaled at path, as whoever made it (root: with sudo)."""
    from pipdoctor.remediation import shell_quote

    return f"{'sudo ' if as_root else ''}pipdoctor fix --undo {shell_quote(path)}"


def _entry(root_fd: int, rel: str) -> tuple[int, str]:
    parent, _, name = rel.rpartition("/")
    if not name or name in (".", ".."):
        raise OSError(errno.EINVAL, "not a plain name", rel)
    return _open_below(root_fd, parent), name


def _rename(root_fd: int, root: str, change: Change, journal: Journal, outcome: Outcome) -> None:
    full = f"{root.rstrip('/')}/{change.rel}"
    new = change.new_name
    if "/" in new or new in ("", ".", ".."):
        outcome.skip(full, f"bad new name {new!r}")
        return
    try:
        dir_fd, name = _entry(root_fd, change.rel)
    except OSError as error:
        outcome.skip(full, f"cannot reach it: {error.strerror}")
        return
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            outcome.skip(full, "does not exist (nothing to move)")
            return
        parent = change.rel.rpartition("/")[0]
        try:
            fd = os.open(name, _O_ENTRY, dir_fd=dir_fd)
        except OSError as error:
            outcome.skip(full, f"cannot open it: {error.strerror}")
            return
        try:
            now = os.fstat(fd)
        finally:
            os.close(fd)
        if (now.st_dev, now.st_ino, stat.S_IFMT(now.st_mode)) != (st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)):
            outcome.skip(full, "replaced after it was read (not moved)")
            return
        # Journaled after the re-check (a record for a rename never tried would make undo report a false
        # skip), still before the rename.
        journal.seq += 1
        seq = journal.seq
        journal.write([_dumps({"t": "planned", "n": seq, "op": "rename", "parent": parent, "old": name,
                               "new": new, "dev": st.st_dev, "ino": st.st_ino, "uid": st.st_uid,
                               "gid": st.st_gid, "mode": st.st_mode})])
        try:
            _rename_noreplace(dir_fd, name, new)
        except OSError as error:
            outcome.skip(full, f"cannot move it aside: {error.strerror}")
            return
        journal.done(seq)
        outcome.renamed.append((full, f"{os.path.dirname(full)}/{new}"))
    finally:
        os.close(dir_fd)


# --- undo ------------------------------------------------------------------------------------------------


def _open_journal(path: str, writable: bool) -> int:
    """The journal, opened once: never through a symlink at its name, never a FIFO or device (O_NONBLOCK: a
    FIFO would hang the open), and not a name with other hard links (the journal dir is the user's: as root,
    a link there to /etc/sudoers must not be read, let alone appended to)."""
    flags = (os.O_RDWR | os.O_APPEND if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY \
        | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise RepairError(f"cannot {'open' if writable else 'read'} the journal {path}: {error.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"a file with {st.st_nlink} hard links"
        raise RepairError(f"{path} is {what}: not a journal pipdoctor wrote")
    return fd


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


# A record a kill -9 or a full disk cut short was never applied (each `planned` record is fsynced before its
# changes are made): only these may follow it.
_AFTER_A_CUT = ("end", "undone")


def _parse_journal(data: bytes, path: str, file_uid: int) -> tuple[dict, list]:
    records = []
    cut = None  # the 1-based line number of a record cut short
    for index, line in enumerate(data.split(b"\n")):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            cut = cut or index + 1
            continue
        if cut is not None and parsed.get("t") not in _AFTER_A_CUT:
            raise RepairError(f"{path}: line {cut} is not a journal record")
        records.append(parsed)
    if not records or records[0].get("t") != "header" or records[0].get("version") != JOURNAL_VERSION:
        raise RepairError(f"{path} is not a pipdoctor journal (version {JOURNAL_VERSION})")
    header = dict(records[0])
    header["_file_uid"] = file_uid
    return header, records[1:]


def read_journal(path: str) -> tuple[dict, list]:
    """The header and the records; a record cut short by a kill -9 (or a full disk) is ignored."""
    fd = _open_journal(path, writable=False)
    try:
        return _parse_journal(_read_all(fd), path, os.fstat(fd).st_uid)
    finally:
        os.close(fd)


def _append_undone(fd: int, data: bytes, outcome: "Outcome") -> None:
    """The `undone` record, through the fd the journal was read from; on a line of its own even when the
    journal ends in a record cut short."""
    line = _dumps({"t": "undone", "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "restored": outcome.restored,
                   "skipped": outcome.skipped_count}) + "\n"
    payload = (b"" if not data or data.endswith(b"\n") else b"\n") + line.encode()
    while payload:
        payload = payload[os.write(fd, payload):]


class _DirChain:
    """Directory fds along the last path opened below the root: records come depth-first, so most
    lookups reuse all but the last component."""

    def __init__(self, root_fd: int, mounts: frozenset = frozenset()):
        self.root_fd = root_fd
        self.mounts = mounts
        self.parts: list = []
        self.fds: list = []

    def open(self, rel: str) -> int:
        parts = [p for p in rel.split("/") if p]
        keep = 0
        while keep < min(len(parts), len(self.parts)) and parts[keep] == self.parts[keep]:
            keep += 1
        for fd in self.fds[keep:]:
            os.close(fd)
        del self.fds[keep:], self.parts[keep:]
        for part in parts[keep:]:
            if part in (".", ".."):
                raise OSError(errno.EINVAL, "not a plain name", rel)
            base = self.fds[-1] if self.fds else self.root_fd
            fd = os.open(part, _O_DIR, dir_fd=base)
            if self.mounts:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) in self.mounts:
                    os.close(fd)
                    raise OSError(errno.EXDEV, "a mount point on the way (not entered)", rel)
            self.fds.append(fd)
            self.parts.append(part)
        return self.fds[-1] if self.fds else self.root_fd

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds, self.parts = [], []


def undo(path: str, names_ok: Callable[[list], Optional[str]],
         root_ok: Callable[[str], Optional[str]]) -> Outcome:
    """Put back the old owners and names the journal records, newest first. Each entry is re-checked (dev/ino,
    type, that it still has the owner or name the fix gave it and was not born after the fix) before it is
    reverted, so running it twice, or after a fix killed at any point, is safe. The journal is opened once
    and the `undone` record appended through that fd."""
    try:
        journal_fd, writable = _open_journal(path, writable=True), True
    except RepairError:
        journal_fd, writable = _open_journal(path, writable=False), False  # a read-only journal: undo, unmarked
    try:
        data = _read_all(journal_fd)
        header, records = _parse_journal(data, path, os.fstat(journal_fd).st_uid)
        outcome = _undo_records(path, header, records, names_ok, root_ok)
        undone = [r.get("at") for r in records if r.get("t") == "undone"]
        if undone:
            outcome.notes.append(f"this journal was undone before ({undone[-1]}): only what is still as the fix "
                                 "left it was put back")
        try:
            if not writable:
                raise OSError(errno.EBADF, "the journal could not be opened for writing")
            _append_undone(journal_fd, data, outcome)
        except OSError as error:
            outcome.notes.append(f"could not mark the journal as undone: {error.strerror}")
        return outcome
    finally:
        os.close(journal_fd)


def _undo_records(path: str, header: dict, records: list, names_ok: Callable[[list], Optional[str]],
                  root_ok: Callable[[str], Optional[str]]) -> Outcome:
    root = header.get("cache_root")
    if not isinstance(root, str):
        raise RepairError(f"{path}: no cache root in its header")
    reason = root_ok(root)
    if reason:
        raise RepairError(reason)
    try:
        root_fd = open_dir_nofollow(root)
    except OSError as error:
        raise RepairError(f"cannot open the cache {root} without following a symlink: {error.strerror}") from None
    outcome = Outcome(journal=path)
    chain = _DirChain(root_fd, mounts_below(root))
    try:
        root_st = check_cache_root(root_fd, root, names_ok)
        if (root_st.st_dev, root_st.st_ino) != (header.get("dev"), header.get("ino")):
            raise RepairError(f"{root} is not the directory the journal was written for (device/inode differ); "
                              "nothing was changed")
        if os.geteuid() == 0 and header["_file_uid"] not in (0, root_st.st_uid):
            raise RepairError(f"{path} belongs to uid {header['_file_uid']}, neither root nor the cache's owner "
                              f"(uid {root_st.st_uid}): not trusted")
        planned = [r for r in records if r.get("t") == "planned"]
        chowns = [entry for r in planned if r.get("op") == "chown" for entry in _chown_entries(r, path)]
        if chowns and os.geteuid() != 0 and any(entry["uid"] != os.geteuid() for entry in chowns):
            raise RepairError("this journal gave files of another user to the cache's owner: undo needs root "
                              f"({undo_command(path, as_root=True)})")
        bounds = _done_times(records)
        for record in reversed(planned):
            op = record.get("op")
            if op == "chown":
                bound = bounds.get(record.get("n"))
                for entry in reversed(_chown_entries(record, path)):
                    _undo_chown(chain, root, root_st.st_dev, entry, outcome, bound)
            elif op == "rename":
                _undo_rename(chain, root, record, outcome)
    finally:
        chain.close()
        os.close(root_fd)
    return outcome


def _done_times(records: list) -> dict:
    """Record number -> the time (ns) by which its changes were made: its `done` record's, else (a `done` lost
    to a kill -9) that of the first later record that has one. None for the record a kill -9 cut off (its
    entries get the other checks only) and for journals written before `at_ns` was recorded."""
    bounds: dict = {}
    waiting: list = []
    for rec in records:
        kind = rec.get("t")
        if kind == "planned":
            waiting.append(rec.get("n"))
        at = rec.get("at_ns")
        if kind == "done" and isinstance(at, int):
            if rec.get("n") in waiting:
                waiting.remove(rec.get("n"))
                bounds[rec.get("n")] = at
            for seq in waiting:  # applied before this one was
                bounds[seq] = at
            waiting.clear()
    return bounds


def _chown_entries(record: dict, path: str) -> list:
    """A chunk record's entries as one dict each (path, dev, ino, old uid/gid/mode, new uid/gid)."""
    shared = {"dev": record.get("dev"), "new_uid": record.get("new_uid"), "new_gid": record.get("new_gid")}
    entries = []
    for entry in record.get("entries", ()):
        if not (isinstance(entry, list) and len(entry) == 5 and isinstance(entry[0], str)
                and all(isinstance(n, int) for n in entry[1:])):
            raise RepairError(f"{path}: a chown record with a malformed entry ({str(entry)[:80]})")
        rel, ino, uid, gid, mode = entry
        entries.append({"path": rel, "ino": ino, "uid": uid, "gid": gid, "mode": mode, **shared})
    return entries


def _undo_chown(chain: _DirChain, root: str, root_dev: int, record: dict, outcome: Outcome,
                bound: Optional[int]) -> None:
    """Give one entry its old owner back. Its mode is left as it is: lchown changes no mode bit of a directory,
    and on a file only clears setuid/setgid, which undo must not set (the journal is the user's file: a forged
    one must not make a setuid-root program); any other mode it has now is someone's later chmod."""
    rel = record.get("path", "")
    full = f"{root.rstrip('/')}/{rel}" if rel else root
    if record.get("dev") != root_dev:
        outcome.skip(full, "recorded on another filesystem (not touched)")
        return
    try:
        if rel:
            parent, _, name = rel.rpartition("/")
            fd = os.open(name, _O_ENTRY, dir_fd=chain.open(parent))
        else:
            fd = os.dup(chain.root_fd)
    except OSError as error:
        outcome.skip(full, f"cannot reach it: {error.strerror}")
        return
    try:
        st = os.fstat(fd)
        mode = record.get("mode")
        if (st.st_dev, st.st_ino) != (record.get("dev"), record.get("ino")) or not isinstance(mode, int) \
                or stat.S_IFMT(mode) != stat.S_IFMT(st.st_mode):
            outcome.skip(full, "not the entry the journal recorded (device, inode or type differ): not touched")
            return
        if rel and (st.st_dev, st.st_ino) in chain.mounts:
            outcome.skip(full, _MOUNT_POINT)
            return
        old = (record.get("uid"), record.get("gid"))
        if (st.st_uid, st.st_gid) == old:
            outcome.already += 1
            return
        if (st.st_uid, st.st_gid) != (record.get("new_uid"), record.get("new_gid")):
            outcome.skip(full, f"its owner changed since the fix ({st.st_uid}:{st.st_gid}): not touched")
            return
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            outcome.skip(full, "it has hard links now: not touched")
            return
        if bound is not None:
            # ext4 hands a freed inode number out again at once: the user's new file at the same path can
            # have the very device, inode, type and owner the journal recorded. Its birth time gives it away;
            # without one, its ctime (which a later chmod, or a directory's new entry, moves too).
            born = _birth_ns(fd)
            if (born if born is not None else st.st_ctime_ns) > bound:
                outcome.skip(full, "re-created since the fix (its birth time is later): not touched" if born
                             is not None else "changed or re-created since the fix (its ctime is later): not touched")
                return
        try:
            _chown_fd(fd, int(old[0]), int(old[1]))
        except OSError as error:
            outcome.skip(full, f"chown failed: {error.strerror}")
            return
        outcome.restored += 1
    finally:
        os.close(fd)


def _undo_rename(chain: _DirChain, root: str, record: dict, outcome: Outcome) -> None:
    parent, old, new = record.get("parent", ""), record.get("old", ""), record.get("new", "")
    full_old = f"{root.rstrip('/')}/{_rel(parent, old)}"
    if any("/" in n or n in ("", ".", "..") for n in (old, new)):
        outcome.skip(full_old, "bad name in the journal")
        return
    try:
        dir_fd = chain.open(parent)
    except OSError as error:
        outcome.skip(full_old, f"cannot reach its directory: {error.strerror}")
        return
    ids = (record.get("dev"), record.get("ino"))
    try:
        st = os.stat(new, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is None or (st.st_dev, st.st_ino) != ids:
        try:
            now = os.stat(old, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == ids:
            outcome.already += 1
        else:
            outcome.skip(full_old, f"the moved copy {new} is gone or was replaced: not touched")
        return
    try:
        _rename_noreplace(dir_fd, new, old)
    except FileExistsError:
        outcome.skip(full_old, f"exists again (pip made a new one since the fix); the old one stays at {new}")
        return
    except OSError as error:
        outcome.skip(full_old, f"cannot move {new} back: {error.strerror}")
        return
    outcome.restored += 1


def _journal_order(name: str, header: dict) -> tuple:
    """Newest first: the header's start (started_ns; whole seconds in older journals), then the name's -N
    suffix as a number (T.jsonl, T-2.jsonl, ..., T-10.jsonl were created in that order within one second)."""
    started = header.get("started_ns")
    if not isinstance(started, int):
        import datetime

        try:
            started = int(datetime.datetime.strptime(str(header.get("started")), "%Y-%m-%dT%H:%M:%S%z")
                          .timestamp()) * 1_000_000_000
        except ValueError:
            started = 0
    stem = name[:-len(".jsonl")]
    _, dash, suffix = stem.rpartition("-")
    return started, int(suffix) if dash and suffix.isdigit() else 1


def latest_journal(directory: Optional[str], notes: Optional[list] = None) -> Optional[str]:
    """The newest journal in directory, for `fix --undo` without a JOURNAL; one that cannot be read (a kill
    -9 before its header was written) is passed over with a note. The newest is picked even when it was
    undone: undoing it again changes nothing (the note says so), where picking the one before it would
    revert an older fix the user did not ask about."""
    if not directory:
        return None
    try:
        names = [n for n in os.listdir(directory) if n.endswith(".jsonl")]
    except OSError:
        return None
    found = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = _open_journal(path, writable=False)
            try:
                header, _ = _parse_journal(os.pread(fd, 1 << 16, 0).split(b"\n", 1)[0], path, 0)
            finally:
                os.close(fd)
        except RepairError as error:
            if notes is not None:
                notes.append(f"passed over {path}: {error}")
            continue
        found.append((_journal_order(name, header), path))
    return max(found)[1] if found else None


# --- a whole plan ----------------------------------------------------------------------------------------


def _inside(root: str, path: str) -> str:
    """path relative to root; it must lie strictly inside (no .., no root itself unless equal)."""
    root = root.rstrip("/")
    if path == root:
        return ""
    if not path.startswith(root + "/"):
        raise RepairError(f"{path} is not inside the cache {root}")
    rel = path[len(root) + 1:]
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise RepairError(f"{path} is not a plain path inside the cache")
    return rel


def apply_plan(plan, *, home: Optional[str], environ: Mapping[str, str],
               pip_command: Optional[list] = None) -> Outcome:
    """Carry out the plan's changes: the filesystem ones through the journal, then pip's own commands
    (`pip cache remove`, `pip config --user set`) with the user's pip."""
    from pipdoctor.remediation import cache_names_problem

    changes = []
    for step in plan.steps:
        if step.kind == "chown":
            changes += [Change("chown", _inside(plan.cache_root, t), step.uid, step.gid) for t in step.targets]
        elif step.kind == "rename":
            for target, new in zip(step.targets, step.new_names):
                if os.path.dirname(new) != os.path.dirname(target):
                    raise RepairError(f"{new} is not in the same directory as {target}")
                changes.append(Change("rename", _inside(plan.cache_root, target), new_name=os.path.basename(new)))
    outcome = Outcome()
    if changes:
        directory = journal_dir(home, environ)
        if directory is None:
            raise RepairError("no place for the journal (HOME and XDG_DATA_HOME are unset); nothing was changed")
        outcome = apply_changes(plan.cache_root, changes, journal_dir_path=directory, stamp=plan.stamp,
                                owner_uid=plan.uid, owner_gid=plan.gid, owner_name=plan.user, home=home,
                                names_ok=cache_names_problem,
                                extra_header={"steps": [s.kind for s in plan.steps if s.changes_files]})
    for step in plan.steps:
        argv = step.pip_argv  # what the plan showed, run with the user's pip
        if not argv:
            continue
        if pip_command is None:
            outcome.skip(step.command, "no pip to run it with")
            continue
        import subprocess

        proc = subprocess.run([*pip_command, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=dict(environ))
        if proc.returncode != 0:
            outcome.skip(step.command, "pip exited with status "
                         f"{proc.returncode}: {proc.stdout.decode('utf-8', 'replace').strip()[-300:]}")
        else:
            outcome.notes.append(f"ran: {step.command}")
    return outcome
