"""The walk over a whole cache (lstat only, nothing followed, no mount entered): who owns what, what a `chown -R` or
`rm -rf` would cross, and the copies `pipdoctor fix` moved aside. Reads and never writes."""

from __future__ import annotations

import errno
import marshal
import os
import select
import signal
import stat
import sys
from bisect import insort
from collections import deque
from typing import Callable, Optional

from pipdoctor.host.accounts import Owner, owner_of, owner_of_ids
from pipdoctor.host.dirs import lstat_or_error
from pipdoctor.host.mounts import mounts_below
from pipdoctor.host.permissions import class_bits
from pipdoctor.records import record
from pipdoctor.safety import MOVED_ASIDE

# Samples kept per kind of problem: enough to act on, bounded whatever the cache's size (STYLE: report
# foreign subtrees, not every path). The SAMPLES smallest paths of each kind: which ones does not depend on the
# order the walk met them, nor on how a parallel walk split the tree.
SAMPLES = 5
# A walk that has counted this many entries in its first, breadth-first look and still has directories to list
# is worth splitting between processes: a fork, its pipe and the merge cost about what listing a few hundred
# entries does (scripts/bench, check: 1,000 files stay serial, 20,000 go parallel).
FIRST_LOOK = 4000
# Directories queued per worker before the split: each worker takes the next one as it finishes (a shared pipe of
# indexes), so the many small ones after the few big ones even out the end.
UNITS_PER_JOB = 16
# Task indexes in the shared pipe, 4 bytes each: they fit its 64 KiB (pipe(7)) with room, written before any
# fork; more directories than this are handed out in runs of consecutive ones.
_MAX_TASKS = 4096


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
    foreign_subtrees: tuple  # Subtree samples: the SAMPLES smallest paths
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
    walk then pays one open per directory), else from the root; the result must be the inode the walk saw
    (`seen`: its st_dev and st_ino)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") or "/"
        self.path: Optional[str] = None
        self.fd: Optional[int] = None

    def open(self, path: str, seen: tuple) -> int:
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
            if (st.st_dev, st.st_ino) != seen:
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


