"""The walk over a whole cache (lstat only, nothing followed, no mount entered): who owns what, what a `chown -R` or
`rm -rf` would cross, and the copies `pipdoctor fix` moved aside. Reads and never writes."""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from pipdoctor.host.accounts import Owner, owner_of, owner_of_ids
from pipdoctor.host.dirs import lstat_or_error
from pipdoctor.host.mounts import mounts_below
from pipdoctor.host.permissions import class_bits
from pipdoctor.records import record
from pipdoctor.safety import MOVED_ASIDE

# Samples kept per kind of problem: enough to act on, bounded whatever the cache's size (STYLE: report
# foreign subtrees, not every path).
SAMPLES = 5


@record
class Subtree:
    """A foreign-owned entry and everything below it that is foreign too: one line in the report. The hazard
    counts cover every entry below it, whoever owns it: what a `chown -R` of it would also reach."""

    path: str
    owner: Owner
    mode: int
    is_dir: bool
    entries: int
    size: int
    mount_points: int = 0
    hard_links: int = 0
    specials: int = 0


@record
class CacheWalk:
    """Counts over every entry below the cache root (lstat only: a symlink is counted, never followed)."""

    root: str
    entries: int
    dirs: int
    files: int
    symlinks: int
    size: int
    foreign_entries: int  # owned by another uid than the cache's user
    foreign_size: int
    foreign_dirs_unwritable: int  # of those, directories the user cannot write into
    foreign_owners: tuple  # ((Owner, entries), ...) most entries first
    foreign_areas: tuple  # (("wheels", entries, size), ...): per top-level subdirectory
    foreign_subtrees: tuple  # Subtree samples, the first SAMPLES met
    foreign_subtree_count: int
    group_only_entries: int  # the user's own uid, but a group the user is not in
    unwritable_own: tuple  # the user's own directories it cannot write into (mode): samples
    unwritable_own_count: int
    unreadable: tuple  # (path, Owner or None): directories the walk could not list (EACCES): samples
    unreadable_count: int
    other_mounts: tuple  # mount points (another filesystem, or a bind mount), not entered (as find -xdev)
    errors: int  # entries not reached for another reason than EACCES (vanished, ELOOP, EMFILE...)
    # What a `chown -R` or `rm -rf` would cross or reach beyond the cache, anywhere below the root: mount points
    # (directories or files, bind mounts included), non-directories with other names (st_nlink > 1), and
    # devices, FIFOs and sockets (pip makes none of them).
    mount_points: int = 0
    hard_links: int = 0
    specials: int = 0
    hazards: tuple = ()  # (path, "mount point" | "hard link" | "special file"): samples
    # Entries the walk could not reach, and why: ((errno name, count), ...) most first, EACCES included; and
    # (path, errno name) samples. Nothing below them is counted.
    not_reached: tuple = ()
    not_reached_samples: tuple = ()
    # Top-level entries named like `pipdoctor fix`'s moved-aside copies (wheels.pipdoctor-<time>): pip never reads
    # them, so they are not counted; a `chown -R` or `rm -rf` of the root still reaches into them, and their
    # names are the user's to choose, so the gate must not call such a command safe on these counts.
    moved_aside_skipped: int = 0

    @property
    def not_reached_count(self) -> int:
        return sum(count for _, count in self.not_reached)


