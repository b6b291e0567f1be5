"""`pipdoctor fix` under attack: symlinks, hard links, swaps mid-run, a cache root that is a symlink to /.
Whatever lies outside the cache keeps its owner and its name (listings before and after)."""

from __future__ import annotations

import os

import pytest

from pipdoctor.cachewalk import walk_cache
from pipdoctor.installers.pip import PIP
from pipdoctor.remediation import names_check
from pipdoctor.repair.apply import Change, apply_changes
from pipdoctor.repair.fs import RepairError
from pipdoctor.repair.journal import Journal
from pipdoctor.repair.store import open_journal, root_store
from pipdoctor.repair.undo import undo
from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache, user_cache
from tests.fixkit import (fix_as_root, journal_header, journal_of, listing, outside_file, owner, plant_root_journal,
                          seed_failure, swap_when_journaled)

pytestmark = pytest.mark.root



@pytest.fixture
def outside(tmp_path):
    """A root-only dir outside every cache, holding a stand-in for /etc/shadow."""
    base = tmp_path / "outside"
    base.mkdir()
    os.chown(base, 0, 0)
    target = outside_file(base)
    return base, target


def test_symlink_in_the_cache_to_a_root_file_outside(user, outside, seal):
    base, shadow = outside
    cache = seed_failure(user)
    link = cache / "wheels" / "shadow"
    os.symlink(shadow, link)
    os.lchown(link, 0, 0)
    before = listing(base)
    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    assert listing(base) == before
    assert os.lstat(link).st_uid == user.uid  # the link itself, as chown -R does; never its target


def test_hard_link_to_a_file_outside_is_skipped_and_reported(user, outside, seal):
    base, shadow = outside
    cache = seed_failure(user)
    hard = cache / "wheels" / "hard-shadow"
    os.link(shadow, hard)
    before = listing(base)
    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert listing(base) == before
    applied = result.doc["applied"]
    assert applied["skipped_count"] == 1
    assert applied["skipped"][0]["path"] == str(hard) and "hard links" in applied["skipped"][0]["reason"]
    assert result.returncode == 1  # the check still sees the root-owned link: something remains


def test_cache_root_that_is_a_symlink_to_slash_is_refused(user, seal):
    slash = user.home / "evil-cache"
    os.symlink("/", slash)
    etc = user.home / "etc-cache"
    os.symlink("/etc", etc)
    before = {name: owner(os.path.join("/", name)) for name in os.listdir("/")}
    etc_before = listing_top("/etc")
    for link in (slash, etc):
        result = fix_as_root(seal, "--user", user.name, "--cache-dir", str(link), "--yes", "--json")
        assert result.returncode == 2, result.text()
        assert b"refusing to act on" in result.errors and b"nothing was changed" in result.errors
    assert {name: owner(os.path.join("/", name)) for name in os.listdir("/")} == before
    assert listing_top("/etc") == etc_before


def listing_top(path: str) -> dict:
    return {name: owner(os.path.join(path, name)) for name in os.listdir(path)}


def test_unsafe_roots_are_refused_by_the_repair_itself(tmp_path):
    home = tmp_path / "home"
    (home / ".bashrc").parent.mkdir()
    (home / ".bashrc").write_text("")
    for root in ("/", "/etc", "/usr", "/var"):
        # Refused as a system dir (by dev/ino) before the names are even looked at; the names check stays
        # behind it, so that a regression in either can never chown the machine's / here.
        with pytest.raises(RepairError, match="a system directory"):
            apply_changes(root, [Change("chown", "", 1, 1)], store=root_store(1, base=str(tmp_path / "j")),
                          stamp="t", owner_uid=1, owner_gid=1, owner_name=None, names_ok=names_check(PIP))
    with pytest.raises(RepairError, match="does not look like pip's cache"):
        apply_changes(str(home), [Change("chown", "", 1, 1)], store=root_store(1, base=str(tmp_path / "j")),
                      stamp="t", owner_uid=1, owner_gid=1, owner_name=None, names_ok=names_check(PIP))
    assert os.stat(home / ".bashrc").st_uid == 0


@pytest.mark.parametrize("swap", ["symlink", "hardlink"])
def test_entry_swapped_between_journal_and_change_is_skipped(user, outside, monkeypatch, swap, tmp_path):
    """The user swaps a root-owned HTTP-cache file (in a directory the user owns) for a link to the outside
    file right after the plan is journaled and before the change: the swapped name is skipped, reported."""
    base, shadow = outside
    cache = new_user_cache(user)
    victims = deep_entries(cache, "http-v2", 2)
    chown_to_root(victims)
    victim = victims[0]
    before = listing(base)
    real_write = Journal.write
    swapped = swap_when_journaled(monkeypatch, cache, victim,
                                  lambda name: os.symlink(shadow, name) if swap == "symlink" else os.link(shadow, name))
    store = root_store(user.uid, base=str(tmp_path / "journals"))
    outcome = apply_changes(str(cache), [Change("chown", "", user.uid, user.gid)], store=store, stamp="t",
                            owner_uid=user.uid, owner_gid=user.gid, owner_name=user.name, names_ok=names_check(PIP))
    assert swapped
    assert listing(base) == before
    assert [p for p, _ in outcome.skipped] == [str(victim)]
    assert "replaced by" in outcome.skipped[0][1]
    assert os.lstat(victims[1]).st_uid == user.uid
    # undo leaves the swapped-in link and the outside file alone, and restores the rest
    monkeypatch.setattr(Journal, "write", real_write)
    undone = undo(open_journal(store, "t.jsonl", writable=True), lambda tool: names_check(PIP), lambda root: None)
    assert listing(base) == before
    assert os.lstat(victims[1]).st_uid == 0 and undone.restored == outcome.chowned


