"""The journal under stress: replaced by a link or a FIFO, cut short, on a full disk, and a file the user
re-created on a reused inode after the fix. Undo touches only what the fix changed."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pipdoctor.installers.pip import PIP
from pipdoctor.remediation import names_check
from pipdoctor.repair import schema
from pipdoctor.repair.apply import Change, apply_changes
from pipdoctor.repair.journal import latest_fix_journals
from pipdoctor.repair.store import Store, open_journal, root_store
from pipdoctor.repair.undo import undo
from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache
from tests.fixkit import (fixed_by_root, fix_as, fix_as_root, host_path, journal_of, listing, outside_file, root_journals,
                          seed_failure)

pytestmark = pytest.mark.root


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_a_journal_name_that_is_a_link_or_a_fifo_is_refused(user, kind, seal):
    cache, _, journal = fixed_by_root(user, seal)
    sudoers = outside_file(seal.scratch, "sudoers-standin")
    content = sudoers.read_bytes()
    fixed = listing(cache)
    journal_file = host_path(seal, journal)
    os.unlink(journal_file)
    if kind == "symlink":
        os.symlink(sudoers, journal_file)
    elif kind == "hardlink":
        os.link(sudoers, journal_file)
    else:
        os.mkfifo(journal_file)  # opening it to read would wait for a writer for ever
    result = fix_as_root(seal, "--user", user.name, "--undo", journal)
    assert result.returncode == 2, result.text()
    assert result.errors.startswith(b"pipdoctor: error: ") and result.errors.count(b"\n") == 1
    assert sudoers.read_bytes() == content and listing(cache) == fixed


def test_a_file_recreated_on_the_same_inode_after_the_fix_is_left_alone_by_undo(user, seal):
    """The user deletes a wheel the fix gave back and writes a private file at the same path: ext4 hands out
    the freed inode at once, so device, inode, type and owner all match the journal; its ctime does not."""
    cache, before, journal = fixed_by_root(user, seal)
    wheel = sorted((cache / "wheels").rglob("*.whl"))[0]
    old_ino = os.lstat(wheel).st_ino
    made = sandbox.run_as(user, ["sh", "-c", f"rm -- '{wheel}' && umask 077 && echo private > '{wheel}'"])
    assert made.returncode == 0, made.stdout
    new = os.lstat(wheel)
    reused = new.st_ino == old_ino
    result = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
    assert result.returncode == 1, (result.text(), os.stat(wheel))  # something was skipped
    after = os.lstat(wheel)
    assert (after.st_uid, after.st_gid, after.st_mode) == (new.st_uid, new.st_gid, new.st_mode) == \
        (user.uid, user.gid, 0o100600)
    skipped = {s["path"]: s["reason"] for s in result.doc["undone"]["skipped"]}
    assert result.doc["undone"]["skipped_count"] == 1 and str(wheel) in skipped
    if reused:
        assert "re-created since the fix" in skipped[str(wheel)]  # and its directory, with a new entry, is not
    else:  # a filesystem that did not reuse the inode: the inode check catches it
        assert "inode" in skipped[str(wheel)]
    rest = {k: v for k, v in listing(cache).items() if k != os.path.relpath(wheel, cache)}
    assert rest == {k: v for k, v in before.items() if k != os.path.relpath(wheel, cache)}


def test_undo_keeps_a_mode_the_user_set_after_the_fix(user, seal):
    """Undo gives owners back, never modes: chown changes no mode bit undo could restore."""
    cache = new_user_cache(user, files=20)
    chown_to_root(deep_entries(cache, "http-v2", 2))
    target = deep_entries(cache, "http-v2", 1)[0]
    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    os.chmod(target, 0o600)
    os.utime(target)  # nothing later than the fix's time would stop undo here: test the mode rule alone
    journal = journal_of(result)
    with open(host_path(seal, journal), "rb") as handle:
        lines = [line for line in handle.read().split(b"\n") if b'"t":"done"' not in line]
    with open(host_path(seal, journal), "wb") as handle:  # no ctime bound: the mode rule alone
        handle.write(b"\n".join(lines))
    undone = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
    assert undone.returncode == 0, undone.text()
    st = os.lstat(target)
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o600)


@pytest.mark.parametrize("old_style", [False, True])
def test_a_journal_cut_short_undoes_and_undoes_again(user, old_style, seal):
    """kill -9 (or a full disk) in the middle of writing a chunk record leaves half a line, and that chunk was
    never applied (each record is fsynced before its changes). Undo works, and so does a second one. The
    old style: an earlier undo glued its `undone` record onto the cut line."""
    cache, before, journal = fixed_by_root(user, seal)
    with open(host_path(seal, journal), "rb") as handle:
        lines = handle.read().rstrip(b"\n").split(b"\n")
    assert lines[-1].startswith(b'{"t":"end"')
    planned = next(line for line in lines if line.startswith(b'{"t":"planned"'))
    cut = lines[:-1] + [planned.replace(b'"n":1,', b'"n":99,')[:len(planned) // 2]]
    data = b"\n".join(cut)
    if old_style:
        data += b'{"t":"undone","at":"2024-01-01T00:00:00+0000","restored":0,"skipped":0}\n'
    with open(host_path(seal, journal), "wb") as handle:
        handle.write(data)
    for _ in range(2):
        undone = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
        assert undone.returncode == 0, undone.text()
        assert listing(cache) == before
    with open(host_path(seal, journal), "rb") as handle:
        tail = handle.read().split(b"\n")
    assert [line[:14] for line in tail[-3:]] == [b'{"t":"undone",', b'{"t":"undone",', b""]


def test_a_record_cut_short_before_others_is_still_an_error(user, seal):
    cache, _, journal = fixed_by_root(user, seal)
    with open(host_path(seal, journal), "rb") as handle:
        lines = handle.read().split(b"\n")
    lines.insert(1, lines[1][:20])
    with open(host_path(seal, journal), "wb") as handle:
        handle.write(b"\n".join(lines))
    result = fix_as_root(seal, "--user", user.name, "--undo", journal)
    assert result.returncode == 2 and b"line 2 is not a journal record" in result.errors, result.text()


@pytest.fixture
def full_journal_disk(user, seal):
    """Root's store (the seal's /var/lib) on a 16 kB tmpfs: the header fits, the first chunk record does not."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", str(seal.varlib)], check=True)
    try:
        yield root_journals(seal, user.uid)
    finally:
        subprocess.run(["umount", str(seal.varlib)], check=True)


