"""Root's chown pass in worker processes (repair/parallel.py): the same result as one process, one journal that
undoes exactly, and an entry swapped after its chunk was journaled still skipped."""

from __future__ import annotations

import os
import subprocess

import pytest

from pipdoctor.installers.pip import PIP
from pipdoctor.remediation import names_check
from pipdoctor.repair import parallel
from pipdoctor.repair.apply import Change, apply_changes
from pipdoctor.repair.fs import RepairError
from pipdoctor.repair.store import open_journal, root_store
from pipdoctor.repair.undo import undo
from tests import sandbox
from tests.checkkit import synthetic
from tests.fixkit import listing, outside_file, swap_when_journaled

pytestmark = pytest.mark.root


@pytest.fixture
def user():
    with sandbox.unprivileged_user("pfs") as made:
        yield made


def _awkward_cache(root, user, outside):
    """A synthetic cache, root's throughout, with what a walk must not follow or change: a symlink to a root
    file outside, a hard link to it, a subtree already the user's, and a name that is not UTF-8."""
    synthetic.build_cache(str(root), 3_000, foreign_share=0.0, owner=(0, 0), seed=9)
    os.chown(root, user.uid, user.gid)
    os.symlink(outside, root / "wheels" / "shadow")
    os.lchown(root / "wheels" / "shadow", 0, 0)
    os.link(outside, root / "http-v2" / "hard")
    mine = root / "http-v2" / "mine"
    (mine / "deeper").mkdir(parents=True)
    sandbox.chown_tree(mine, user.uid, user.gid)
    odd = os.fsencode(str(root / "wheels")) + b"/caf\xe9"
    os.mkdir(odd)
    os.close(os.open(odd + b"/f", os.O_CREAT | os.O_WRONLY, 0o644))


def _fix(cache, user, journals, jobs: int):
    return apply_changes(str(cache), [Change("chown", "", user.uid, user.gid)],
                         store=root_store(user.uid, base=str(journals)), stamp=f"jobs{jobs}", owner_uid=user.uid,
                         owner_gid=user.gid, owner_name=user.name, names_ok=names_check(PIP), jobs=jobs)


def _owners(tree: dict) -> dict:
    return {rel: (uid, gid, mode) for rel, (uid, gid, mode, _) in tree.items()}


@pytest.mark.parametrize("max_units", [parallel.MAX_UNITS, 5])
def test_workers_change_what_one_process_changes_and_undo_restores_exactly(user, tmp_path, monkeypatch, max_units):
    """Also with the units capped (5: the parent's own pass then enters the directories the cap left out)."""
    monkeypatch.setattr(parallel, "MAX_UNITS", max_units)
    outside = outside_file(tmp_path)
    caches = {jobs: tmp_path / f"cache{jobs}" for jobs in (1, 2)}
    for cache in caches.values():
        _awkward_cache(cache, user, outside)
    before = {jobs: listing(cache) for jobs, cache in caches.items()}
    outcomes = {jobs: _fix(cache, user, tmp_path / "journals", jobs) for jobs, cache in caches.items()}
    after = {jobs: listing(cache) for jobs, cache in caches.items()}

    assert _owners(after[2]) == _owners(after[1])
    assert outcomes[2].chowned == outcomes[1].chowned > 5_000
    skipped = {jobs: sorted((os.path.relpath(path, caches[jobs]), why) for path, why in outcome.skipped)
               for jobs, outcome in outcomes.items()}
    assert skipped[2] == skipped[1] and [rel for rel, _ in skipped[2]] == ["http-v2/hard"]
    assert os.stat(outside).st_uid == 0
    assert not any(uid != user.uid for rel, (uid, *_) in after[2].items() if rel not in ("wheels/shadow",
                                                                                      "http-v2/hard"))
    # Several workers' chunks, one journal: each record whole, and undo puts every owner back.
    journal = open_journal(root_store(user.uid, base=str(tmp_path / "journals")), "jobs2.jsonl", writable=True)
    undone = undo(journal, lambda tool: names_check(PIP), lambda root: None)
    assert undone.skipped_count == 0 and undone.restored == outcomes[2].chowned
    assert listing(caches[2]) == before[2]


def test_an_entry_swapped_after_its_chunk_was_journaled_is_skipped_by_the_worker(user, tmp_path, monkeypatch):
    """The parent writes the journal, the worker changes: the user swaps an entry of a directory they own for a
    symlink to a root file right after its record is synced and before the worker's change."""
    outside = outside_file(tmp_path)
    cache = tmp_path / "cache"
    synthetic.build_cache(str(cache), 400, foreign_share=0.0, owner=(0, 0), seed=4)
    os.chown(cache, user.uid, user.gid)
    bucket = next(p for p in sorted((cache / "http-v2").rglob("*")) if p.is_file()).parent
    os.chown(bucket, user.uid, user.gid)  # the user may rename in it: the worker re-checks by device and inode
    victim = sorted(bucket.iterdir())[0]
    swapped = swap_when_journaled(monkeypatch, cache, victim, lambda name: os.symlink(outside, name))
    outcome = _fix(cache, user, tmp_path / "journals", 2)
    assert swapped == [os.getpid()]  # swapped by the journal's writer, the parent; changed by a worker
    assert os.stat(outside).st_uid == 0 and os.lstat(victim).st_uid == 0
    assert [p for p, _ in outcome.skipped] == [str(victim)]
    assert "replaced by a symlink" in outcome.skipped[0][1]


def test_a_full_disk_under_the_journal_stops_every_worker_before_its_change(user, tmp_path):
    """The parent cannot write a worker's chunk record (a 16 kB store): no worker changes anything, the pass
    stops with the undo command, and the journal cut short still undoes."""
    cache = tmp_path / "cache"
    synthetic.build_cache(str(cache), 3_000, foreign_share=0.0, owner=(0, 0), seed=6)
    os.chown(cache, user.uid, user.gid)
    before = listing(cache)
    store = tmp_path / "store"
    store.mkdir(mode=0o755)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", str(store)], check=True)
    try:
        with pytest.raises(RepairError, match="^stopped half-way: No space left on device.*fix --undo "):
            _fix(cache, user, store, 2)
        assert listing(cache) == before
        undone = undo(open_journal(root_store(user.uid, base=str(store)), "jobs2.jsonl", writable=True),
                      lambda tool: names_check(PIP), lambda root: None)
        assert undone.restored == 0 and undone.skipped_count == 0
    finally:
        subprocess.run(["umount", str(store)], check=True)
