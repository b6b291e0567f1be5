"""The parallel walk of the cache (cachewalk.walk_cache with jobs > 1) gives exactly the serial walk's CacheWalk,
however the tree is split, on a tree holding every kind of entry the walk treats apart: foreign subtrees (of two
owners, sampled and not), symlinks, hard links, a FIFO, unreadable directories, mount points (tmpfs and a bind
mount, in a private mount namespace), names that are not UTF-8, a chain deeper than PATH_MAX and a moved-aside
copy. The walk runs as the cache's unprivileged owner, as `pipdoctor check` does; and its memory stays flat."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache, pip_python, pipdoctor_bin

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def user():
    """A throwaway unprivileged user of this file's own (prefix pwk)."""
    with sandbox.unprivileged_user("pwk") as made:
        yield made

# Runs as the cache's owner: the serial walk, then parallel ones split at different places; prints one JSON line.
WALK_ALL_WAYS = textwrap.dedent("""
    import json, os, sys
    from pipdoctor.cachewalk import walk_cache

    root = sys.argv[1]
    groups = os.getgroups()
    serial = walk_cache(root, os.getuid(), groups, jobs=1)
    forked = []

    def progress(count):  # called in the parent while the workers run: are there any?
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as children:
            forked.append(bool(children.read().split()))

    ways = {
        "jobs 2": dict(jobs=2),
        "jobs 3": dict(jobs=3),
        "split at the top, jobs 2": dict(jobs=2, first_look=(1, 1)),
        "split lower, jobs 3": dict(jobs=3, first_look=(40, 4)),
        "split at the top, jobs 3, progress": dict(jobs=3, first_look=(1, 1), progress=progress, progress_every=1),
    }
    differ = {name: repr(walk) for name, walk in ((name, walk_cache(root, os.getuid(), groups, **kwargs))
                                                   for name, kwargs in ways.items()) if walk != serial}
    print(json.dumps({"differ": differ, "serial": repr(serial), "forked": any(forked), "counts": dict(
        entries=serial.entries, symlinks=serial.symlinks, foreign=serial.foreign_entries,
        owners=len(serial.foreign_owners), subtrees=serial.foreign_subtree_count,
        sampled=[s.path for s in serial.foreign_subtrees], sample_entries=[s.entries for s in serial.foreign_subtrees],
        mount_points=serial.mount_points, hard_links=serial.hard_links, specials=serial.specials,
        unreadable=serial.unreadable_count, not_reached=dict(serial.not_reached), other_mounts=serial.other_mounts,
        moved_aside=serial.moved_aside_skipped, group_only=serial.group_only_entries,
        unwritable_own=serial.unwritable_own_count)}))
""")


