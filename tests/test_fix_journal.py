"""The journal under stress: swapped for a symlink or a hard link during a root undo, cut short, on a full disk,
and a file the user re-created on a reused inode after the fix. Undo touches only what the fix changed."""

from __future__ import annotations

import os
import subprocess

import pytest

from pipdoctor import repair
from pipdoctor.remediation import cache_names_problem
from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache
from tests.fixkit import fix_as_root, journal_of, listing, outside_file, seed_failure

pytestmark = pytest.mark.root


def _fixed(user):
    """The seed failure, fixed by root: (cache, its listing before the fix, the journal)."""
    cache = seed_failure(user)
    before = listing(cache)
    result = fix_as_root("--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    return cache, before, journal_of(result)


def test_journal_swapped_for_a_symlink_during_a_root_undo_is_not_followed(user, tmp_path):
    """The journal dir is the user's: after undo read the journal, the user puts a symlink to a root file
    (standing in for /etc/sudoers) at its name. The `undone` record goes into the journal that was read."""
    cache, before, journal = _fixed(user)
    sudoers = outside_file(tmp_path, "sudoers-standin")
    content, standin = sudoers.read_bytes(), listing(tmp_path)
    moved = journal + ".real"

    def swap_then_allow(root):
        os.rename(journal, moved)
        os.symlink(sudoers, journal)
        return None

    outcome = repair.undo(journal, cache_names_problem, swap_then_allow)
    assert outcome.skipped_count == 0 and listing(cache) == before
    assert sudoers.read_bytes() == content and listing(tmp_path) == standin
    with open(moved, "rb") as handle:
        assert handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1].startswith(b'{"t":"undone"')


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "fifo"])
def test_a_journal_name_that_is_a_link_or_a_fifo_is_refused(user, tmp_path, kind):
    cache, _, journal = _fixed(user)
    sudoers = outside_file(tmp_path, "sudoers-standin")
    content = sudoers.read_bytes()
    fixed = listing(cache)
    os.unlink(journal)
    if kind == "symlink":
        os.symlink(sudoers, journal)
    elif kind == "hardlink":
        os.link(sudoers, journal)
    else:
        os.mkfifo(journal)  # opening it to read would wait for a writer for ever
    result = fix_as_root("--user", user.name, "--undo", journal)
    assert result.returncode == 2, result.text()
    assert result.errors.startswith(b"pipdoctor: error: ") and result.errors.count(b"\n") == 1
    assert sudoers.read_bytes() == content and listing(cache) == fixed


def test_a_file_recreated_on_the_same_inode_after_the_fix_is_left_alone_by_undo(user):
    """The user deletes a wheel the fix gave back and writes a private file at the same path: ext4 hands out
    the freed inode at once, so device, inode, type and owner all match the journal; its ctime does not."""
    cache, before, journal = _fixed(user)
    wheel = sorted((cache / "wheels").rglob("*.whl"))[0]
    old_ino = os.lstat(wheel).st_ino
    made = sandbox.run_as(user, ["sh", "-c", f"rm -- '{wheel}' && umask 077 && echo private > '{wheel}'"])
    assert made.returncode == 0, made.stdout
    new = os.lstat(wheel)
    reused = new.st_ino == old_ino
    result = fix_as_root("--user", user.name, "--undo", journal, "--json")
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


def test_undo_keeps_a_mode_the_user_set_after_the_fix(user):
    """Undo gives owners back, never modes: chown changes no mode bit undo could restore."""
    cache = new_user_cache(user, files=20)
    chown_to_root(deep_entries(cache, "http-v2", 2))
    target = deep_entries(cache, "http-v2", 1)[0]
    result = fix_as_root("--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    os.chmod(target, 0o600)
    os.utime(target)  # nothing later than the fix's time would stop undo here: test the mode rule alone
    journal = journal_of(result)
    with open(journal, "rb") as handle:
        lines = [line for line in handle.read().split(b"\n") if b'"t":"done"' not in line]
    with open(journal, "wb") as handle:  # as a journal written before `done` had a time
        handle.write(b"\n".join(lines))
    undone = fix_as_root("--user", user.name, "--undo", journal, "--json")
    assert undone.returncode == 0, undone.text()
    st = os.lstat(target)
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o600)