def default_jobs() -> int:
    """The CPUs this process may run on (taskset, a cgroup's cpuset): how many workers a walk forks by default."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _keep(samples: list, item) -> None:
    """Keep the SAMPLES smallest items in `samples`, sorted."""
    if len(samples) < SAMPLES:
        insort(samples, item)
    elif item < samples[-1]:
        samples.pop()
        insort(samples, item)


class _Tally:
    """What a walk, or one worker's share of it, has counted: counters, counts per owner, area and errno, and the
    SAMPLES smallest paths of each kind. A worker sends its tally (export); the parent adds them up (add)."""

    def __init__(self) -> None:
        # entries, dirs, files, symlinks, size, foreign, foreign_size, foreign_unwritable, group_only, errors,
        # moved_aside_skipped, subtree_count, unwritable_count, unreadable_count
        self.counts = [0] * 14
        self.hazard_counts = [0, 0, 0]  # mount points, hard links, specials (indexes 7, 8, 9 of a subtree sample)
        self.owners: dict = {}  # (uid, gid) -> foreign entries
        self.areas: dict = {}  # top-level name -> [foreign entries, their size]
        self.reasons: dict = {}  # errno name -> entries not reached
        self.subtrees: list = []  # [path, uid, gid, mode, is_dir, entries, size, mount points, hard links, specials]
        self.unwritable: list = []  # paths
        self.unreadable: list = []  # (path, uid, gid): uid and gid None when its lstat failed too
        self.other_mounts: list = []  # paths
        self.hazards: list = []  # (path, kind)
        self.reason_samples: list = []  # (path, errno name)
        self.below: dict = {}  # a worker's: its counts below subtrees the first look sampled, by their path

    def export(self) -> bytes:
        # marshal: only ints, strings (a name that is not UTF-8 keeps its surrogate escapes), lists, tuples, dicts
        return marshal.dumps((self.counts, self.hazard_counts, self.owners, self.areas, self.reasons, self.subtrees,
                              self.unwritable, self.unreadable, self.other_mounts, self.hazards, self.reason_samples,
                              self.below))

    def add(self, data: bytes) -> None:
        (counts, hazard_counts, owners, areas, reasons, subtrees, unwritable, unreadable, other_mounts, hazards,
         reason_samples, below) = marshal.loads(data)
        self.counts = [mine + theirs for mine, theirs in zip(self.counts, counts)]
        self.hazard_counts = [mine + theirs for mine, theirs in zip(self.hazard_counts, hazard_counts)]
        for mine, theirs in ((self.owners, owners), (self.reasons, reasons)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        for name, (count, size) in areas.items():
            counts = self.areas.setdefault(name, [0, 0])
            counts[0] += count
            counts[1] += size
        sampled = {sample[0]: sample for sample in self.subtrees}
        for path, added in below.items():
            sample = sampled.get(path)  # None: since pushed out by a smaller path, and no longer reported
            if sample is not None:
                for index in range(5, 10):
                    sample[index] += added[index]
        for mine, theirs in ((self.subtrees, subtrees), (self.unwritable, unwritable),
                             (self.unreadable, unreadable), (self.other_mounts, other_mounts),
                             (self.hazards, hazards), (self.reason_samples, reason_samples)):
            mine[:] = sorted(mine + theirs)[:SAMPLES]


class _Walker:
    """One walk's fixed inputs, and the loop that lists directories into a _Tally (the same loop for the serial
    walk, the first look and every worker: one code path, one set of guarantees)."""

    def __init__(self, root: str, uid: int, groups, check_modes: bool, skip_moved_aside: bool):
        self.root = root
        self.uid = uid
        self.groups = frozenset(groups)
        self.check_modes = check_modes and uid != 0
        self.skip_moved_aside = skip_moved_aside
        try:
            self.root_dev = os.lstat(root).st_dev
        except OSError:
            self.root_dev = None
        # Bind mounts below the root (same device): not entered either. Their inodes, for a cheap test per directory.
        mounts = mounts_below(os.path.realpath(root)) if self.root_dev is not None else frozenset()
        self.mount_inos = frozenset(ino for dev, ino in mounts if dev == self.root_dev)

    def list_dirs(self, tally: _Tally, pending, take: Callable, *, until: tuple = (0, 0),
                  progress: Optional[Callable] = None, every: int = 0) -> None:
        """List the directories in `pending` ((path, area name, subtree sample or None, inode) ...), taken by
        `take` (pending.pop: depth first; deque.popleft: breadth first), pushing the directories they hold.
        until=(entries, directories): stop once that many entries are counted and that many directories wait."""
        uid, groups, check_modes, root_dev, mount_inos = (self.uid, self.groups, self.check_modes, self.root_dev,
                                                           self.mount_inos)
        skip_moved_aside = self.skip_moved_aside
        until_entries, until_dirs = until
        (n_entries, n_dirs, n_files, n_links, total, foreign, foreign_size, foreign_unwritable, group_only, errors,
         moved_aside_skipped, subtree_count, unwritable_count, unreadable_count) = tally.counts
        owners, areas, reasons = tally.owners, tally.areas, tally.reasons
        subtrees, unwritable, unreadable, other_mounts = (tally.subtrees, tally.unwritable, tally.unreadable,
                                                          tally.other_mounts)
        hazard_counts, hazards, reason_samples = tally.hazard_counts, tally.hazards, tally.reason_samples
        # At every multiple of `every` of the tally's count, not `every` after this call's start: a worker lists
        # many small units (pip's wheels/ab/cd/), one call each, and most hold fewer than `every` entries.
        next_report = (n_entries // every + 1) * every if progress is not None and every > 0 else -1
        deep = _DeepOpener(self.root)

        def not_reached(path: str, error: OSError) -> None:
            name = errno.errorcode.get(error.errno, "error") if error.errno else "error"
            reasons[name] = reasons.get(name, 0) + 1
            _keep(reason_samples, (path, name))

        def hazard(path: str, kind: int, top: Optional[list]) -> None:
            hazard_counts[kind] += 1
            if top is not None:
                top[7 + kind] += 1
            _keep(hazards, (path, ("mount point", "hard link", "special file")[kind]))

        push = pending.append
        S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
        try:
            while pending:
                if until_entries and n_entries >= until_entries and len(pending) >= until_dirs:
                    break
                path, area, top, seen = take()
                try:
                    # Near PATH_MAX a child's path would not fit (DirEntry.stat() stats by path): list by dir fd.
                    if seen is not None and (len(path) > _NEAR_PATH_MAX or not path.isascii() and
                                             len(os.fsencode(path)) > _NEAR_PATH_MAX):
                        iterator = os.scandir(deep.open(path, (root_dev, seen)))
                    else:
                        iterator = os.scandir(path)
                except PermissionError as error:
                    unreadable_count += 1
                    not_reached(path, error)
                    if len(unreadable) < SAMPLES or path < unreadable[-1][0]:
                        try:
                            denied = os.lstat(path)
                            _keep(unreadable, (path, denied.st_uid, denied.st_gid))
                        except OSError:
                            _keep(unreadable, (path, None, None))
                    continue
                except OSError as error:
                    try:
                        if error.errno != errno.ENAMETOOLONG or seen is None:
                            raise
                        iterator = os.scandir(deep.open(path, (root_dev, seen)))
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
                        if n_entries == next_report:
                            progress(n_entries)
                            next_report += every
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
                            if top is None:
                                subtree_count += 1
                                entry_top = [prefix + entry.name, st.st_uid, st.st_gid, mode & 0o7777,
                                             fmt == S_IFDIR, 1, size, 0, 0, 0]
                                _keep(subtrees, entry_top)  # counted below even if pushed out later: harmless
                            else:
                                top[5] += 1
                                top[6] += size
                        elif check_modes and st.st_gid not in groups:
                            group_only += 1
                        if fmt == S_IFDIR:
                            n_dirs += 1
                            if st.st_dev != root_dev or st.st_ino in mount_inos:
                                _keep(other_mounts, prefix + entry.name)
                                hazard(prefix + entry.name, 0, entry_top)
                                continue
                            if check_modes:
                                if class_bits(st.st_uid, st.st_gid, mode, uid, groups) & 3 != 3:
                                    if st.st_uid == uid:
                                        unwritable_count += 1
                                        _keep(unwritable, prefix + entry.name)
                                    else:
                                        foreign_unwritable += 1
                            # its inode only (a directory entered is on the root's device): what waits to be
                            # listed stays small in a directory of 100,000 others (uv's archive-v0/)
                            push((prefix + entry.name, entry_area, entry_top, st.st_ino))
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
            tally.counts = [n_entries, n_dirs, n_files, n_links, total, foreign, foreign_size, foreign_unwritable,
                            group_only, errors, moved_aside_skipped, subtree_count, unwritable_count, unreadable_count]


def walk_cache(root: str, uid: int, groups, *, check_modes: bool = True, skip_moved_aside: bool = True,
               jobs: Optional[int] = None, progress: Optional[Callable[[int], None]] = None,
               progress_every: int = 10_000, first_look: tuple = (FIRST_LOOK, UNITS_PER_JOB)) -> CacheWalk:
    """One pass over the cache with os.scandir (no recursion, no os.walk), split between `jobs` forked processes
    (default: the CPUs this process may use) when the tree is big enough.

    Every entry costs one lstat, which find(1) also pays for `! -uid N`; nothing is followed. Memory stays
    flat: counters, and at most SAMPLES paths per kind of problem. A directory past PATH_MAX is listed through
    a dir fd (_DeepOpener), so no entry goes uncounted: it is counted, or reported as not reached.
    The first look lists the tree breadth first until it has counted first_look[0] entries with first_look[1]
    directories per job waiting (a smaller tree is walked to its end right there, in this process); those
    directories are then shared out between the workers. Whatever the split, the result is the serial walk's.
    `progress`, when given, is called with the number of entries counted so far, every `progress_every` entries.
    """
    walker = _Walker(root, uid, groups, check_modes, skip_moved_aside)
    tally = _Tally()
    pending = deque([(root, None, None, None)])
    jobs = default_jobs() if jobs is None else jobs
    if jobs > 1 and not _threads_running():
        entries, per_job = first_look
        walker.list_dirs(tally, pending, pending.popleft, until=(max(entries, 1), per_job * jobs),
                         progress=progress, every=progress_every)
        if len(pending) > 1:
            try:
                finished = _walk_parallel(walker, tally, pending, jobs, progress, progress_every)
            except OSError:  # no fork or pipe to be had (EAGAIN, EMFILE): the serial walk needs neither
                finished = False
            if not finished:
                # a worker died (killed, out of memory) or none could start: walk it all again in this process
                return walk_cache(root, uid, groups, check_modes=check_modes, skip_moved_aside=skip_moved_aside,
                                  jobs=1, progress=progress, progress_every=progress_every)
    walker.list_dirs(tally, pending, pending.pop, progress=progress, every=progress_every)
    return _result(root, tally)


def _threads_running() -> bool:
    """A fork copies only the calling thread: with others running (a lock held by one of them) the child could
    hang, so such a process walks serially."""
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _walk_parallel(walker: _Walker, tally: _Tally, units: deque, jobs: int, progress: Optional[Callable],
                   every: int) -> bool:
    """List `units` (what the first look left waiting; emptied here) in forked workers and add their tallies to
    `tally`; False (or OSError) when a worker did not finish: then `tally` holds nothing of theirs."""
    kept = {id(sample) for sample in tally.subtrees}
    # A unit's subtree sample travels by its path when the first look kept it ("" when it did not: what is counted
    # below it would be thrown away), None when the unit is not below a foreign entry. Moved, not copied.
    plan = []
    while units:
        path, area, top, seen = units.popleft()
        plan.append((path, area, None if top is None else top[0] if id(top) in kept else "", seen))
    run = -(-len(plan) // _MAX_TASKS)
    tasks = -(-len(plan) // run)
    task_r, task_w = os.pipe()
    progress_r, progress_w = os.pipe() if progress is not None else (-1, -1)
    fds = [task_r, task_w, progress_r, progress_w]
    children: dict = {}  # result read fd -> [pid, chunks]
    try:
        os.write(task_w, b"".join(index.to_bytes(4, "little") for index in range(tasks)))  # fits: see _MAX_TASKS
        os.close(task_w)
        for _ in range(min(jobs, tasks)):
            result_r, result_w = os.pipe()
            fds += [result_r, result_w]
            pid = os.fork()
            if pid == 0:
                _worker(walker, plan, run, task_r, result_w, progress_w, every)
            os.close(result_w)
            children[result_r] = [pid, []]
        if progress_w >= 0:
            os.close(progress_w)  # the workers hold the only write ends left: EOF when the last one exits
        poller = select.poll()
        for fd in (*children, progress_r):
            if fd >= 0:
                poller.register(fd, select.POLLIN)
        open_fds = len(children) + (progress_r >= 0)
        base, walked = tally.counts[0], 0
        while open_fds:
            for fd, _ in poller.poll():
                data = os.read(fd, 1 << 16)
                if not data:
                    poller.unregister(fd)
                    open_fds -= 1
                elif fd == progress_r:  # whole 4-byte counts: each was one write below PIPE_BUF (pipe(7))
                    walked += sum(int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4))
                    progress(base + walked)
                else:
                    children[fd][1].append(data)
        finished = True
        for child in children.values():
            _, status = os.waitpid(child[0], 0)
            child[0] = None
            finished = finished and status == 0
        if finished:
            for _, chunks in children.values():
                tally.add(b"".join(chunks))
        return finished
    finally:
        for pid, _ in children.values():
            if pid is not None:  # interrupted (Ctrl-C): no worker outlives the walk
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:  # closed already
                    pass


def _worker(walker: _Walker, plan: list, run: int, task_r: int, result_w: int, progress_w: int, every: int) -> None:
    """A forked worker: take task indexes from the shared pipe until it is empty (a 4-byte read(2) of a pipe takes
    one whole index: the parent wrote them all before the first fork), list those directories, send the tally,
    and exit: never return into the parent's code, whatever happened."""
    code = 1
    try:
        tally = _Tally()
        sent = 0

        def report(count: int) -> None:
            nonlocal sent
            os.write(progress_w, (count - sent).to_bytes(4, "little"))
            sent = count

        while True:
            task = os.read(task_r, 4)
            if not task:
                break
            index = int.from_bytes(task, "little")
            pending = []
            for path, area, key, seen in plan[index * run:(index + 1) * run]:
                if key is None:
                    top = None
                elif key:
                    top = tally.below.setdefault(key, [key, 0, 0, 0, False, 0, 0, 0, 0, 0])
                else:
                    top = ["", 0, 0, 0, False, 0, 0, 0, 0, 0]
                pending.append((path, area, top, seen))
            walker.list_dirs(tally, pending, pending.pop, progress=report if progress_w >= 0 else None, every=every)
        data = memoryview(tally.export())
        while data:
            data = data[os.write(result_w, data):]
        code = 0
    finally:
        os._exit(code)