def test_roots_journal_never_goes_through_the_users_home(user, seal):
    """The user's ~/.local is a symlink to a root-only dir: root's fix journals in its own store, not there."""
    cache = seed_failure(user)
    trap = seal.scratch / "trap"
    trap.mkdir()
    os.symlink(trap, user.home / ".local")
    os.lchown(user.home / ".local", user.uid, user.gid)
    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    assert journal_of(result).startswith("/var/lib/pipdoctor/journals/")
    assert os.listdir(trap) == []
    assert os.stat(cache / "wheels").st_uid == user.uid
    assert user_cache(user) == cache


@pytest.fixture
def bound(user):
    """An outside tree of root's (a dir with files, and a lone file) on the cache's own filesystem (next to the
    user's home), and a function bind-mounting a part of it at a path inside the cache; unmounted afterwards."""
    import shutil
    import subprocess

    base = user.home.parent / f"outside-{user.name}"
    (base / "tree" / "sub").mkdir(parents=True)
    outside_file(base / "tree" / "sub")
    outside_file(base, "lone")
    sandbox.chown_tree(base, 0, 0)
    mounted = []

    def bind(source, target):
        assert os.stat(source).st_dev == os.stat(target.parent).st_dev  # a bind mount of the same filesystem
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
        mounted.append(target)

    try:
        yield base, bind
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", str(target)], check=True)
        shutil.rmtree(base)


def _bind_outside_into(area, file_name, bound):
    """The outside tree bind-mounted on `area`/bound, and the outside lone file on `area`/file_name."""
    base, bind = bound
    (area / "bound").mkdir()
    (area / file_name).write_bytes(b"")
    bind(base / "tree", area / "bound")
    bind(base / "lone", area / file_name)


def test_bind_mount_of_an_outside_tree_is_neither_entered_nor_changed(user, bound, seal):
    base, _ = bound
    cache = seed_failure(user)
    _bind_outside_into(cache / "wheels", "bound.whl", bound)
    before = listing(base)
    walk = walk_cache(str(cache), user.uid, [user.gid])  # the check counts none of the outside files
    assert str(cache / "wheels" / "bound") in walk.other_mounts
    assert not any("shadow-standin" in str(s.path) for s in walk.foreign_subtrees)
    assert walk.files == sum(1 for p in (cache).rglob("*") if p.is_file() and "bound" not in str(p)) + 1

    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert listing(base) == before, result.text()
    skipped = {s["path"]: s["reason"] for s in result.doc["applied"]["skipped"]}
    assert "mount point" in skipped[str(cache / "wheels" / "bound")]
    assert "mount point" in skipped[str(cache / "wheels" / "bound.whl")]
    assert os.stat(cache / "wheels").st_uid == user.uid  # the rest of the cache is given back

    undone = fix_as_root(seal, "--user", user.name, "--undo", journal_of(result), "--json")
    assert undone.returncode == 0, undone.text()
    assert listing(base) == before and os.stat(cache / "wheels").st_uid == 0


def test_a_journal_naming_entries_behind_a_bind_mount_is_not_followed_by_undo(user, bound, seal):
    """A journal in root's store (damaged, or from before a bind mount was made in the cache) naming outside
    inodes reached through a bind mount, as given to the user by the fix: a root undo changes nothing outside."""
    base, _ = bound
    cache = new_user_cache(user)
    _bind_outside_into(cache / "http-v2", "lone", bound)
    sandbox.chown_tree(base, user.uid, user.gid)  # what a followed undo would hand to 4343
    before = listing(base)
    entries = []
    for rel, path in (("http-v2/bound/sub/shadow-standin", base / "tree" / "sub" / "shadow-standin"),
                      ("http-v2/bound/sub", base / "tree" / "sub"), ("http-v2/lone", base / "lone")):
        st = os.lstat(path)
        entries.append([rel, st.st_ino, 4343, 4343, st.st_mode])
    header = journal_header(cache, user.uid, user.gid)
    journal = plant_root_journal(seal, user.uid, "bound.jsonl", [header, {
        "t": "planned", "n": 1, "op": "chown", "dev": header["dev"], "new_uid": user.uid, "new_gid": user.gid,
        "started_ns": 2 ** 62, "entries": entries}])
    result = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
    assert listing(base) == before, result.text()
    assert result.doc["undone"]["restored"] == 0 and result.doc["undone"]["skipped_count"] == 3
    assert all("mount point" in s["reason"] for s in result.doc["undone"]["skipped"]), result.doc["undone"]
