"""Undo: the records of one trusted journal, newest first, each entry re-identified and re-checked first.

Root undoes only journals of root's store (store.py); a user undoes their own with their own rights. Every
record was validated against the schema before anything is done (journal.check_journal), so a name is plain,
an owner is in range and a chown only ever gave entries to the header's cache owner.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Callable, Optional

from pipdoctor.host.mounts import mounts_below
from pipdoctor.repair import schema
from pipdoctor.repair.fs import (MOUNT_POINT, O_DIR, O_ENTRY, RepairError, birth_ns, check_cache_root, chown_fd,
                                 open_dir_nofollow, rename_noreplace)
from pipdoctor.repair.journal import append_undone, check_journal, lock_journal, records_newest_first
from pipdoctor.repair.outcome import Outcome
from pipdoctor.repair.store import JournalFile


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
            base = self.fds[-1] if self.fds else self.root_fd
            fd = os.open(part, O_DIR, dir_fd=base)
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


def undo(journal: JournalFile, names_ok_for: Callable[[str], Callable[[list], Optional[str]]],
         root_ok: Callable[[str], Optional[str]]) -> Outcome:
    """Put back the old owners and names the journal records, newest first. The root must still look like the
    cache of the installer the journal names (names_ok_for(tool)). Each entry is re-checked (dev/ino,
    type, that it still has the owner or name the fix gave it and was not born after its chunk began) before
    it is reverted, so running it twice, or after a fix killed at any point, is safe. The journal (already
    open, and closed here) is locked, read and marked `undone` through one fd."""
    try:
        lock_journal(journal)
        size = os.fstat(journal.fd).st_size
        header, notes = check_journal(journal, size)
        outcome = _undo_records(journal, size, header, names_ok_for(header.tool), root_ok)
        outcome.notes += notes
        try:
            append_undone(journal, size, outcome.restored, outcome.skipped_count)
        except OSError as error:
            outcome.notes.append(f"could not mark the journal as undone: {error.strerror}")
        return outcome
    finally:
        os.close(journal.fd)


def _undo_records(journal: JournalFile, size: int, header: schema.Header, names_ok: Callable[[list], Optional[str]],
                  root_ok: Callable[[str], Optional[str]]) -> Outcome:
    root = header.cache_root
    reason = root_ok(root)
    if reason:
        raise RepairError(reason)
    try:
        root_fd = open_dir_nofollow(root)
    except OSError as error:
        raise RepairError(f"cannot open the cache {root} without following a symlink: {error.strerror}") from None
    outcome = Outcome(journal=journal.path)
    chain = _DirChain(root_fd, mounts_below(root))
    try:
        root_st = check_cache_root(root_fd, root, names_ok)
        if (root_st.st_dev, root_st.st_ino) != (header.dev, header.ino):
            raise RepairError(f"{root} is not the directory the journal was written for (device/inode differ); "
                              "nothing was changed")
        done_at = None  # the `done` time of the nearest record after this one: its changes were made by then
        for rec in records_newest_first(journal, size, header):
            if isinstance(rec, schema.Done):
                done_at = rec.at_ns
            elif isinstance(rec, schema.Chown):
                for entry in reversed(rec.entries):
                    _undo_chown(chain, header, rec, entry, outcome, done_at)
            elif isinstance(rec, schema.Rename):
                _undo_rename(chain, root, rec, outcome)
            elif isinstance(rec, schema.Undone) and not any("undone before" in n for n in outcome.notes):
                outcome.notes.append(f"this journal was undone before ({rec.at}): only what is still as the fix "
                                     "left it was put back")
    finally:
        chain.close()
        os.close(root_fd)
    return outcome


def _undo_chown(chain: _DirChain, header: schema.Header, rec: schema.Chown, entry: schema.Entry,
                outcome: Outcome, done_at: Optional[int]) -> None:
    """Give one entry its old owner back. Its mode is left as it is: lchown changes no mode bit of a directory,
    and on a file only clears setuid/setgid, which undo must not set; any other mode it has now is someone's
    later chmod."""
    root, rel = header.cache_root, entry.rel
    full = f"{root}/{rel}" if rel else root
    try:
        if rel:
            parent, _, name = rel.rpartition("/")
            fd = os.open(name, O_ENTRY, dir_fd=chain.open(parent))
        else:
            fd = os.dup(chain.root_fd)
    except OSError as error:
        outcome.skip(full, f"cannot reach it: {error.strerror}")
        return
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (rec.dev, entry.ino) or stat.S_IFMT(entry.mode) != stat.S_IFMT(st.st_mode):
            outcome.skip(full, "not the entry the journal recorded (device, inode or type differ): not touched")
            return
        if rel and (st.st_dev, st.st_ino) in chain.mounts:
            outcome.skip(full, MOUNT_POINT)
            return
        if (st.st_uid, st.st_gid) == (entry.uid, entry.gid):
            outcome.already += 1
            return
        if (st.st_uid, st.st_gid) != (header.uid, header.gid):
            outcome.skip(full, f"its owner changed since the fix ({st.st_uid}:{st.st_gid}): not touched")
            return
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            outcome.skip(full, "it has hard links now: not touched")
            return
        # ext4 hands a freed inode number out again at once: the user's new file at the same path can have the
        # very device, inode, type and owner the journal recorded. Its birth time gives it away against the
        # chunk's start (synced before its first change, so a kill -9 at any point leaves it); without a birth
        # time, its ctime against the chunk's `done` (a later chmod, or a directory's new entry, moves it too).
        # At or after: the start was read from the clock births are stamped with, so a file made in the same
        # tick as the chunk's start was made after it (an original born in that tick is skipped: reported).
        born = birth_ns(fd)
        if born is not None and born >= rec.started_ns:
            outcome.skip(full, "re-created since the fix (its birth time is later): not touched")
            return
        if born is None and done_at is not None and st.st_ctime_ns > done_at:
            outcome.skip(full, "changed or re-created since the fix (its ctime is later): not touched")
            return
        try:
            chown_fd(fd, entry.uid, entry.gid)
        except OSError as error:
            outcome.skip(full, f"chown failed: {error.strerror}")
            return
        outcome.restored += 1
    finally:
        os.close(fd)


def _undo_rename(chain: _DirChain, root: str, rec: schema.Rename, outcome: Outcome) -> None:
    full_old = f"{root}/{rec.parent}/{rec.old}" if rec.parent else f"{root}/{rec.old}"
    try:
        dir_fd = chain.open(rec.parent)
    except OSError as error:
        outcome.skip(full_old, f"cannot reach its directory: {error.strerror}")
        return
    ids = (rec.dev, rec.ino)
    try:
        st = os.stat(rec.new, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is None or (st.st_dev, st.st_ino) != ids:
        try:
            now = os.stat(rec.old, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == ids:
            outcome.already += 1
        else:
            outcome.skip(full_old, f"the moved copy {rec.new} is gone or was replaced: not touched")
        return
    try:
        rename_noreplace(dir_fd, rec.new, rec.old)
    except FileExistsError:
        outcome.skip(full_old, f"exists again (pip made a new one since the fix); the old one stays at {rec.new}")
        return
    except OSError as error:
        outcome.skip(full_old, f"cannot move {rec.new} back: {error.strerror}")
        return
    outcome.restored += 1
