"""One directory an installer will write, or the nearest existing ancestor it would create it in, as the user sees
it: reached from / component by component, with every cause a write can fail for."""

from __future__ import annotations

import os
import stat
from typing import Optional

from pipdoctor.host.accounts import Account, Owner, owner_of
from pipdoctor.host.mounts import MountFacts
from pipdoctor.host.permissions import FS_APPEND_FL, FS_IMMUTABLE_FL, inode_flags, permits, read_acl
from pipdoctor.records import record


def nearest_existing(path: str) -> tuple[str, os.stat_result]:
    """The path itself if it exists, else its closest existing ancestor (lstat: a link is not followed)."""
    current = os.path.abspath(path)
    while True:
        try:
            return current, os.lstat(current)
        except OSError:
            parent = os.path.dirname(current)
            if parent == current:
                raise
            current = parent


@record
class DirFacts:
    """A directory pip writes (the cache root, wheels/, http-v2/...) or, if it does not exist yet, the
    nearest existing ancestor pip would have to create it in, as the user sees it."""

    path: str  # the directory pip writes
    existing: Optional[str]  # the deepest path of it the user can reach (path itself when it exists)
    kind: str  # of `existing`: "dir", "file", "symlink", "other", "missing"
    owner: Optional[Owner]
    mode: Optional[int]
    writable: bool  # the user can create entries in `existing` (w and x), all causes included
    mode_writable: bool  # what owner and mode bits alone say
    acl: tuple  # the ACL's entries as getfacl prints them, when it has one
    acl_denies: Optional[str]  # the ACL entry that refuses the write, when the ACL is the cause
    immutable: bool
    append_only: bool
    blocked_at: Optional[str]  # an ancestor the user cannot traverse (x), when one stops the path


def lstat_or_error(path: str):
    """(lstat of path, None), or (None, the OSError): no link followed."""
    try:
        return os.lstat(path), None
    except OSError as error:
        return None, error


def _kind(st) -> str:
    if st is None:
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "other"


def _reach(path: str, account: Account) -> tuple[Optional[str], Optional[os.stat_result], Optional[str]]:
    """Walk down from / to `path` as the user would: the deepest existing prefix, its lstat, and the
    ancestor the user cannot traverse (no x) if one stops the way."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    st, _ = lstat_or_error(current)
    if st is None:
        return None, None, None
    for part in parts:
        acl = read_acl(current) if not account.is_self else None
        if account.is_self:
            traversable = os.access(current, os.X_OK)
        else:
            traversable, _ = permits(os.stat(current), acl, account.uid, account.groups, 1)
        if not traversable:
            return current, st, current
        child = os.path.join(current, part)
        child_st, error = lstat_or_error(child)
        if child_st is None:
            return current, st, None
        if stat.S_ISLNK(child_st.st_mode):
            # A link inside the path is followed by the kernel; pip resolved the path with realpath first,
            # so only a dangling or looping link is left here, and pip stops at it (os.path.lexists).
            return child, child_st, None
        current, st = child, child_st
    return current, st, None


def dir_facts(path: str, account: Account, mount: Optional[MountFacts] = None) -> DirFacts:
    existing, st, blocked_at = _reach(path, account)
    kind = _kind(st)
    owner = owner_of(st) if st is not None else None
    mode = stat.S_IMODE(st.st_mode) if st is not None else None
    acl_entries: tuple = ()
    acl_denies = None
    immutable = append_only = False
    mode_writable = writable = False
    if st is not None and kind == "dir":
        flags = inode_flags(existing)
        if flags is not None:
            immutable, append_only = bool(flags & FS_IMMUTABLE_FL), bool(flags & FS_APPEND_FL)
        acl = read_acl(existing)
        if acl:
            acl_entries = tuple(e.text() for e in acl)
        mode_writable, _ = permits(st, None, account.uid, account.groups, 3)
        if account.is_self:
            writable = os.access(existing, os.W_OK | os.X_OK)
            if acl and not writable:
                _, acl_denies = permits(st, acl, account.uid, account.groups, 3)
        else:
            allowed, acl_denies = permits(st, acl, account.uid, account.groups, 3)
            read_only = mount.read_only if mount is not None else False
            writable = allowed and not immutable and not read_only
        if acl_denies is not None and mode_writable is False and not acl:
            acl_denies = None
    elif st is not None and kind == "file":
        # pip's own test on a non-directory is access(W_OK) on it (then makedirs fails): keep that answer
        mode_writable, _ = permits(st, read_acl(existing), account.uid, account.groups, 2)
    return DirFacts(path, existing, kind, owner, mode, writable and blocked_at is None, mode_writable,
                    acl_entries, acl_denies, immutable, append_only, blocked_at)


def current_dir() -> Optional[str]:
    """os.getcwd(), or None when the current directory was deleted (or cannot be reached any more)."""
    try:
        return os.getcwd()
    except OSError:
        return None