def _result(root: str, tally: _Tally) -> CacheWalk:
    """The CacheWalk of a tally, every tuple in a stable order (most first, ties by name or id; samples by path)."""
    (n_entries, n_dirs, n_files, n_links, total, foreign, foreign_size, foreign_unwritable, group_only, errors,
     moved_aside_skipped, subtree_count, unwritable_count, unreadable_count) = tally.counts
    owners = sorted(tally.owners.items(), key=lambda item: (-item[1], item[0]))
    areas = sorted(tally.areas.items(), key=lambda item: (-item[1][0], item[0]))
    return CacheWalk(
        root, n_entries, n_dirs, n_files, n_links, total, foreign, foreign_size, foreign_unwritable,
        tuple((owner_of_ids(o_uid, o_gid), count) for (o_uid, o_gid), count in owners),
        tuple((name, count, size) for name, (count, size) in areas),
        tuple(Subtree(p, owner_of_ids(u, g), m, d, n, s, mp, hl, sp)
              for p, u, g, m, d, n, s, mp, hl, sp in tally.subtrees),
        subtree_count, group_only, tuple(tally.unwritable), unwritable_count,
        tuple((path, None if u is None else owner_of_ids(u, g)) for path, u, g in tally.unreadable),
        unreadable_count, tuple(tally.other_mounts), errors, *tally.hazard_counts, tuple(tally.hazards),
        tuple(sorted(tally.reasons.items(), key=lambda item: (-item[1], item[0]))), tuple(tally.reason_samples),
        moved_aside_skipped,
    )


@record
class MovedAside:
    """A copy `pipdoctor fix` moved out of pip's sight (wheels.pipdoctor-<stamp> in the cache, pip.pipdoctor-<stamp>
    beside it): pip never reads it again, and when its entries are root's only root can delete it."""

    path: str
    owner: Owner
    walk: Optional[CacheWalk]  # its entries, size and what an rm -rf would cross; None for a file


def moved_aside_copies(cache: str, uid: int, groups, *, jobs: Optional[int] = None) -> tuple:
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
        walked = (walk_cache(path, uid, groups, check_modes=False, skip_moved_aside=False, jobs=jobs)
                  if stat.S_ISDIR(st.st_mode) else None)
        copies.append(MovedAside(path, owner_of(st), walked))
    return tuple(copies)
