"""uv's lock files outside its cache ($TMPDIR/uv-*.lock, installers/uv/cache.py), as the account would meet them:
read with lstat only (never opened, never followed), judged in checker.py (PD303)."""

from __future__ import annotations

import os
import stat
from typing import Optional

from pipdoctor.host.accounts import Account, Owner, owner_of
from pipdoctor.host.permissions import permits, read_acl
from pipdoctor.installers.uv.cache import is_uv_temp_lock, temp_lock_dir
from pipdoctor.records import record

# A temp dir is everyone's: these bound what one look at it costs and reports (the rest is counted).
MAX_NAMES = 100_000
MAX_LOCKS = 20


@record
class TempLock:
    """One of uv's lock files in its temp dir that the account cannot use: uv opens it for writing (creating it
    when missing) and stops when that fails (uv-fs LockedFile::acquire: `failed to create file`)."""

    path: str
    owner: Owner
    mode: int
    kind: str  # "file", "symlink" (never followed by this check), "other"
    # "not writable"; "protected_regular"/"protected_symlinks": the kernel refuses the open in a sticky dir
    # (another's file, another's symlink); "not a file": a directory or FIFO under a lock's name
    why: str


@record
class TempLocks:
    """What the account meets in uv's temp dir: the locks it cannot use (a sample) and how many there are."""

    directory: str
    blocked: tuple  # TempLock, at most MAX_LOCKS
    blocked_count: int = 0
    scanned_all: bool = True  # False when the directory held more than MAX_NAMES names


def _sysctl(name: str) -> int:
    """fs.protected_regular / fs.protected_symlinks (Documentation/admin-guide/sysctl/fs.rst), 0 (the kernel's
    default: no protection) when it cannot be read."""
    try:
        with open(f"/proc/sys/fs/{name}", "rb") as f:
            return int(f.read(8).strip() or b"0")
    except (OSError, ValueError):
        return 0


def _refused_in_sticky(dir_st: os.stat_result, st: os.stat_result, uid: int, level: int) -> bool:
    """The kernel refuses uid this entry of a sticky dir: fs/namei.c may_create_in_sticky (a regular file opened
    with O_CREAT; level 2 counts group-writable dirs too) and may_follow_link (a symlink, level 1), when the
    entry is neither uid's nor the dir owner's."""
    if level == 0 or not dir_st.st_mode & stat.S_ISVTX:
        return False
    if not (dir_st.st_mode & stat.S_IWOTH or (level == 2 and dir_st.st_mode & stat.S_IWGRP)):
        return False
    return st.st_uid not in (dir_st.st_uid, uid)


def temp_lock_facts(account: Account) -> Optional[TempLocks]:
    """uv's lock files in the account's uv temp dir (TMPDIR as set, else /tmp) that are not its own and that it
    cannot open for writing, or None when that dir cannot be listed (a missing TMPDIR is PD303's already)."""
    directory = temp_lock_dir(account.environ)
    try:
        absolute = os.path.abspath(directory)
        dir_st = os.stat(absolute)
        entries = os.scandir(absolute)
    except (OSError, ValueError):
        return None
    regular, symlinks = _sysctl("protected_regular"), _sysctl("protected_symlinks")
    blocked, count, scanned_all = [], 0, True
    with entries:
        for index, entry in enumerate(entries):
            if index >= MAX_NAMES:
                scanned_all = False
                break
            if not is_uv_temp_lock(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_uid == account.uid:
                continue
            kind = "file" if stat.S_ISREG(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode) else "other"
            if kind == "file" and _refused_in_sticky(dir_st, st, account.uid, regular):
                why = "protected_regular"
            elif kind == "file":
                if account.is_self:
                    writable = os.access(entry.path, os.W_OK, follow_symlinks=False)
                else:
                    writable, _ = permits(st, read_acl(entry.path), account.uid, account.groups, 2)
                if writable:
                    continue
                why = "not writable"
            elif kind == "symlink":
                if not _refused_in_sticky(dir_st, st, account.uid, min(symlinks, 1)):
                    continue  # followed by uv; where it leads is not this check's to open
                why = "protected_symlinks"
            else:
                why = "not a file"  # a directory or FIFO under a lock's name: uv cannot lock it
            count += 1
            if len(blocked) < MAX_LOCKS:
                blocked.append(TempLock(entry.path, owner_of(st), stat.S_IMODE(st.st_mode), kind, why))
    blocked.sort(key=lambda lock: lock.path)
    return TempLocks(absolute, tuple(blocked), count, scanned_all)
