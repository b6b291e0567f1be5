"""Where journals live and whether they can be trusted: root's store under /var/lib, or a user's own data dir.

Root's fixes (chowns) are journaled in ROOT_STORE/<uid>/, which only root can write: every directory from /
down is opened by fd with O_NOFOLLOW and must be root's and writable by nobody else, as sudo checks its
sudoers file (sudo's sudo_secure_path). Root undoes only journals found there. A user's own fix (a rename
inside their cache) is journaled in their data dir, written and undone with that user's rights; such a
journal never holds a chown, and root does not act on it.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Mapping, Optional

from pipdoctor.records import record
from pipdoctor.repair.fs import O_DIR, RepairError, plain_absolute

ROOT_STORE = "/var/lib/pipdoctor/journals"
SUFFIX = ".jsonl"


class NoStore(RepairError):
    """The store does not exist yet: no fix was journaled there."""


@record
class Store:
    """One account's journal directory. root: the store only root can write (journals there may hold chowns
    and are what root undoes); else a user's data dir, trusted by that user alone. start: where the walk
    begins (a user's HOME, resolved once: /home/u -> /data/u is the admin's choice; nothing below is followed)."""

    path: str
    root: bool
    start: str = "/"


@record
class JournalFile:
    """An open journal: the fd every read and the `undone` append go through, its path, and its store."""

    fd: int
    path: str
    store: Store


def root_store(uid: int, base: str = ROOT_STORE) -> Store:
    return Store(f"{base}/{uid}", True)


def user_store(home: Optional[str], environ: Mapping[str, str]) -> Optional[Store]:
    """$XDG_DATA_HOME/pipdoctor/journals, else ~/.local/share/pipdoctor/journals."""
    data = environ.get("XDG_DATA_HOME")
    path = None
    if data and os.path.isabs(data):
        path = os.path.join(os.path.normpath(data), "pipdoctor", "journals")
    elif home and os.path.isabs(home):
        path = os.path.join(os.path.normpath(home), ".local", "share", "pipdoctor", "journals")
    if path is None:
        return None
    home = os.path.normpath(home) if home and os.path.isabs(home) else None
    if home and home != "/" and path.startswith(home + "/"):
        try:
            return Store(os.path.realpath(home) + path[len(home):], False, os.path.realpath(home))
        except OSError:
            return None
    return Store(path, False)


def _trusted(st: os.stat_result, root: bool, last: bool) -> Optional[str]:
    """Why a directory on the way to a store (last: the store itself) cannot be trusted, or None. Root's
    store: root's, writable by no one else; on the way a root-owned sticky directory such as /tmp is fine
    (nobody else can rename or remove root's entries in it, sticky(7)). A user's: theirs, or root's under
    the same rule."""
    owners = (0,) if root else (0, os.geteuid())
    if st.st_uid not in owners:
        return f"it belongs to uid {st.st_uid}"
    if st.st_uid == os.geteuid() and not root:
        return None
    if st.st_mode & 0o022 and (last or not st.st_mode & stat.S_ISVTX):
        return "it is writable by group or others"
    return None


def open_store(store: Store, create: bool) -> int:
    """The store's directory fd, walked from store.start by fd with O_NOFOLLOW, each part checked (root's
    store: / included); missing parts are made 0700 when create. RepairError if a part is a symlink, not a
    directory or not trusted."""
    if not plain_absolute(store.path) or not (store.start in ("/", store.path) or
                                              store.path.startswith(store.start + "/")):
        raise RepairError(f"will not use {store.path} for journals: not an absolute path without '.' or '..'")
    rest = [part for part in store.path[len(store.start):].split("/") if part]
    try:
        fd = os.open(store.start, O_DIR)
    except OSError as error:
        raise RepairError(f"cannot reach the journals in {store.path}: {store.start}: {error.strerror}") from None
    walked = store.start.rstrip("/")
    try:
        if store.root or not rest:  # the store itself when it is where the walk starts (a user's JOURNAL's dir)
            _check(fd, walked or "/", store.root, not rest)
        for index, part in enumerate(rest):
            walked += "/" + part
            try:
                if create:
                    try:
                        os.mkdir(part, 0o700, dir_fd=fd)
                    except FileExistsError:
                        pass
                child = os.open(part, O_DIR, dir_fd=fd)
            except FileNotFoundError:
                raise NoStore(f"no journal store at {store.path} ({walked} does not exist)") from None
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise RepairError(f"will not use the journals in {store.path}: {walked} is a symlink or not "
                                      "a directory") from None
                raise RepairError(f"cannot reach the journals in {store.path}: {walked}: {error.strerror}") from None
            os.close(fd)
            fd = child
            _check(fd, walked, store.root, index == len(rest) - 1)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check(fd: int, path: str, root: bool, last: bool) -> None:
    reason = _trusted(os.fstat(fd), root, last)
    if reason:
        raise RepairError(f"will not use the journals in {path}: {reason}" +
                          (" (root's journal store must be root's all the way from /)" if root else ""))


def create_journal(store: Store, stamp: str) -> tuple[int, str]:
    """A new journal file (O_EXCL, 0600) in the store, and the store's directory synced so the name lasts."""
    dir_fd = open_store(store, create=True)
    try:
        for suffix in [""] + [f"-{n}" for n in range(2, 100)]:
            name = f"{stamp}{suffix}{SUFFIX}"
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=dir_fd)
            except FileExistsError:
                continue
            os.fsync(dir_fd)
            return fd, f"{store.path}/{name}"
        raise RepairError(f"cannot create a journal in {store.path}: too many with the same timestamp")
    finally:
        os.close(dir_fd)