def test_a_full_disk_under_the_journal_stops_with_a_one_line_error_and_the_undo_command(user, full_journal_disk, seal):
    cache = new_user_cache(user, files=400)  # ~800 entries: the first chunk record is larger than 16 kB
    sandbox.chown_tree(cache / "http-v2", 0, 0)
    before = listing(cache)
    result = fix_as_root(seal, "--user", user.name, "--yes")
    assert result.returncode == 2, result.text()
    assert result.errors.startswith(b"pipdoctor: error: stopped half-way: No space left on device")
    assert result.errors.count(b"\n") == 1 and b"sudo pipdoctor fix --undo " in result.errors
    assert listing(cache) == before  # the chunk that did not reach the journal was never applied
    journal = next(full_journal_disk.iterdir())
    inside = f"/var/lib/pipdoctor/journals/{user.uid}/{journal.name}"
    undone = fix_as_root(seal, "--user", user.name, "--undo", inside)  # the cut journal still undoes
    assert undone.returncode == 0, undone.text()


def test_default_undo_takes_the_newest_readable_journal_and_never_an_older_fix(user, seal):
    """Two fixes; `fix --undo` reverts the second; a second `fix --undo` must not revert the first. A journal
    cut before its header (kill -9 right after it was created) and odd -N names do not change the choice."""
    cache = seed_failure(user)
    first = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert first.returncode == 0, first.text()
    sandbox.chown_tree(cache / "http-v2", 0, 0)
    fixed_once = listing(cache)  # wheels the user's again, http-v2 root's
    second = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert second.returncode == 0, second.text()
    journals = root_journals(seal, user.uid)
    stem = os.path.basename(journal_of(second))[:-len(".jsonl")]
    for name in (f"{stem}-9.jsonl", "99999999T999999Z.jsonl"):  # sort after it by name; no header
        with open(journals / name, "wb"):
            pass
    undone = fix_as_root(seal, "--user", user.name, "--undo", "--json")
    assert undone.returncode == 0, undone.text()
    assert undone.doc["undone"]["journal"] == journal_of(second) and listing(cache) == fixed_once
    assert sum("passed over" in note for note in undone.doc["undone"]["notes"]) == 2  # said, not silent
    again = fix_as_root(seal, "--user", user.name, "--undo", "--json")
    assert again.returncode == 0, again.text()
    assert again.doc["undone"]["journal"] == journal_of(second) and again.doc["undone"]["restored"] == 0
    assert any("undone before" in note for note in again.doc["undone"]["notes"])
    assert listing(cache) == fixed_once  # the first fix stays


def test_journals_started_in_one_second_sort_by_their_number(tmp_path):
    store = Store(str(tmp_path), True)
    for name, started_ns in (("T.jsonl", 9), ("T-2.jsonl", 9), ("T-10.jsonl", 9), ("S-3.jsonl", 5)):
        header = schema.Header("/cache", 1, 2, 1000, 1000, None, started_ns)
        (tmp_path / name).write_text(schema.header_line(header, {}) + "\n")
    assert latest_fix_journals(store) == ["T-10.jsonl"]
    os.unlink(tmp_path / "T-10.jsonl")
    assert latest_fix_journals(store) == ["T-2.jsonl"]


