"""`pipdoctor fix` under attack: symlinks, hard links, swaps mid-run, a cache root that is a symlink to /.
Whatever lies outside the cache keeps its owner and its name (listings before and after)."""

from __future__ import annotations

import os

import pytest

from pipdoctor import ownership, repair
from pipdoctor.remediation import cache_names_problem
from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache, user_cache
from tests.fixkit import fix_as_root, journal_of, listing, outside_file, owner, seed_failure

pytestmark = pytest.mark.root



@pytest.fixture
def outside(tmp_path):
    """A root-only dir outside every cache, holding a stand-in for /etc/shadow."""
    base = tmp_path / "outside"
    base.mkdir()
    os.chown(base, 0, 0)
    target = outside_file(base)
    return base, target


def test_symlink_in_the_cache_to_a_root_file_outside(user, outside):
    base, shadow = outside
    cache = seed_failure(user)
    link = cache / "wheels" / "shadow"
    os.symlink(shadow, link)
    os.lchown(link, 0, 0)
    before = listing(base)
    result = fix_as_root("--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    assert listing(base) == before
    assert os.lstat(link).st_uid == user.uid  # the link itself, as chown -R does; never its target


def test_hard_link_to_a_file_outside_is_skipped_and_reported(user, outside):
    base, shadow = outside
    cache = seed_failure(user)
    hard = cache / "wheels" / "hard-shadow"
    os.link(shadow, hard)
    before = listing(base)
    result = fix_as_root("--user", user.name, "--yes", "--json")
    assert listing(base) == before
    applied = result.doc["applied"]
    assert applied["skipped_count"] == 1
    assert applied["skipped"][0]["path"] == str(hard) and "hard links" in applied["skipped"][0]["reason"]
    assert result.returncode == 1  # the check still sees the root-owned link: something remains


def test_cache_root_that_is_a_symlink_to_slash_is_refused(user):
    slash = user.home / "evil-cache"
    os.symlink("/", slash)
    etc = user.home / "etc-cache"
    os.symlink("/etc", etc)
    before = {name: owner(os.path.join("/", name)) for name in os.listdir("/")}
    etc_before = listing_top("/etc")
    for link in (slash, etc):
        result = fix_as_root("--user", user.name, "--cache-dir", str(link), "--yes", "--json")
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
        with pytest.raises(repair.RepairError, match="a system directory"):
            repair.apply_changes(root, [repair.Change("chown", "", 1, 1)], journal_dir_path=str(tmp_path / "j"),
                                 stamp="t", owner_uid=0, owner_gid=0, owner_name="root", home=None,
                                 names_ok=cache_names_problem)
    with pytest.raises(repair.RepairError, match="does not look like pip's cache"):
        repair.apply_changes(str(home), [repair.Change("chown", "", 1, 1)], journal_dir_path=str(tmp_path / "j"),
                             stamp="t", owner_uid=0, owner_gid=0, owner_name="root", home=None,
                             names_ok=cache_names_problem)
    assert os.stat(home / ".bashrc").st_uid == 0


@pytest.mark.parametrize("swap", ["symlink", "hardlink"])
def test_entry_swapped_between_journal_and_change_is_skipped(user, outside, monkeypatch, swap):
    """The user swaps a root-owned HTTP-cache file (in a directory the user owns) for a link to the outside
    file right after the plan is journaled and before the change: the swapped name is skipped, reported."""
    base, shadow = outside
    cache = new_user_cache(user)
    victims = deep_entries(cache, "http-v2", 2)
    chown_to_root(victims)
    victim = victims[0]
    before = listing(base)
    real_write = repair.Journal.write
    swapped = []

    def write_then_swap(self, lines, sync=True):
        real_write(self, lines, sync)
        if not swapped and any(f'["{os.path.relpath(victim, cache)}",' in line for line in lines):
            os.unlink(victim)
            if swap == "symlink":
                os.symlink(shadow, victim)
            else:
                os.link(shadow, victim)
            swapped.append(True)

    monkeypatch.setattr(repair.Journal, "write", write_then_swap)
    outcome = repair.apply_changes(str(cache), [repair.Change("chown", "", user.uid, user.gid)],
                                   journal_dir_path=str(user.home / "journals"), stamp="t", owner_uid=user.uid,
                                   owner_gid=user.gid, owner_name=user.name, home=str(user.home),
                                   names_ok=cache_names_problem)
    assert swapped
    assert listing(base) == before
    assert [p for p, _ in outcome.skipped] == [str(victim)]
    assert "replaced by" in outcome.skipped[0][1]
    assert os.lstat(victims[1]).st_uid == user.uid
    # undo leaves the swapped-in link and the outside file alone, and restores the rest
    monkeypatch.setattr(repair.Journal, "write", real_write)
    undone = repair.undo(outcome.journal, cache_names_problem, lambda root: None)
    assert listing(base) == before
    assert os.lstat(victims[1]).st_uid == 0 and undone.restored == outcome.chowned


def test_journal_is_not_written_through_a_symlink_in_the_users_home(user, tmp_path):
    cache = seed_failure(user)
    trap = tmp_path / "trap"
    trap.mkdir()
    os.symlink(trap, user.home / ".local")
    os.lchown(user.home / ".local", user.uid, user.gid)
    result = fix_as_root("--user", user.name, "--yes")
    assert result.returncode == 2, result.text()
    assert b"journal" in result.errors and b"nothing was changed" in result.errors
    assert os.listdir(trap) == []
    assert os.stat(cache / "wheels").st_uid == 0
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


def test_bind_mount_of_an_outside_tree_is_neither_entered_nor_changed(user, bound):
    base, _ = bound
    cache = seed_failure(user)
    _bind_outside_into(cache / "wheels", "bound.whl", bound)
    before = listing(base)
    walk = ownership.walk_cache(str(cache), user.uid, [user.gid])  # the check counts none of the outside files
    assert str(cache / "wheels" / "bound") in walk.other_mounts
    assert not any("shadow-standin" in str(s.path) for s in walk.foreign_subtrees)
    assert walk.files == sum(1 for p in (cache).rglob("*") if p.is_file() and "bound" not in str(p)) + 1

    result = fix_as_root("--user", user.name, "--yes", "--json")
    assert listing(base) == before, result.text()
    skipped = {s["path"]: s["reason"] for s in result.doc["applied"]["skipped"]}
    assert "mount point" in skipped[str(cache / "wheels" / "bound")]
    assert "mount point" in skipped[str(cache / "wheels" / "bound.whl")]
    assert os.stat(cache / "wheels").st_uid == user.uid  # the rest of the cache is given back

    undone = fix_as_root("--user", user.name, "--undo", journal_of(result), "--json")
    assert undone.returncode == 0, undone.text()
    assert listing(base) == before and os.stat(cache / "wheels").st_uid == 0


def test_forged_journal_naming_entries_behind_a_bind_mount_is_not_followed_by_undo(user, bound):
    """The journal is the user's file: a root undo of one naming outside inodes reached through a bind mount
    in the cache (as 'given to root by the fix', to be 'given back' to the user) changes nothing outside."""
    import json

    base, _ = bound
    cache = new_user_cache(user)
    _bind_outside_into(cache / "http-v2", "lone", bound)
    before = listing(base)
    entries = []
    for rel, path in (("http-v2/bound/sub/shadow-standin", base / "tree" / "sub" / "shadow-standin"),
                      ("http-v2/bound/sub", base / "tree" / "sub"), ("http-v2/lone", base / "lone")):
        st = os.lstat(path)
        entries.append([rel, st.st_ino, user.uid, user.gid, st.st_mode])
    root_st = os.stat(cache)
    journals = user.home / "journals"
    journals.mkdir()
    forged = journals / "forged.jsonl"
    forged.write_text("\n".join(json.dumps(r) for r in (
        {"t": "header", "version": repair.JOURNAL_VERSION, "cache_root": str(cache), "dev": root_st.st_dev,
         "ino": root_st.st_ino, "user": user.name, "uid": user.uid, "gid": user.gid},
        {"t": "planned", "n": 1, "op": "chown", "dev": root_st.st_dev, "new_uid": 0, "new_gid": 0,
         "entries": entries})) + "\n")
    sandbox.chown_tree(journals, user.uid, user.gid)
    result = fix_as_root("--user", user.name, "--undo", str(forged), "--json")
    assert listing(base) == before, result.text()
    assert result.doc["undone"]["restored"] == 0 and result.doc["undone"]["skipped_count"] == 3
    assert all("mount point" in s["reason"] for s in result.doc["undone"]["skipped"]), result.doc["undone"]
