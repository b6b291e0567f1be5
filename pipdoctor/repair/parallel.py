"""Root's chown pass on several cores: subtrees split between forked workers, one journal written by the parent.

The per-entry work (lstat, re-check, fchownat) holds the GIL, so threads do not help; processes do. Design, and
how it keeps the serial pass's guarantees:
- The parent lists the targets a level or two down and hands the directories found there ("units": pip's
  wheels/ab, http-v2/a) to N forked workers in shrinking batches, as each asks for more (balanced by demand).
- A worker changes its units exactly as the serial pass does (apply._Chowner: no link followed, dev/ino
  re-check right before each change, directories after their contents, chunks, MAX_REL), but it never writes
  the journal: it sends each chunk's entries to the parent, which writes and fsyncs the `planned` record(s)
  and only then answers with their numbers. The worker applies the chunk after that answer and reports it
  `done`. So the journal keeps one writer, whole lines, and a synced record before every change it describes.
- kill -9 of the parent: a worker waiting for an answer reads EOF and exits with nothing of that chunk
  changed; one applying an answered chunk finishes it (it is journaled). kill -9 of a worker: its last
  journaled chunk is partly applied, as a killed serial pass leaves one; the parent goes on with the others
  and reports that a part was left. `fix --undo` restores from the one journal in every case.
- The parent changes what lies above the units (the targets, their files, the directories in between) only
  after every worker has finished, so a directory still changes after everything below it, and a unit's
  parent stays root's (sealed) while the unit is changed.
"""

from __future__ import annotations

import collections
import os
import stat
from typing import Callable

from pipdoctor.repair import schema
from pipdoctor.repair.fs import RepairError, open_below
from pipdoctor.repair.outcome import Outcome

# Units wanted per worker: enough that the last one to finish leaves the others idle only briefly.
UNITS_PER_JOB = 16
# Split at most this many levels below a target (pip: wheels/ab, http-v2/a; a whole cache: wheels/ab too).
MAX_SPLIT_DEPTH = 3
# The cheap first look: below this many entries (estimated from a sample of units' listings, direct entries
# only, so the subtree is larger), forking costs more than it saves (~30 entries/ms for one process here).
MIN_ENTRIES = 1024
SAMPLE = 8
# Units are names held in memory: at most this many (a flat directory of a million subdirectories gives its
# first MAX_UNITS to the workers, and the parent's own pass enters the rest).
MAX_UNITS = 4096
LEFT_BY_A_WORKER = ("a worker process ended before its part was done (what it changed is journaled; the check "
                    "after the fix shows what is left)")


def default_jobs() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _subdirs(root_fd: int, rel: str, root_dev: int, mount_inos: frozenset, limit: int = MAX_UNITS) -> tuple[list, int]:
    """The directories directly below rel (same filesystem, no mount point, never a symlink; the first `limit`)
    and how many entries were listed; none when rel is no directory reachable without following a link."""
    try:
        fd = open_below(root_fd, rel)
    except OSError:
        return [], 0
    found, listed = [], 0
    prefix = rel + "/" if rel else ""
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                listed += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode) and st.st_dev == root_dev and st.st_ino not in mount_inos:
                    found.append(prefix + entry.name)
                    if len(found) >= limit:
                        break
    except OSError:
        return [], 0
    finally:
        os.close(fd)
    return found, listed


def split(root_fd: int, targets: list, root_dev: int, mount_inos: frozenset, want: int) -> list:
    """Units below the targets: their subdirectories, a level deeper while there are fewer than `want` (and
    going deeper finds more). Only names: each worker re-reads and re-checks every unit it is given."""
    units: list = []
    frontier = list(targets)
    for _ in range(MAX_SPLIT_DEPTH):
        deeper: list = []
        for rel in frontier:
            deeper += _subdirs(root_fd, rel, root_dev, mount_inos, MAX_UNITS - len(deeper))[0]
            if len(deeper) >= MAX_UNITS:  # memory stays bounded: the caller's own pass enters the rest
                del deeper[MAX_UNITS:]
                break
        if len(deeper) <= len(units):
            break
        units = frontier = deeper
        if len(units) >= want:
            break
    return units