# linux/limits.h PATH_MAX 4096 (with its NUL), less NAME_MAX 255 for a child's name and its slash.
_NEAR_PATH_MAX = 4096 - 1 - 256
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class _DeepOpener:
    """Opens a directory whose path is longer than PATH_MAX (where opendir() fails with ENAMETOOLONG) one
    component at a time with openat(O_NOFOLLOW), from the last one it opened when it lies below (a depth-first
    walk then pays one open per directory), else from the root; the result must be the inode the walk saw."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") or "/"
        self.path: Optional[str] = None
        self.fd: Optional[int] = None

    def open(self, path: str, seen: os.stat_result) -> int:
        if self.path is not None and path.startswith(self.path + "/"):
            base, fd = self.path, self.fd
        else:
            base, fd = self.root, os.open(self.root, _O_DIR)
        try:
            for part in path[len(base) + 1:].split("/"):
                child = os.open(part, _O_DIR, dir_fd=fd)
                if fd != self.fd:
                    os.close(fd)
                fd = child
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino):
                raise OSError(errno.ESTALE, "replaced while walked", path)
        except OSError:
            if fd != self.fd:
                os.close(fd)
            raise
        self.close()
        self.path, self.fd = path, fd
        return fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.path = self.fd = None


def walk_cache(root: str, uid: int, groups, *, check_modes: bool = True, skip_moved_aside: bool = True) -> CacheWalk:
    """One pass over the cache with os.scandir and an explicit stack (no recursion, no os.walk).

    Every entry costs one lstat, which find(1) also pays for `! -uid N`; nothing is followed. Memory stays
    flat: counters, and at most SAMPLES paths per kind of problem. A directory past PATH_MAX is listed through
    a dir fd (_DeepOpener), so no entry goes uncounted: it is counted, or reported as not reached.
    """
    groups = frozenset(groups)
    check_modes = check_modes and uid != 0
    try:
        root_dev = os.lstat(root).st_dev
    except OSError:
        root_dev = None
    n_entries = n_dirs = n_files = n_links = total = 0
    foreign = foreign_size = foreign_unwritable = group_only = errors = moved_aside_skipped = 0
    owners: dict = {}
    areas: dict = {}
    # [path, uid, gid, mode, is_dir, entries, size, mount points, hard links, specials]
    subtrees: list = []
    subtree_count = 0
    unwritable: list = []
    unwritable_count = 0
    unreadable: list = []
    unreadable_count = 0
    other_mounts: list = []
    hazard_counts = [0, 0, 0]  # mount points, hard links, specials (the indexes 7, 8, 9 of a subtree sample)
    hazards: list = []
    reasons: dict = {}
    reason_samples: list = []
    deep = _DeepOpener(root)

    def not_reached(path: str, error: OSError) -> None:
        name = errno.errorcode.get(error.errno, "error") if error.errno else "error"
        reasons[name] = reasons.get(name, 0) + 1
        if len(reason_samples) < SAMPLES:
            reason_samples.append((path, name))

    def hazard(path: str, kind: int, top: int) -> None:
        hazard_counts[kind] += 1
        if top >= 0:
            subtrees[top][7 + kind] += 1
        if len(hazards) < SAMPLES:
            hazards.append((path, ("mount point", "hard link", "special file")[kind]))

    # Bind mounts below the root (same device): not entered either. Their inodes, for a cheap test per directory.
    mounts = mounts_below(os.path.realpath(root)) if root_dev is not None else frozenset()
    mount_inos = frozenset(ino for dev, ino in mounts if dev == root_dev)
    # (path, area name, subtree index: -1 none, -2 foreign but not sampled, >= 0 into `subtrees`, its lstat)
    stack = [(root, None, -1, None)]
    pop, push = stack.pop, stack.append
    S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
    try:
        while stack:
            path, area, top, seen = pop()
            try:
                # Near PATH_MAX a child's path would not fit (DirEntry.stat() stats by path): list by dir fd.
                if seen is not None and (len(path) > _NEAR_PATH_MAX or not path.isascii() and
                                         len(os.fsencode(path)) > _NEAR_PATH_MAX):
                    iterator = os.scandir(deep.open(path, seen))
                else:
                    iterator = os.scandir(path)
            except PermissionError as error:
                unreadable_count += 1
                not_reached(path, error)
                if len(unreadable) < SAMPLES:
                    try:
                        denied = os.lstat(path)
                        unreadable.append((path, owner_of_ids(denied.st_uid, denied.st_gid)))
                    except OSError:
                        unreadable.append((path, None))
                continue
            except OSError as error:
                try:
                    if error.errno != errno.ENAMETOOLONG or seen is None:
                        raise
                    iterator = os.scandir(deep.open(path, seen))
                except OSError as error:
                    errors += 1
                    not_reached(path, error)
                    continue
            prefix = path.rstrip("/") + "/"
            with iterator:
                for entry in iterator:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError as error:
                        errors += 1
                        not_reached(prefix + entry.name, error)
                        continue
                    if skip_moved_aside and area is None and MOVED_ASIDE in entry.name:
                        moved_aside_skipped += 1
                        continue  # moved aside by `pipdoctor fix` (wheels.pipdoctor-<time>): pip never reads it
                    n_entries += 1
                    mode = st.st_mode
                    fmt = mode & S_IFMT
                    size = st.st_size
                    total += size
                    entry_area = area if area is not None else entry.name
                    entry_top = top
                    if st.st_uid != uid:
                        foreign += 1
                        foreign_size += size
                        key = (st.st_uid, st.st_gid)
                        owners[key] = owners.get(key, 0) + 1
                        counts = areas.get(entry_area)
                        if counts is None:
                            areas[entry_area] = [1, size]
                        else:
                            counts[0] += 1
                            counts[1] += size
                        if top == -1:
                            subtree_count += 1
                            if len(subtrees) < SAMPLES:
                                subtrees.append([prefix + entry.name, st.st_uid, st.st_gid, mode & 0o7777,
                                                 fmt == S_IFDIR, 1, size, 0, 0, 0])
                                entry_top = len(subtrees) - 1
                            else:
                                entry_top = -2
                        elif top >= 0:
                            sample = subtrees[top]
                            sample[5] += 1
                            sample[6] += size
                    elif check_modes and st.st_gid not in groups:
                        group_only += 1
                    if fmt == S_IFDIR:
                        n_dirs += 1
                        if st.st_dev != root_dev or st.st_ino in mount_inos:
                            if len(other_mounts) < SAMPLES:
                                other_mounts.append(prefix + entry.name)
                            hazard(prefix + entry.name, 0, entry_top)
                            continue
                        if check_modes:
                            if class_bits(st.st_uid, st.st_gid, mode, uid, groups) & 3 != 3:
                                if st.st_uid == uid:
                                    unwritable_count += 1
                                    if len(unwritable) < SAMPLES:
                                        unwritable.append(prefix + entry.name)
                                else:
                                    foreign_unwritable += 1
                        push((prefix + entry.name, entry_area, entry_top, st))
                        continue
                    if fmt == S_IFREG:
                        n_files += 1
                    elif fmt == S_IFLNK:
                        n_links += 1
                    else:
                        hazard(prefix + entry.name, 2, entry_top)
                    if st.st_nlink > 1:
                        hazard(prefix + entry.name, 1, entry_top)
                    if st.st_dev != root_dev or (mount_inos and st.st_ino in mount_inos):
                        hazard(prefix + entry.name, 0, entry_top)  # a file bind-mounted onto a cache entry
    finally:
        deep.close()
    owner_list = sorted(owners.items(), key=lambda item: -item[1])
    merged: dict = {}
    for (o_uid, o_gid), count in owner_list:
        merged[(o_uid, o_gid)] = (owner_of_ids(o_uid, o_gid), count)
    return CacheWalk(
        root, n_entries, n_dirs, n_files, n_links, total, foreign, foreign_size, foreign_unwritable,
        tuple(merged.values()),
        tuple((name, c[0], c[1]) for name, c in sorted(areas.items(), key=lambda item: -item[1][0])),
        tuple(Subtree(p, owner_of_ids(u, g), m, d, n, s, mp, hl, sp) for p, u, g, m, d, n, s, mp, hl, sp in subtrees),
        subtree_count, group_only, tuple(unwritable), unwritable_count, tuple(unreadable), unreadable_count,
        tuple(other_mounts), errors, hazard_counts[0], hazard_counts[1], hazard_counts[2], tuple(hazards),
        tuple(sorted(reasons.items(), key=lambda item: -item[1])), tuple(reason_samples), moved_aside_skipped,
    )


@record
class MovedAside:
    """A copy `pipdoctor fix` moved out of pip's sight (wheels.pipdoctor-<stamp> in the cache, pip.pipdoctor-<stamp>
    beside it): pip never reads it again, and when its entries are root's only root can delete it."""

    path: str
    owner: Owner
    walk: Optional[CacheWalk]  # its entries, size and what an rm -rf would cross; None for a file


def moved_aside_copies(cache: str, uid: int, groups) -> tuple:
    """The moved-aside copies at the top of the cache and beside it (named after the cache), the first SAMPLES
    by name; each walked like the cache (lstat only, never followed, mount points not entered). A symlink
    with such a name is not pipdoctor's and is left out."""
    parent, name = os.path.split(cache.rstrip("/"))
    found = []
    for where, wanted in ((cache, None), (parent or "/", name + MOVED_ASIDE)):
        try:
            names = os.listdir(where)
        except OSError:
            continue
        for entry in names:
            if (MOVED_ASIDE in entry) if wanted is None else entry.startswith(wanted):
                found.append(os.path.join(where, entry))
    copies = []
    for path in sorted(found)[:SAMPLES]:
        st, _ = lstat_or_error(path)
        if st is None or stat.S_ISLNK(st.st_mode):
            continue
        # every name inside a copy is walked: its hazards decide whether its `rm -rf` may be called safe
        walked = (walk_cache(path, uid, groups, check_modes=False, skip_moved_aside=False)
                  if stat.S_ISDIR(st.st_mode) else None)
        copies.append(MovedAside(path, owner_of(st), walked))
    return tuple(copies)