def test_undo_takes_every_cache_of_the_newest_fix_and_tool_takes_one(tmp_path):
    """One fix of pip's and uv's caches writes a journal for each under its one stamp: `fix --undo` undoes both
    (newest first), --tool uv only uv's; an older fix's journals stay out, as does a second fix of the same
    cache in that second."""
    store = Store(str(tmp_path), True)
    for name, started_ns, tool in (("S.jsonl", 5, "uv"), ("T.jsonl", 8, "pip"), ("T-2.jsonl", 9, "uv"),
                                   ("T-3.jsonl", 7, "uv")):
        header = schema.Header("/cache", 1, 2, 1000, 1000, None, started_ns, tool)
        (tmp_path / name).write_text(schema.header_line(header, {}) + "\n")
    assert latest_fix_journals(store) == ["T-2.jsonl", "T.jsonl"]
    assert latest_fix_journals(store, "uv") == ["T-2.jsonl"]
    assert latest_fix_journals(store, "pip") == ["T.jsonl"]


def test_a_home_that_is_a_symlink_gets_the_users_own_journal(user):
    """/home/u -> /data/u (HOME a symlink): the user's own fix journals below the real home, and undoes."""
    cache = seed_failure(user)
    before = listing(cache)
    link = user.home.parent / f"{user.name}-link"
    os.symlink(user.home, link)
    try:
        env = sandbox.pip_env(HOME=str(link))
        result = fix_as(user, "--yes", "--json", env=env)
        assert result.returncode == 0, result.text()
        assert journal_of(result).startswith(f"{user.home}/.local/share/pipdoctor/journals/")
        assert os.stat(journal_of(result)).st_uid == user.uid
        undone = fix_as(user, "--undo", "--json", env=env)
        assert undone.returncode == 0, undone.text()
        assert listing(cache) == before
    finally:
        os.unlink(link)


def test_undo_skips_an_entry_it_cannot_change_and_goes_on(user, seal):
    """An entry made immutable (chattr +i) after the fix: undo reports it skipped with the reason, restores the
    rest, and exits 1 with no traceback."""
    from tests.checkkit import fs_type

    cache, before, journal = fixed_by_root(user, seal)
    wheel = sorted((cache / "wheels").rglob("*.whl"))[0]
    if fs_type(cache) not in ("ext2/ext3", "ext4", "xfs", "btrfs", "f2fs"):
        pytest.skip(f"{cache} is on {fs_type(cache)}, which has no immutable flag (chattr +i)")
    subprocess.run(["chattr", "+i", str(wheel)], check=True)
    try:
        result = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
        assert result.returncode == 1, result.text()
        assert result.doc["undone"]["skipped"] == [{"path": str(wheel), "reason": "chown failed: Operation not "
                                                    "permitted"}]
        assert os.lstat(wheel).st_uid == user.uid
    finally:
        subprocess.run(["chattr", "-i", str(wheel)], check=True)
    rel = os.path.relpath(wheel, cache)
    assert {k: v for k, v in listing(cache).items() if k != rel} == {k: v for k, v in before.items() if k != rel}


def test_a_rename_skipped_at_its_re_check_leaves_no_record_for_undo(user, tmp_path, monkeypatch):
    """wheels is replaced between the plan's read and the move's re-check: not moved, and not journaled as
    planned either, so undo has nothing to report as skipped."""
    cache = seed_failure(user)
    wheels = cache / "wheels"
    real_stat = os.stat

    def stat_then_swap(path, *args, **kwargs):
        st = real_stat(path, *args, **kwargs)
        if path == "wheels" and not (cache / "wheels.pipdoctor-swapped").exists():
            os.rename(wheels, cache / "wheels.pipdoctor-swapped")
            wheels.mkdir()
        return st

    store = root_store(user.uid, base=str(tmp_path / "journals"))
    monkeypatch.setattr(os, "stat", stat_then_swap)
    outcome = apply_changes(str(cache), [Change("rename", "wheels", new_name="wheels.pipdoctor-t")], store=store,
                            stamp="t", owner_uid=user.uid, owner_gid=user.gid, owner_name=user.name,
                            names_ok=names_check(PIP))
    monkeypatch.setattr(os, "stat", real_stat)
    assert outcome.renamed == [] and "replaced after it was read" in outcome.skipped[0][1]
    with open(outcome.journal, "rb") as handle:
        assert [json.loads(line)["t"] for line in handle] == ["header", "end"]
    undone = undo(open_journal(store, "t.jsonl", writable=True), lambda tool: names_check(PIP), lambda root: None)
    assert (undone.restored, undone.skipped_count) == (0, 0)