def open_journal(store: Store, name: str, writable: bool) -> JournalFile:
    """A journal of the store, opened once: never through a symlink, never a FIFO or device (O_NONBLOCK: a
    FIFO would hang the open), never a name with other hard links; in root's store, root's and 0600-ish."""
    if not name.endswith(SUFFIX) or "/" in name or name.startswith("."):
        raise RepairError(f"{name} is not a journal name (*{SUFFIX})")
    dir_fd = open_store(store, create=False)
    path = f"{store.path}/{name}"
    flags = (os.O_RDWR | os.O_APPEND if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY \
        | os.O_NONBLOCK
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        raise RepairError(f"cannot open the journal {path}: {error.strerror}") from None
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "not a regular file"
    elif st.st_nlink != 1:
        problem = f"a file with {st.st_nlink} hard links"
    elif store.root and (st.st_uid != 0 or st.st_mode & 0o022):
        problem = "not root's alone"
    if problem:
        os.close(fd)
        raise RepairError(f"{path} is {problem}: not a journal pipdoctor wrote")
    return JournalFile(fd, path, store)


def root_journal_at(path: str, base: str = ROOT_STORE) -> tuple[Store, str]:
    """Root's store and the name for a JOURNAL given to root's `fix --undo`: it must lie in base/<uid>/."""
    directory, name = os.path.split(path)
    parent, uid = os.path.split(directory)
    if not (plain_absolute(path) and parent == base and uid.isdigit() and uid.isascii()):
        raise RepairError(f"{path} is not in root's journal store ({base}/<uid>/): as root, pipdoctor undoes only "
                          "the journals it wrote there; a fix a user made themselves is undone by that user "
                          "(run as them: pipdoctor fix --undo JOURNAL)")
    return Store(directory, True), name


def user_journal_at(path: str) -> tuple[Store, str]:
    """The user's own JOURNAL given to `fix --undo` (any place the user can read: their rights, their call)."""
    try:
        directory, name = os.path.split(os.path.abspath(path))
    except OSError as error:  # a relative path and a deleted current directory
        raise RepairError(f"cannot find {path}: {error.strerror}; give its full path") from None
    return Store(directory, False, directory), name


def journal_names(store: Store) -> list:
    """The journal names in the store (none when it does not exist yet)."""
    try:
        dir_fd = open_store(store, create=False)
    except NoStore:
        return []
    try:
        return sorted(n for n in os.listdir(dir_fd) if n.endswith(SUFFIX) and not n.startswith("."))
    finally:
        os.close(dir_fd)
