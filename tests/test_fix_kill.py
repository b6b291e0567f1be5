"""`kill -9` in the middle of a large fix (a 200,000-entry synthetic cache), then `fix --undo`: all is back."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest

from pipdoctor.repair.parallel import LEFT_BY_A_WORKER
from tests import sandbox
from tests.checkkit import pipdoctor_bin, synthetic, with_pip
from tests.fixkit import fix_as_root, listing, root_journals

pytestmark = [pytest.mark.root, pytest.mark.slow]

# ~2.4 entries per file in pip's layout (hash dirs): 82,000 files make about 200,000 entries.
FILES = 82_000


@contextlib.contextmanager
def _tmpfs_cache_user(prefix: str):
    """A user whose ~/.cache is a private tmpfs: 200,000 entries are made and dropped in seconds, whatever
    the load on the shared disk (the journal stays on disk, in ~/.local/share)."""
    with sandbox.unprivileged_user(prefix) as made:
        cache_home = made.home / ".cache"
        cache_home.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g,nr_inodes=1m,mode=0755", "tmpfs", str(cache_home)],
                       check=True)
        try:
            os.chown(cache_home, made.uid, made.gid)
            yield made
        finally:
            subprocess.run(["umount", "--lazy", str(cache_home)], check=True)


@pytest.fixture
def user():
    with _tmpfs_cache_user("pdz") as made:
        yield made


@pytest.fixture
def pfs_user():
    with _tmpfs_cache_user("pfs") as made:
        yield made


def test_kill_9_mid_fix_then_undo_restores_everything(user, seal):
    cache = user.home / ".cache" / "pip"
    synthetic.build_cache(str(cache), FILES, foreign_share=0.0, owner=(0, 0), seed=3)
    os.chown(cache, user.uid, user.gid)  # root's everything below a cache dir that is the user's
    before = listing(cache)
    assert len(before) > 190_000
    journals = root_journals(seal, user.uid)
    proc = subprocess.Popen(seal.argv([pipdoctor_bin(), "fix", "--user", user.name, "--yes"]),
                            env=with_pip(None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            found = list(journals.glob("*.jsonl")) if journals.is_dir() else []
            if found and found[0].stat().st_size > 3_000_000:  # a good part of the chown pass is done
                break
            assert proc.poll() is None, "the fix ended before it could be killed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # pipdoctor itself, not only the unshare/sh that exec'd it
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    journal = found[0]
    middle = listing(cache)
    changed = sum(1 for k, v in middle.items() if v[0] == user.uid) - 1
    assert 0 < changed < len(before) - 1, changed  # really half-done
    assert b'"t":"end"' not in journal.read_bytes()

    inside = f"/var/lib/pipdoctor/journals/{user.uid}/{journal.name}"
    undone = fix_as_root(seal, "--user", user.name, "--undo", inside, "--json")
    assert undone.returncode == 0, undone.text()
    assert listing(cache) == before
    assert fix_as_root(seal, "--user", user.name, "--undo", inside).returncode == 0  # twice: still fine
    assert listing(cache) == before


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: the chown pass runs in one process")
@pytest.mark.parametrize("victim", ["worker", "parent"])
def test_kill_9_of_one_process_of_a_parallel_fix_then_undo_restores_everything(pfs_user, seal, victim):
    """The chown pass in worker processes (repair/parallel.py): a worker killed mid-chunk leaves a chunk half
    done that the parent's journal holds, and the parent finishes the rest; the parent killed alone leaves
    workers that change nothing unjournaled before they go. Either way undo puts every owner back."""
    import psutil

    user = pfs_user
    cache = user.home / ".cache" / "pip"
    synthetic.build_cache(str(cache), FILES // 3, foreign_share=0.0, owner=(0, 0), seed=7)
    os.chown(cache, user.uid, user.gid)
    before = listing(cache)
    journals = root_journals(seal, user.uid)
    proc = subprocess.Popen(seal.argv([pipdoctor_bin(), "fix", "--user", user.name, "--yes", "--json"]),
                            env=with_pip(None), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd="/",
                            start_new_session=True)
    main = psutil.Process(proc.pid)  # unshare execs sh, which execs pipdoctor: the same process
    deadline = time.monotonic() + 120
    workers = []
    try:
        while time.monotonic() < deadline:
            found = list(journals.glob("*.jsonl")) if journals.is_dir() else []
            workers = main.children() if found and found[0].stat().st_size > 1_000_000 else []
            if len(workers) >= 2:  # a first chunk is journaled and the workers are at it
                break
            assert proc.poll() is None, "the fix ended before a worker could be killed"
            time.sleep(0.01)
        assert len(workers) >= 2, "no worker processes seen"
        if victim == "worker":
            workers[0].kill()
            output, _ = proc.communicate(timeout=300)
            assert proc.returncode == 1  # a part was left: said, and left to the check after the fix
            doc = json.loads(output)
            assert any(s["reason"] == LEFT_BY_A_WORKER for s in doc["applied"]["skipped"])
            assert b'"t":"end"' in found[0].read_bytes()
        else:
            main.kill()
            proc.wait()
            psutil.wait_procs(workers, timeout=60)
            assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
        proc.wait()
    middle = listing(cache)
    changed = sum(1 for k, v in middle.items() if v[0] == user.uid) - 1
    assert 0 < changed < len(before) - 1, changed  # really part-done

    inside = f"/var/lib/pipdoctor/journals/{user.uid}/{found[0].name}"
    undone = fix_as_root(seal, "--user", user.name, "--undo", inside, "--json")
    assert undone.returncode == 0, undone.text()
    assert listing(cache) == before
