"""Applies a fix plan to an installer's cache: journal first (synced), O_NOFOLLOW + dev/ino re-check, lchown/rename."""

from __future__ import annotations

import errno
import os
import stat
import time
from typing import Callable, Mapping, Optional

from pipdoctor.host.mounts import mounts_below
from pipdoctor.records import record
from pipdoctor.repair import schema
from pipdoctor.repair.fs import (MOUNT_POINT, O_DIR, O_ENTRY, PIP_KINDS, RepairError, check_cache_root, chown_fd,
                                 open_below, open_dir_nofollow, rename_noreplace)
from pipdoctor.repair.journal import Journal
from pipdoctor.repair.outcome import Outcome, undo_command
from pipdoctor.repair.parallel import chown_in_workers
from pipdoctor.repair.store import Store


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


def _mount_inos(mounts: frozenset, root_dev: int) -> frozenset:
    """Inodes of the mount points below the root on its own device (bind mounts): never entered or changed."""
    return frozenset(ino for dev, ino in mounts if dev == root_dev)


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
    # A chunk's paths are held until its record is written: deep paths make smaller chunks, so a chain of
    # directories with 255-byte names costs about CHUNK_CHARS of paths at a time, not CHUNK of them.
    CHUNK_CHARS = 1 << 20
    # Deeper than this (about 128 levels of 255-byte names, far past PATH_MAX) a path is not entered: its
    # journal entry, escaped, must stay well below schema.WRITE_LINE, and the walk's stack holds every level.
    MAX_REL = 32 * 1024

    def __init__(self, journal, root_dev: int, uid: int, gid: int, outcome: Outcome, root_path: str,
                 mounts: frozenset = frozenset(), given_away: frozenset = frozenset()):
        self.journal = journal  # a Journal, or a worker's line to the one that writes it (parallel.py)
        self.root_dev = root_dev
        self.mount_inos = _mount_inos(mounts, root_dev)
        self.uid = uid
        self.gid = gid
        self.outcome = outcome
        self.root_path = root_path.rstrip("/")
        # Subtrees (rel paths) worker processes changed already (parallel.py): neither entered nor changed here.
        self.given_away = given_away
        self.budget = _fd_budget()
        self.pending: list = []  # (dir fd, name, rel, stat, sealed)
        self.used: set = set()  # dir fds that pending changes need
        self.to_close: list = []  # dir fds the walk is done with, kept for the pending chunk

    def _full(self, rel: str) -> str:
        return f"{self.root_path}/{rel}" if rel else self.root_path

    def _eligible(self, rel: str, st: os.stat_result) -> bool:
        fmt = stat.S_IFMT(st.st_mode)
        if fmt not in PIP_KINDS:
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
            seqs = self.journal.planned_chowns(self.root_dev, uid, gid, [
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
            self.journal.done(seqs)
        self.used.clear()
        for fd in self.to_close:
            os.close(fd)
        self.to_close.clear()

    def _change(self, dir_fd: int, name: str, st: os.stat_result) -> Optional[str]:
        """Change one entry of a directory others can write, through an O_PATH fd whose dev/ino/type match
        the listing's; the reason it was skipped, or None."""
        try:
            fd = os.open(name, O_ENTRY, dir_fd=dir_fd)
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
            chown_fd(fd, self.uid, self.gid)
            return None
        except OSError as error:
            return f"chown failed: {error.strerror}"
        finally:
            os.close(fd)

    # -- the walk ------------------------------------------------------------------------------------

    def run(self, root_fd: int, rel: str) -> None:
        """Give rel (a path below the root; '' is the root itself) and everything below it to uid:gid; the
        last changes may still be pending (finish())."""
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
            top_fd = open_below(root_fd, parent)
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
                outcome.skip(self._full(rel), MOUNT_POINT)
                return
            if stat.S_ISDIR(st.st_mode):
                try:
                    start_fd = os.open(name, O_DIR, dir_fd=top_fd)
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
            # Kept for the pending chunk, not flushed here: a worker runs hundreds of subtrees, and an fsync
            # each would cost more than their chowns. finish() applies what is left.
            if top_fd in self.used:
                self.to_close.append(top_fd)
                if len(self.to_close) >= self.budget:
                    self.flush()
            else:
                os.close(top_fd)

    def finish(self) -> None:
        """Journal and apply the last pending chunk: call once after the last run()."""
        self.flush()

    def _change_root(self, root_fd: int, st: os.stat_result) -> None:
        seqs = self.journal.planned_chowns(st.st_dev, self.uid, self.gid,
                                           [["", st.st_ino, st.st_uid, st.st_gid, st.st_mode]])
        try:
            os.fchown(root_fd, self.uid, self.gid)
            self.outcome.chowned += 1
        except OSError as error:
            self.outcome.skip(self.root_path, f"chown failed: {error.strerror}")
        self.journal.done(seqs)

    def _walk(self, start_fd: int, start_rel: str, start_st: os.stat_result) -> None:
        """Everything below start_fd (which it closes); directories after their contents. Written for speed
        (local names, no calls per entry): it costs most of the pass, and `chown -R` is the yardstick."""
        uid, gid, root_dev, mount_inos = self.uid, self.gid, self.root_dev, self.mount_inos
        outcome = self.outcome
        S_IFMT, S_IFDIR, S_IFREG = 0o170000, stat.S_IFDIR, stat.S_IFREG
        eligible, flush, full = self._eligible, self.flush, self._full
        scandir, open_dir, close, fstat = os.scandir, os.open, os.close, os.fstat
        changes, used, to_close = self.pending, self.used, self.to_close
        chunk, chunk_chars, max_rel, budget = self.CHUNK, self.CHUNK_CHARS, self.MAX_REL, self.budget
        given_away = self.given_away
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
                    limit = chunk if len(prefix) < 128 else max(1, chunk_chars // (len(prefix) + 256))
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
                            outcome.skip(full(prefix + name), MOUNT_POINT)
                            continue
                        fmt = st.st_mode & S_IFMT
                        if fmt == S_IFDIR:
                            pending.append((name, st))
                        elif (st.st_uid != uid or st.st_gid != gid) and (
                                fmt == S_IFREG and st.st_nlink == 1 or eligible(prefix + name, st)):
                            changes.append((fd, name, prefix + name, st, sealed))
                            used.add(fd)
                            if len(changes) >= limit:
                                flush()
                if pending:
                    name, st = pending.pop()
                    child_rel = rel + "/" + name if rel else name
                    if len(child_rel) > max_rel:
                        outcome.skip(full(child_rel[:256] + "..."), "too deep to journal (not entered)")
                        continue
                    if child_rel in given_away:
                        continue
                    try:
                        child = open_dir(name, O_DIR, dir_fd=fd)
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
                        if len(changes) >= (chunk if len(rel) < 128 else max(1, chunk_chars // (len(rel) + 256))):
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


def _chown_subtrees(root_fd: int, root: str, root_dev: int, mounts: frozenset, rels: list, owner: tuple,
                    journal: Journal, outcome: Outcome, jobs: Optional[int]) -> None:
    """Give the subtrees to owner: their units in worker processes when that pays (parallel.py), then, in
    this process and after the workers, what lies above the units."""
    uid, gid = owner

    def make_chowner(line, worker_outcome: Outcome) -> _Chowner:
        return _Chowner(line, root_dev, uid, gid, worker_outcome, root, mounts)

    given_away = chown_in_workers(root_fd, rels, make_chowner, journal, outcome, root_dev,
                                  _mount_inos(mounts, root_dev), root.rstrip("/") or "/", jobs)
    chowner = _Chowner(journal, root_dev, uid, gid, outcome, root, mounts, given_away)
    for rel in rels:
        chowner.run(root_fd, rel)
    chowner.finish()


@record
class Change:
    """One change the plan asks for, in apply's terms (paths relative to the cache root)."""

    kind: str  # "chown" or "rename"
    rel: str  # the entry, relative to the cache root ('' is the root itself, for chown only)
    uid: int = -1
    gid: int = -1
    new_name: str = ""  # rename: the new name, in the same directory


def apply_changes(root: str, changes: list, *, store: Store, stamp: str, owner_uid: int, owner_gid: int,
                  owner_name: Optional[str], names_ok: Callable[[list], Optional[str]],
                  extra_header: Optional[dict] = None, tool: str = "pip", jobs: Optional[int] = None) -> Outcome:
    """Apply the changes inside the cache root (`tool`'s cache, as the journal records), journal first. Refuses
    (RepairError, nothing changed) when the root cannot be opened without following a symlink or no longer
    looks like the installer's cache. jobs: worker processes for the chown pass (parallel.py); None decides
    from the CPUs and a first look at the tree."""
    try:
        root_fd = open_dir_nofollow(root)
    except OSError as error:
        raise RepairError(f"cannot open the cache {root} without following a symlink: {error.strerror}; "
                          "nothing was changed") from None
    try:
        root_st = check_cache_root(root_fd, root, names_ok)
        mounts = mounts_below(root)
        header = schema.Header(root, root_st.st_dev, root_st.st_ino, owner_uid, owner_gid, owner_name, time.time_ns(),
                               tool)
        journal = Journal.create(store, stamp, header, {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                                        "pid": os.getpid(), "euid": os.geteuid(),
                                                        **(extra_header or {})})
        outcome = Outcome(journal=journal.path)
        try:
            index = 0
            while index < len(changes):
                change = changes[index]
                if change.kind == "chown":
                    owner = (change.uid, change.gid)
                    end = index + 1
                    while end < len(changes) and changes[end].kind == "chown" and \
                            (changes[end].uid, changes[end].gid) == owner:
                        end += 1
                    _chown_subtrees(root_fd, root, root_st.st_dev, mounts, [c.rel for c in changes[index:end]],
                                    owner, journal, outcome, jobs)
                    index = end
                    continue
                if change.kind == "rename":
                    _rename(root_fd, root, change, journal, outcome)
                index += 1
            journal.end()
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


def _entry(root_fd: int, rel: str) -> tuple[int, str]:
    parent, _, name = rel.rpartition("/")
    if not name or name in (".", ".."):
        raise OSError(errno.EINVAL, "not a plain name", rel)
    return open_below(root_fd, parent), name


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
            fd = os.open(name, O_ENTRY, dir_fd=dir_fd)
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
        seq = journal.planned_rename(parent, name, new, st)
        try:
            rename_noreplace(dir_fd, name, new)
        except OSError as error:
            outcome.skip(full, f"cannot move it aside: {error.strerror}")
            return
        journal.done([seq])
        outcome.renamed.append((full, f"{os.path.dirname(full)}/{new}"))
    finally:
        os.close(dir_fd)


# --- a whole plan ------------------------------------------------------------------------------------


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


def apply_plan(plan, *, store: Optional[Store], environ: Mapping[str, str],
               pip_command: Optional[list] = None) -> Outcome:
    """Carry out the plan's changes: the filesystem ones through the journal, then pip's own commands
    (`pip cache remove`, `pip config --user set`) with the user's pip."""
    from pipdoctor.installers import installer_named
    from pipdoctor.remediation import holds_cache, names_check

    changes = []
    root = plan.cache_root
    for step in plan.steps:
        if step.kind == "rename" and step.targets == (plan.cache_root,):
            # The whole cache, renamed in the directory holding it (the user's own): journaled there, so undo
            # finds the copy by device and inode below that directory.
            if len([s for s in plan.steps if s.kind in ("chown", "rename")]) != 1:
                raise RepairError("a plan that moves the whole cache aside changes nothing else in it")
            root, name = os.path.split(plan.cache_root.rstrip("/"))
            changes.append(Change("rename", name, new_name=os.path.basename(step.new_names[0])))
        elif step.kind == "chown":
            changes += [Change("chown", _inside(plan.cache_root, t), step.uid, step.gid) for t in step.targets]
        elif step.kind == "rename":
            for target, new in zip(step.targets, step.new_names):
                if os.path.dirname(new) != os.path.dirname(target):
                    raise RepairError(f"{new} is not in the same directory as {target}")
                changes.append(Change("rename", _inside(plan.cache_root, target), new_name=os.path.basename(new)))
    outcome = Outcome()
    if changes:
        if store is None:
            raise RepairError("no place for the journal (HOME and XDG_DATA_HOME are unset); nothing was changed")
        whole = root != plan.cache_root
        names_ok = holds_cache(changes[0].rel) if whole else names_check(installer_named(plan.tool))
        outcome = apply_changes(root, changes, store=store, stamp=plan.stamp, owner_uid=plan.uid,
                                owner_gid=plan.gid, owner_name=plan.user, names_ok=names_ok,
                                extra_header={"steps": [s.kind for s in plan.steps if s.changes_files]},
                                tool=plan.tool)
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