def big_enough(root_fd: int, units: list, root_dev: int, mount_inos: frozenset) -> bool:
    """Whether the units hold enough to pay for forking: a few units' listings, spread over the list."""
    step = max(1, len(units) // SAMPLE)
    sample = units[::step][:SAMPLE]
    listed = sum(_subdirs(root_fd, rel, root_dev, mount_inos)[1] for rel in sample)
    return listed * len(units) / max(1, len(sample)) >= MIN_ENTRIES


class _Stopped(Exception):
    """The parent refused a chunk (its journal could not be written): change nothing more."""


class _JournalLine:
    """A worker's stand-in for the Journal (the two calls apply._Chowner makes): the parent writes, syncs,
    then answers; EOF (the parent died) raises before anything of the chunk is changed. Answers come tagged:
    the next batch of units, asked for ahead, may arrive while a chunk's answer is awaited."""

    def __init__(self, conn):
        self.conn = conn
        self.early: dict = {}

    def answer(self, kind: str):
        if kind in self.early:
            return self.early.pop(kind)
        while True:
            got, payload = self.conn.recv()
            if got == kind:
                return payload
            self.early[got] = payload

    def planned_chowns(self, dev: int, uid: int, gid: int, entries: list) -> list:
        self.conn.send(("planned", dev, uid, gid, schema.entries_json(entries)))  # encoded here, on this core
        seqs = self.answer("ok")
        if seqs is None:
            raise _Stopped()
        return seqs

    def done(self, seqs: list) -> None:
        self.conn.send(("done", seqs))


def _work(conn, root_fd: int, make_chowner: Callable) -> None:
    outcome = Outcome()
    line = _JournalLine(conn)
    chowner = make_chowner(line, outcome)
    conn.send(("next",))
    batch = line.answer("units")
    while batch:
        conn.send(("next",))  # ahead: the answer waits in the pipe, not this worker for a busy parent
        for rel in batch:
            chowner.run(root_fd, rel)
        batch = line.answer("units")
    chowner.finish()
    conn.send(("finished", outcome.chowned, outcome.skipped, outcome.skipped_count))


def _fork_worker(root_fd: int, make_chowner: Callable, journal_fd: int, siblings: list):
    """A worker process and the parent's end of its line. The worker closes what it must never hold: the
    journal (its lock then dies with the parent, and no worker can write it) and the parent's ends of its
    siblings' lines (each worker reads EOF as soon as the parent is gone, not when its siblings are)."""
    from multiprocessing.connection import Pipe

    parent_end, child_end = Pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns (os._exit: no atexit, no buffered output of the parent's)
        code = 0
        try:
            os.close(journal_fd)
            for conn in [parent_end, *siblings]:
                conn.close()
            _work(child_end, root_fd, make_chowner)
        except (_Stopped, EOFError, BrokenPipeError):
            code = 1
        except BaseException as error:  # noqa: B036 (a worker must end here whatever happened, Ctrl-C included)
            code = 1
            try:
                child_end.send(("failed", f"{type(error).__name__}: {error}"))
            except BaseException:  # noqa: B036
                pass
        finally:
            os._exit(code)
    child_end.close()
    return pid, parent_end


def chown_in_workers(root_fd: int, targets: list, make_chowner: Callable, journal, outcome: Outcome,
                     root_dev: int, mount_inos: frozenset, root_path: str, jobs=None) -> frozenset:
    """Change the units below the targets in worker processes; the units done (the caller's own pass must not
    enter them), or none when one process is the better choice: one CPU, too few units, or (jobs None: the
    default) a tree too small to pay for the forks."""
    wanted = default_jobs() if jobs is None else jobs
    if wanted < 2:
        return frozenset()
    units = split(root_fd, targets, root_dev, mount_inos, UNITS_PER_JOB * wanted)
    if len(units) < 2 or (jobs is None and not big_enough(root_fd, units, root_dev, mount_inos)):
        return frozenset()
    workers: list = []
    for _ in range(min(wanted, len(units))):
        workers.append(_fork_worker(root_fd, make_chowner, journal.fd, [conn for _, conn in workers]))
    _serve(workers, collections.deque(units), journal, outcome, root_path)
    return frozenset(units)


def _serve(workers: list, queue: collections.deque, journal, outcome: Outcome, root_path: str) -> None:
    """The parent's side until every worker has ended: units on demand, chunks journaled (synced) before they
    are answered. A journal that cannot be written stops every worker before its next chunk, then raises."""
    from multiprocessing.connection import wait

    live = {conn: pid for pid, conn in workers}
    finished: set = set()
    error = None
    try:
        while live:
            for conn in wait(list(live)):
                try:
                    message = conn.recv()
                    kind = message[0]
                    if kind == "planned":
                        seqs = None
                        if error is None:
                            try:
                                seqs = journal.planned_chown_parts(*message[1:])
                            except (OSError, RepairError) as failed:
                                error = failed
                        conn.send(("ok", seqs))  # None: stop
                    elif kind == "done":
                        if error is None:
                            try:
                                journal.done(message[1])
                            except OSError as failed:
                                error = failed
                    elif kind == "next":
                        # Guided: a share of what is left, smaller as the queue drains (few round trips,
                        # each a wake-up of this process, yet the workers end close together).
                        take = max(1, len(queue) // (2 * len(workers)))
                        batch = [queue.popleft() for _ in range(min(take, len(queue)))]
                        conn.send(("units", batch if error is None else []))  # []: no more
                    elif kind == "finished":
                        _, chowned, skipped, count = message
                        outcome.chowned += chowned
                        for path, reason in skipped:
                            outcome.skip(path, reason)
                        outcome.skipped_count += count - len(skipped)
                        finished.add(conn)
                    elif kind == "failed":
                        # An OSError, as the serial pass would raise: apply says what was done and how to undo it.
                        error = error or OSError(f"a worker process failed: {message[1]}")
                except (EOFError, OSError):
                    del live[conn]
                    conn.close()
                    if conn not in finished:
                        outcome.skip(root_path, LEFT_BY_A_WORKER)
    finally:
        for conn in live:
            conn.close()  # a worker still waiting reads EOF and changes nothing more
        for pid, _ in workers:
            os.waitpid(pid, 0)
    if error is not None:
        raise error