def _chain_past_path_max(top: Path, foreign_uid: int) -> int:
    """Nested 200-byte names 30 deep (past PATH_MAX), made through dir fds, a foreign file at each level from the
    10th; returns how many foreign files."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    foreign = 0
    try:
        for level in range(30):
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.chown("d" * 200, os.stat(top).st_uid, os.stat(top).st_gid, dir_fd=fd, follow_symlinks=False)
            os.close(fd)
            fd = child
            if level >= 10:
                os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
                os.chown("leaf", foreign_uid, foreign_uid, dir_fd=fd, follow_symlinks=False)
                foreign += 1
    finally:
        os.close(fd)
    return foreign


def _every_kind_of_entry(user) -> tuple[Path, str]:
    """The user's cache with one of everything; returns it and the mount setup that adds its mount points."""
    cache = new_user_cache(user, files=400)
    chown_to_root(deep_entries(cache, "wheels", 8))  # more foreign subtrees than samples
    chown_to_root(deep_entries(cache, "http-v2", 3))
    other = deep_entries(cache, "wheels", 10)[-1]
    sandbox.chown_tree(other, 4243, 4243)  # a second foreign owner (a bare uid)

    def own(path) -> None:
        os.lchown(path, user.uid, user.gid)

    # a root-owned top-level dir with the user's files in it: its sample is counted by the workers too
    rootish = cache / "rootish"
    for index in range(6):
        (rootish / f"d{index}" / "inner").mkdir(parents=True)
        for name in ("a", "b"):
            (rootish / f"d{index}" / "inner" / name).write_bytes(b"x" * index)
        own(rootish / f"d{index}" / "inner" / "a")
    (cache / "wheels" / "link-out").symlink_to("/etc")
    (cache / "wheels" / "dangling").symlink_to(cache / "nowhere")
    for name in ("link-out", "dangling"):
        own(cache / "wheels" / name)
    (cache / "http-v2" / "hl-a").write_bytes(b"same")
    os.link(cache / "http-v2" / "hl-a", cache / "http-v2" / "hl-b")
    own(cache / "http-v2" / "hl-a")
    os.mkfifo(cache / "http-v2" / "fifo")
    own(cache / "http-v2" / "fifo")
    private = cache / "wheels" / "zz-private"  # root's, 0700: the user cannot list it
    private.mkdir(mode=0o700)
    (private / "secret.whl").write_bytes(b"x")
    readonly = cache / "wheels" / "zz-readonly"
    readonly.mkdir()
    own(readonly)
    readonly.chmod(0o555)
    group_only = cache / "selfcheck" / "group-root.json"
    group_only.write_bytes(b"{}")
    os.lchown(group_only, user.uid, 0)
    odd = os.path.join(os.fsencode(cache / "wheels"), b"caf\xe9")
    os.mkdir(odd)
    os.lchown(odd, user.uid, user.gid)
    for name, uid in ((b"\xff\xfe.whl", user.uid), (b"r\xe9oot.whl", 0)):
        with open(os.path.join(odd, name), "wb") as handle:
            handle.write(b"x")
        os.lchown(os.path.join(odd, name), uid, uid)
    closed = os.path.join(odd, b"zz-closed")  # the user's own, mode 000, below the name that is not UTF-8
    os.makedirs(os.path.join(closed, b"sub"))
    sandbox.chown_tree(Path(os.fsdecode(closed)), user.uid, user.gid)
    os.chmod(closed, 0)
    _chain_past_path_max(cache / "wheels", 0)
    aside = cache / "wheels.pipdoctor-20250101T000000Z"
    aside.mkdir()
    (aside / "old.whl").write_bytes(b"x")
    mnt = cache / "wheels" / "zz-mnt"
    mnt.mkdir()
    own(mnt)
    bound = cache / "selfcheck" / "bound.json"
    bound.write_bytes(b"{}")
    own(bound)
    setup = (f"mount -t tmpfs -o mode=0755,uid={user.uid},gid={user.gid} tmpfs {mnt}\n"
             f"touch {mnt}/inside-1 {mnt}/inside-2\n"
             f"mount --bind /etc/hostname {bound}\n")
    return cache, setup


@pytest.mark.root
def test_parallel_walk_equals_serial_walk_however_split(user):
    cache, setup = _every_kind_of_entry(user)
    python = sandbox.python_of(sandbox.pipdoctor_venv())
    run = sandbox.run_as(user, [python, "-c", WALK_ALL_WAYS, cache], mount_setup=setup, separate_stderr=True)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    result = json.loads(run.stdout)
    assert result["differ"] == {}, (result["serial"], result["differ"])
    assert result["forked"], "the forced split never had workers running"
    counts = result["counts"]
    # the tree holds what it should, so the comparison covers it
    assert counts["owners"] == 2 and counts["subtrees"] >= 13, counts
    wanted = sorted(counts["sampled"])
    assert counts["sampled"] == wanted and len(wanted) == 5, counts  # the smallest paths, sorted
    assert f"{cache}/rootish" in counts["sampled"], counts
    # rootish, its dirs and b files (not the user's a files), counted by the first look and the workers together
    assert counts["sample_entries"][counts["sampled"].index(f"{cache}/rootish")] == 1 + 6 * 3, counts
    assert counts["symlinks"] == 2 and counts["specials"] == 1 and counts["hard_links"] == 2, counts
    assert counts["mount_points"] == 2 and counts["other_mounts"] == [f"{cache}/wheels/zz-mnt"], counts
    assert counts["unreadable"] == 2 and counts["not_reached"] == {"EACCES": 2}, counts  # the deep chain: reached
    assert counts["moved_aside"] == 1 and counts["group_only"] == 1 and counts["unwritable_own"] >= 1, counts
    assert "wheels/caf\\udce9/zz-closed" in result["serial"], result["serial"]  # not UTF-8: kept as met

    # `check --jobs N` and `fix --jobs N` take the option; the documents are the same whatever N
    env = sandbox.pip_env(HOME=str(user.home), PIPDOCTOR_PYTHON=str(pip_python()))
    docs = []
    for jobs in ("1", "3"):
        proc = sandbox.run_as(user, [pipdoctor_bin(), "check", "--json", "--jobs", jobs], env=env, mount_setup=setup,
                              separate_stderr=True)
        assert proc.returncode == 1, proc
        docs.append(json.loads(proc.stdout))
    for doc in docs:  # the free space of a shared disk moves between two runs
        account = doc["accounts"][0]
        for holder in (account["cache"], *account["cache"].get("subdirs", ()), *account["caches"]):
            holder.pop("mount", None)
    assert docs[0] == docs[1]
    assert any(f["code"] == "PD103" for f in docs[0]["accounts"][0]["findings"]), docs[0]


