"""The filesystem calls apply and undo share: by fd, O_NOFOLLOW at every step, re-checked by device and inode."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
import time
from typing import Callable, Optional

# pip's cache holds directories, regular files and (rarely) symlinks; anything else is not pip's and a
# chown could hand a device or a FIFO to the user.
PIP_KINDS = (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK)
# linux/fcntl.h, linux/fs.h (renameat2(2)).
_AT_EMPTY_PATH = 0x1000
_AT_SYMLINK_NOFOLLOW = 0x100
_RENAME_NOREPLACE = 1
O_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
O_ENTRY = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# A mount point below the cache root, a bind mount of the same filesystem included (its st_dev is the cache's):
# what lies there is not the cache's, whatever its path says.
MOUNT_POINT = "a mount point (not entered, not changed)"

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


def chown_fd(fd: int, uid: int, gid: int) -> None:
    """fchownat(fd, "", AT_EMPTY_PATH): the very inode an O_PATH fd holds, a symlink itself included."""
    if _fchownat(fd, b"", uid, gid, _AT_EMPTY_PATH | _AT_SYMLINK_NOFOLLOW) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


# linux/time.h CLOCK_REALTIME_COARSE (Python's time module has no name for it); elsewhere the real-time clock.
_CLOCK_REALTIME_COARSE = 5 if sys.platform.startswith("linux") else time.CLOCK_REALTIME


def birth_clock_ns() -> int:
    """Now, read from the clock the kernel stamps a new inode's birth with (CLOCK_REALTIME_COARSE, which lags
    time.time_ns() by up to a tick): a file made after this call is born at or after what it returns, so a
    chunk's start read here tells a re-created file from the one the fix changed (undo.py)."""
    return time.clock_gettime_ns(_CLOCK_REALTIME_COARSE)


def birth_ns(fd: int) -> Optional[int]:
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


def rename_noreplace(dir_fd: int, old: str, new: str) -> None:
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


def plain_absolute(path: str) -> bool:
    """An absolute path without '.', '..', empty components or NUL: what the fd walks accept."""
    return path.startswith("/") and "\0" not in path and (path == "/" or all(
        part not in ("", ".", "..") for part in path[1:].split("/")))


def open_dir_nofollow(path: str) -> int:
    """A directory fd for an absolute path, opened component by component from / with O_NOFOLLOW: a
    symlink anywhere on the way (swapped in after the check read it) fails with ELOOP/ENOTDIR."""
    if not plain_absolute(path):
        raise RepairError(f"{path} is not an absolute, normalized path")
    root = os.open("/", O_DIR)
    try:
        return open_below(root, path)
    finally:
        os.close(root)


def open_below(base_fd: int, rel: str) -> int:
    """A directory fd for rel (a/b/c) below base_fd, O_NOFOLLOW at every step."""
    fd = os.dup(base_fd)
    try:
        for part in [p for p in rel.split("/") if p]:
            if part in (".", ".."):
                raise OSError(errno.EINVAL, "not a plain name", part)
            child = os.open(part, O_DIR, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_cache_root(root_fd: int, path: str, names_ok: Callable[[list], Optional[str]]) -> os.stat_result:
    """Re-check, on the opened fd, what the plan checked on the path: a directory that is no system directory
    (by device and inode, whatever path led here) and looks like pip's cache (names_ok returns the reason it
    does not, or None)."""
    from pipdoctor.safety import SYSTEM_DIRS

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
