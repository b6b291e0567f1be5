"""Helpers for the `pipdoctor fix` tests: run fix, list every entry of a tree, build links and caches."""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from tests import sandbox
from tests.checkkit import new_user_cache, pipdoctor_bin, with_pip


@dataclass
class FixRun:
    returncode: int
    output: bytes  # stdout (the JSON document with --json)
    errors: bytes  # stderr

    @property
    def doc(self) -> dict:
        return json.loads(self.output)

    def text(self) -> str:
        return (self.output + self.errors).decode("utf-8", "replace")


def seed_failure(user) -> Path:
    """The seed failure: the user's cache, with `wheels` and everything in it root's (after `sudo pip`)."""
    cache = new_user_cache(user)
    sandbox.chown_tree(cache / "wheels", 0, 0)
    return cache


def fix_as_root(seal, *args: str, env=None, cwd=None) -> FixRun:
    """`pipdoctor fix` as root, sealed (tests/sealed.py): root's journal store is seal.store."""
    proc = sandbox.run([pipdoctor_bin(), "fix", *args], env=with_pip(env), cwd=cwd, separate_stderr=True,
                       timeout=600, mount_setup=seal.setup)
    return FixRun(proc.returncode, proc.stdout, proc.stderr)


def root_journals(seal, uid: int) -> Path:
    """Root's journal dir for uid's fixes, as the host sees it (/var/lib/pipdoctor/journals/UID in the seal)."""
    return seal.store / "journals" / str(uid)


def journal_header(cache: Path, uid: int, gid: int, **extra) -> dict:
    """A valid header for a journal of the cache (the fix gives entries to uid:gid)."""
    st = os.stat(cache)
    from pipdoctor.repair.schema import VERSION

    return {"t": "header", "version": VERSION, "cache_root": str(cache), "dev": st.st_dev, "ino": st.st_ino,
            "user": None, "uid": uid, "gid": gid, "started_ns": 1, **extra}


def plant_root_journal(seal, uid: int, name: str, lines: list) -> str:
    """A journal in root's store (dicts become JSON lines, bytes go as they are): as if root had written it.
    Returns its path inside the seal."""
    folder = root_journals(seal, uid)
    for part in (seal.store, seal.store / "journals", folder):
        part.mkdir(mode=0o700, exist_ok=True)
    data = b"".join(line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n" for line in lines)
    (folder / name).write_bytes(data)
    (folder / name).chmod(0o600)
    return f"/var/lib/pipdoctor/journals/{uid}/{name}"


def host_path(seal, path: str) -> Path:
    """Where a path inside the seal's /var/lib (root's journal store) is on the host."""
    assert path.startswith("/var/lib/"), path
    return seal.varlib / path[len("/var/lib/"):]


def fix_as(user, *args: str, env=None) -> FixRun:
    env = with_pip(sandbox.pip_env(HOME=str(user.home)) if env is None else env)
    proc = sandbox.run_as(user, [pipdoctor_bin(), "fix", *args], env=env, separate_stderr=True, timeout=600)
    return FixRun(proc.returncode, proc.stdout, proc.stderr)


def listing(top: Path) -> dict:
    """Every entry below top (and top): relative path -> (uid, gid, mode, inode), symlinks not followed."""
    top = str(top)
    result = {}
    st = os.lstat(top)
    result["."] = (st.st_uid, st.st_gid, st.st_mode, st.st_ino)
    stack = [top]
    while stack:
        path = stack.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                result[os.path.relpath(entry.path, top)] = (st.st_uid, st.st_gid, st.st_mode, st.st_ino)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return result


def owner(path: Path) -> tuple:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_ino


def outside_file(tmp: Path, name: str = "shadow-standin") -> Path:
    """A root-owned 0640 file outside any cache, standing in for /etc/shadow."""
    path = tmp / name
    path.write_text("root:$6$secret:19000:0:99999:7:::\n")
    os.chown(path, 0, 0)
    path.chmod(0o640)
    return path


def links_fixture(tag: str, *names: str):
    """A module-scoped pytest fixture: a links_folder(tag, *names), removed after the module's tests."""

    @pytest.fixture(scope="module")
    def links():
        folder = links_folder(tag, *names)
        yield folder
        shutil.rmtree(folder, ignore_errors=True)

    return links


def links_folder(tag: str, *names: str) -> Path:
    """A world-readable find-links folder with tiny sdists and the build backend's wheels (offline)."""
    folder = sandbox.SANDBOX / f"links-fix-{tag}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    with sandbox.umask(0o022):
        folder.mkdir(parents=True)
        for name in names or ("pdtiny",):
            sandbox.build_sdist(folder, name=name)
        for name, version in sandbox.BUILD_WHEELS.items():
            shutil.copy(sandbox.wheel_file(name, version), folder)
    return folder


def journal_of(run: FixRun) -> Optional[str]:
    applied = run.doc.get("applied") or {}
    return applied.get("journal")


def fixed_by_root(user, seal) -> tuple:
    """The seed failure, fixed by root (sealed): (cache, its listing before the fix, the journal)."""
    cache = seed_failure(user)
    before = listing(cache)
    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    return cache, before, journal_of(result)


def wheels_in(path: Path) -> list:
    return sorted(path.rglob("*.whl")) if path.exists() else []


def swap_when_journaled(monkeypatch, cache, victim, replace) -> list:
    """The user's race against root's fix: right after the journal record naming `victim` is written (and before
    its change), `replace(victim)` swaps it (a symlink, a hard link). Returns the list the pid of the process
    that swapped is added to (the journal's writer: the parent, also when a worker makes the change)."""
    from pipdoctor.repair.journal import Journal

    real_write = Journal.write
    swapped: list = []

    def write_then_swap(self, lines, sync=True):
        real_write(self, lines, sync)
        if not swapped and any(f'["{os.path.relpath(victim, cache)}",' in line for line in lines):
            os.unlink(victim)
            replace(victim)
            swapped.append(os.getpid())

    monkeypatch.setattr(Journal, "write", write_then_swap)
    return swapped