@pytest.mark.parametrize("value", ["0", "x", "257", "-1", "٣"])
def test_jobs_takes_a_small_positive_number(value):
    for command in ("check", "fix"):
        proc = subprocess.run([sys.executable, "-m", "pipdoctor", command, "--jobs", value], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert proc.returncode == 2, proc
        assert proc.stderr.decode() == f"pipdoctor: error: --jobs takes a number from 1 to 256, not {value!r}\n"


def test_undo_refuses_jobs_it_would_not_use():
    """Undo walks no cache: `--jobs` with it is a mistake said in one line, not an option silently dropped."""
    proc = subprocess.run([sys.executable, "-m", "pipdoctor", "fix", "--undo", "--jobs", "2"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 2, proc
    assert proc.stderr.decode() == ("pipdoctor: error: --undo takes only a JOURNAL, --tool, --user, --yes and "
                                    "--json\n")


def test_memory_stays_flat_on_a_large_tree(tmp_path):
    """Over 200,000 entries, every one foreign to the walking uid (the most samples and counts): neither the parent
    nor a worker grows by more than a fixed bound over what it held before the walk (keeping every path would
    take tens of MB)."""
    cache = tmp_path / "cache"
    for first in range(16):  # wheels/ab/cd/-like buckets of empty files (mknod: one syscall each, fast to make)
        for second in range(16):
            bucket = cache / "wheels" / f"{first:02x}" / f"{second:02x}"
            bucket.mkdir(parents=True)
            fd = os.open(bucket, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for index in range(790):
                    os.mknod(f"{index:03x}.whl", dir_fd=fd)
            finally:
                os.close(fd)
    script = textwrap.dedent("""
        import json, os, resource, sys
        from pipdoctor.cachewalk import walk_cache
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        walk = walk_cache(sys.argv[1], os.getuid() + 1, [], jobs=2)
        print(json.dumps({"entries": walk.entries, "foreign": walk.foreign_entries, "before": before,
                          "parent": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                          "worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
    """)
    try:
        proc = subprocess.run([sys.executable, "-c", script, cache], cwd=REPO, stdout=subprocess.PIPE, check=True)
    finally:
        shutil.rmtree(cache)  # not left to pytest's basetemp, which would keep 200,000 files for three runs
    result = json.loads(proc.stdout)
    assert result["entries"] >= 200_000 and result["foreign"] == result["entries"], result
    assert result["worker"] > 0, result  # the walk did fork
    bound_kb = 8 * 1024
    assert result["parent"] - result["before"] < bound_kb, result
    assert result["worker"] - result["before"] < bound_kb, result


def test_a_worker_killed_mid_walk_costs_time_not_counts(tmp_path):
    """A worker that dies (the OOM killer, a stray kill -9) must not leave its share uncounted: the walk is done
    again in one process, and gives the serial walk's result."""
    cache = tmp_path / "cache"
    for first in range(8):
        for second in range(40):
            bucket = cache / "wheels" / f"{first:02x}" / f"{second:02x}"
            bucket.mkdir(parents=True)
            for index in range(30):
                (bucket / f"{index}.whl").write_bytes(b"x")
    script = textwrap.dedent("""
        import os, signal, sys
        from pipdoctor.cachewalk import walk_cache

        killed = []

        def progress(count):  # in the parent while the workers run: kill one of them, once
            if not killed:
                with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as children:
                    pids = [int(pid) for pid in children.read().split()]
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])

        serial = walk_cache(sys.argv[1], os.getuid() + 1, [], jobs=1)
        walk = walk_cache(sys.argv[1], os.getuid() + 1, [], jobs=2, first_look=(1, 1), progress=progress,
                          progress_every=100)
        print(bool(killed), walk == serial, walk.entries)
    """)
    proc = subprocess.run([sys.executable, "-c", script, cache], cwd=REPO, stdout=subprocess.PIPE, check=True)
    assert proc.stdout.decode().split() == ["True", "True", str(8 * 40 * 31 + 8 + 1)]