@pytest.mark.parametrize("old_style", [False, True])
def test_a_journal_cut_short_undoes_and_undoes_again(user, old_style):
    """kill -9 (or a full disk) in the middle of writing a chunk record leaves half a line, and that chunk was
    never applied (each record is fsynced before its changes). Undo works, and so does a second one. The
    old style: an earlier undo glued its `undone` record onto the cut line."""
    cache, before, journal = _fixed(user)
    with open(journal, "rb") as handle:
        lines = handle.read().rstrip(b"\n").split(b"\n")
    assert lines[-1].startswith(b'{"t":"end"')
    planned = next(line for line in lines if line.startswith(b'{"t":"planned"'))
    cut = lines[:-1] + [planned.replace(b'"n":1,', b'"n":99,')[:len(planned) // 2]]
    data = b"\n".join(cut)
    if old_style:
        data += b'{"t":"undone","at":"2024-01-01T00:00:00+0000","restored":0,"skipped":0}\n'
    with open(journal, "wb") as handle:
        handle.write(data)
    for _ in range(2):
        undone = fix_as_root("--user", user.name, "--undo", journal, "--json")
        assert undone.returncode == 0, undone.text()
        assert listing(cache) == before
    with open(journal, "rb") as handle:
        tail = handle.read().split(b"\n")
    assert [line[:14] for line in tail[-3:]] == [b'{"t":"undone",', b'{"t":"undone",', b""]


def test_a_record_cut_short_before_others_is_still_an_error(user):
    cache, _, journal = _fixed(user)
    with open(journal, "rb") as handle:
        lines = handle.read().split(b"\n")
    lines.insert(1, lines[1][:20])
    with open(journal, "wb") as handle:
        handle.write(b"\n".join(lines))
    result = fix_as_root("--user", user.name, "--undo", journal)
    assert result.returncode == 2 and b"line 2 is not a journal record" in result.errors, result.text()


@pytest.fixture
def full_journal_disk(user):
    """The user's journal dir on a 16 kB tmpfs of the user's: the header fits, the first chunk record does not."""
    journals = user.home / ".local" / "share" / "pipdoctor" / "journals"
    journals.mkdir(parents=True)
    sandbox.chown_tree(user.home / ".local", user.uid, user.gid)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=16k,mode=0700,uid={user.uid},gid={user.gid}", "tmpfs",
                    str(journals)], check=True)
    try:
        yield journals
    finally:
        subprocess.run(["umount", str(journals)], check=True)


def test_a_full_disk_under_the_journal_stops_with_a_one_line_error_and_the_undo_command(user, full_journal_disk):
    cache = new_user_cache(user, files=400)  # ~800 entries: the first chunk record is larger than 16 kB
    sandbox.chown_tree(cache / "http-v2", 0, 0)
    before = listing(cache)
    result = fix_as_root("--user", user.name, "--yes")
    assert result.returncode == 2, result.text()
    assert result.errors.startswith(b"pipdoctor: error: stopped half-way: No space left on device")
    assert result.errors.count(b"\n") == 1 and b"sudo pipdoctor fix --undo " in result.errors
    assert listing(cache) == before  # the chunk that did not reach the journal was never applied
    journal = next(full_journal_disk.iterdir())
    undone = fix_as_root("--user", user.name, "--undo", str(journal))  # the cut journal still undoes
    assert undone.returncode == 0, undone.text()


def test_default_undo_takes_the_newest_readable_journal_and_never_an_older_fix(user):
    """Two fixes; `fix --undo` reverts the second; a second `fix --undo` must not revert the first. A journal
    cut before its header (kill -9 right after it was created) and odd -N names do not change the choice."""
    cache = seed_failure(user)
    first = fix_as_root("--user", user.name, "--yes", "--json")
    assert first.returncode == 0, first.text()
    sandbox.chown_tree(cache / "http-v2", 0, 0)
    fixed_once = listing(cache)  # wheels the user's again, http-v2 root's
    second = fix_as_root("--user", user.name, "--yes", "--json")
    assert second.returncode == 0, second.text()
    journals = os.path.dirname(journal_of(second))
    stem = os.path.basename(journal_of(second))[:-len(".jsonl")]
    for name in (f"{stem}-9.jsonl", "99999999T999999Z.jsonl"):  # sort after it by name; no header
        with open(os.path.join(journals, name), "wb"):
            pass
        os.chown(os.path.join(journals, name), user.uid, user.gid)
    undone = fix_as_root("--user", user.name, "--undo", "--json")
    assert undone.returncode == 0, undone.text()
    assert undone.doc["undone"]["journal"] == journal_of(second) and listing(cache) == fixed_once
    assert sum("passed over" in note for note in undone.doc["undone"]["notes"]) == 2  # said, not silent
    again = fix_as_root("--user", user.name, "--undo", "--json")
    assert again.returncode == 0, again.text()
    assert again.doc["undone"]["journal"] == journal_of(second) and again.doc["undone"]["restored"] == 0
    assert any("undone before" in note for note in again.doc["undone"]["notes"])
    assert listing(cache) == fixed_once  # the first fix stays


