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
    kind: str  # "file", or "other": a directory or FIFO under a lock's name, which uv cannot lock
    why: str  # "not writable" or "not a file"


@record
class TempLocks:
    """What the account meets in uv's temp dir: the locks it cannot use (a sample) and how many there are."""

    directory: str
    blocked: tuple  # TempLock, at most MAX_LOCKS
    blocked_count: int = 0
    scanned_all: bool = True  # False when the directory held more than MAX_NAMES names


def temp_lock_facts(account: Account) -> Optional[TempLocks]:
    """uv's lock files in the account's uv temp dir (TMPDIR as set, else /tmp) that are another's and that the
    account cannot open for writing, or None when that dir cannot be listed (a missing TMPDIR is PD303's
    already). Not judged: a symlink under a lock's name (uv follows it; where it leads is not this check's to
    open), and the kernel's sticky-dir protections (fs.protected_regular refuses another user's file there
    whatever its mode, but most locks are one project's and nobody else's: reporting every other user's would
    bury the one that matters, a root-owned 0644 lock)."""
    directory = temp_lock_dir(account.environ)
    try:
        entries = os.scandir(os.path.abspath(directory))
    except (OSError, ValueError):
        return None
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
            if st.st_uid == account.uid or stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_ISREG(st.st_mode):
                if account.is_self:
                    writable = os.access(entry.path, os.W_OK, follow_symlinks=False)
                else:
                    writable, _ = permits(st, read_acl(entry.path), account.uid, account.groups, 2)
                if writable:
                    continue
                kind, why = "file", "not writable"
            else:
                kind, why = "other", "not a file"
            count += 1
            if len(blocked) < MAX_LOCKS:
                blocked.append(TempLock(entry.path, owner_of(st), stat.S_IMODE(st.st_mode), kind, why))
    blocked.sort(key=lambda lock: lock.path)
    return TempLocks(os.path.abspath(directory), tuple(blocked), count, scanned_all)