def test_journals_started_in_one_second_sort_by_their_number(tmp_path):
    for name, started_ns in (("T.jsonl", None), ("T-2.jsonl", None), ("T-10.jsonl", None), ("S-3.jsonl", 5)):
        header = {"t": "header", "version": repair.JOURNAL_VERSION, "started": "2024-01-01T00:00:00+0000"}
        if started_ns:
            header["started"] = "2023-01-01T00:00:00+0000"
        (tmp_path / name).write_text(repair._dumps(header) + "\n")
    assert repair.latest_journal(str(tmp_path)) == str(tmp_path / "T-10.jsonl")
    os.unlink(tmp_path / "T-10.jsonl")
    assert repair.latest_journal(str(tmp_path)) == str(tmp_path / "T-2.jsonl")


def test_a_home_that_is_a_symlink_gets_its_journal(user):
    """/home/u -> /data/u (HOME a symlink in passwd): the journal goes below the real home, no error."""
    cache = seed_failure(user)
    link = user.home.parent / f"{user.name}-link"
    os.symlink(user.home, link)
    try:
        subprocess.run(["usermod", "-d", str(link), user.name], check=True)
        result = fix_as_root("--user", user.name, "--yes", "--json")
        assert result.returncode == 0, result.text()
        assert journal_of(result).startswith(f"{link}/.local/share/pipdoctor/journals/")
        assert os.stat(user.home / ".local" / "share" / "pipdoctor" / "journals").st_uid == user.uid
        assert os.stat(cache / "wheels").st_uid == user.uid
    finally:
        os.unlink(link)


def test_a_journal_dir_outside_home_or_with_dotdot_is_refused(user):
    cache = seed_failure(user)
    elsewhere = f"{user.name}-elsewhere"
    for directory in (str(user.home / ".." / elsewhere), str(user.home.parent / elsewhere)):
        with pytest.raises(repair.RepairError, match="will not write a journal"):
            repair.apply_changes(str(cache), [repair.Change("chown", "wheels", user.uid, user.gid)],
                                 journal_dir_path=directory, stamp="t", owner_uid=user.uid, owner_gid=user.gid,
                                 owner_name=user.name, home=str(user.home), names_ok=cache_names_problem)
    assert os.stat(cache / "wheels").st_uid == 0 and not (user.home.parent / elsewhere).exists()


def test_undo_skips_an_entry_it_cannot_change_and_goes_on(user):
    """An entry made immutable (chattr +i) after the fix: undo reports it skipped with the reason, restores the
    rest, and exits 1 with no traceback."""
    from tests.checkkit import fs_type

    cache, before, journal = _fixed(user)
    wheel = sorted((cache / "wheels").rglob("*.whl"))[0]
    if fs_type(cache) not in ("ext2/ext3", "ext4", "xfs", "btrfs", "f2fs"):
        pytest.skip(f"{cache} is on {fs_type(cache)}, which has no immutable flag (chattr +i)")
    subprocess.run(["chattr", "+i", str(wheel)], check=True)
    try:
        result = fix_as_root("--user", user.name, "--undo", journal, "--json")
        assert result.returncode == 1, result.text()
        assert result.doc["undone"]["skipped"] == [{"path": str(wheel), "reason": "chown failed: Operation not "
                                                    "permitted"}]
        assert os.lstat(wheel).st_uid == user.uid
    finally:
        subprocess.run(["chattr", "-i", str(wheel)], check=True)
    rel = os.path.relpath(wheel, cache)
    assert {k: v for k, v in listing(cache).items() if k != rel} == {k: v for k, v in before.items() if k != rel}


def test_a_rename_skipped_at_its_re_check_leaves_no_record_for_undo(user, monkeypatch):
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

    monkeypatch.setattr(repair.os, "stat", stat_then_swap)
    outcome = repair.apply_changes(str(cache), [repair.Change("rename", "wheels", new_name="wheels.pipdoctor-t")],
                                   journal_dir_path=str(user.home / "journals"), stamp="t", owner_uid=user.uid,
                                   owner_gid=user.gid, owner_name=user.name, home=str(user.home),
                                   names_ok=cache_names_problem)
    monkeypatch.setattr(repair.os, "stat", real_stat)
    assert outcome.renamed == [] and "replaced after it was read" in outcome.skipped[0][1]
    _, records = repair.read_journal(outcome.journal)
    assert [r["t"] for r in records] == ["end"]
    undone = repair.undo(outcome.journal, cache_names_problem, lambda root: None)
    assert (undone.restored, undone.skipped_count) == (0, 0)
