"""Attacks on the journal and on root's undo, as an unprivileged user would mount them: forged records, ids
out of range, symlinked journal dirs at every level, cross-user journals, huge, nested and malformed journals,
undo twice after a whole-cache chown, and kill -9 at every point of a fix. Root's commands run sealed; the
victims lie in the seal's scratch, outside the cache, and must not change."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest

from pipdoctor.installers.pip import PIP
from pipdoctor.remediation import names_check
from pipdoctor.repair.apply import Change, _Chowner, apply_changes
from pipdoctor.repair.journal import Journal
from pipdoctor.repair.store import root_store
from tests import sandbox
from tests.checkkit import new_user_cache
from tests.fixkit import (fixed_by_root, fix_as, fix_as_root, host_path, journal_header, listing, outside_file,
                          plant_root_journal, root_journals, seed_failure)

pytestmark = pytest.mark.root


def _refused(result, *words: str) -> None:
    """Exit 2 with one line `pipdoctor: error: ...` naming the words, and no traceback."""
    assert result.returncode == 2, result.text()
    assert result.errors.startswith(b"pipdoctor: error: ") and result.errors.count(b"\n") == 1, result.text()
    for word in words:
        assert word.encode() in result.errors, result.text()


def _chown_record(header: dict, entries: list, **changes) -> dict:
    record = {"t": "planned", "n": 1, "op": "chown", "dev": header["dev"], "new_uid": header["uid"],
              "new_gid": header["gid"], "started_ns": 2 ** 62, "entries": entries}
    record.update(changes)
    return record


@pytest.fixture
def victim(user, seal):
    """The user's cache (the user's own, no foreign entry) and a victim dir of the user's outside it, in the
    seal's scratch, next to the cache's parent: what a forged `..` would reach."""
    cache = new_user_cache(user)
    outside = seal.scratch / "victim"
    outside.mkdir()
    outside_file(outside)
    sandbox.chown_tree(outside, user.uid, user.gid)
    return cache, outside


def _unchanged(cache, outside, before_cache, before_outside, home=None, before_home=None):
    assert listing(cache) == before_cache
    assert listing(outside) == before_outside
    if home is not None:
        assert listing(home) == before_home


# --- forged records -------------------------------------------------------------------------------------


def test_roots_undo_refuses_a_journal_outside_its_store(user, victim, seal):
    """The attack that worked: the user writes a journal in their own data dir naming `..`. Root's undo does
    not read it at all, by default or when named."""
    cache, outside = victim
    journals = user.home / ".local" / "share" / "pipdoctor" / "journals"
    journals.mkdir(parents=True)
    header = journal_header(cache, user.uid, user.gid)
    forged = journals / "forged.jsonl"
    forged.write_text("\n".join(json.dumps(r) for r in (
        header, _chown_record(header, [["..", os.stat(cache.parent).st_ino, 0, 42, 0o40755]]))) + "\n")
    sandbox.chown_tree(user.home / ".local", user.uid, user.gid)
    home_before, outside_before = listing(user.home), listing(outside)
    _refused(fix_as_root(seal, "--user", user.name, "--undo", str(forged)), "not in root's journal store",
             "undone by that user")
    _refused(fix_as_root(seal, "--user", user.name, "--undo"), "no journal to undo in /var/lib/pipdoctor/journals/")
    assert listing(user.home) == home_before and listing(outside) == outside_before


@pytest.mark.parametrize("name", ["..", "../victim", "wheels/../..", "/etc", ".", "a\0b", "wheels//x", "x/"])
def test_a_name_that_is_not_plain_is_refused_before_anything_changes(user, victim, seal, name):
    """Even in root's store (a damaged journal), a name with `..`, `.`, `/` or NUL is refused by the schema:
    nothing is changed, not even the entries of the journal that are fine."""
    cache, outside = victim
    wheel = next(cache.rglob("*.whl"))
    st = os.lstat(wheel)
    entries = [[os.path.relpath(wheel, cache), st.st_ino, 0, 0, st.st_mode], [name, st.st_ino, 0, 0, 0o40755]]
    header = journal_header(cache, user.uid, user.gid)
    journal = plant_root_journal(seal, user.uid, "forged.jsonl", [header, _chown_record(header, entries)])
    before_cache, before_outside = listing(cache), listing(outside)
    _refused(fix_as_root(seal, "--user", user.name, "--undo", journal), "line 2", "nothing was changed")
    _unchanged(cache, outside, before_cache, before_outside)


@pytest.mark.parametrize("field, value", [
    ("new_uid", 0), ("new_gid", 42),  # an owner this fix cannot have given (the header's is the user's)
    ("old_uid", 2 ** 32 + 5), ("old_uid", 2 ** 64), ("old_uid", -1), ("old_gid", True), ("old_gid", 1.5),
    ("old_uid", "0"), ("old_uid", 2 ** 32 - 1), ("ino", -1), ("ino", 2 ** 64), ("dev", None), ("mode", 0o20644),
    ("started_ns", None), ("n", 0)])
def test_an_owner_or_id_out_of_range_or_not_the_fixs_is_refused(user, victim, seal, field, value):
    """2^32+5 was truncated to 5 and 2^64 to 0 and reported as restored; an invented new owner made root hand
    the user's file to another uid. Now each is refused before anything changes."""
    cache, outside = victim
    wheel = next(cache.rglob("*.whl"))
    st = os.lstat(wheel)
    entry = [os.path.relpath(wheel, cache), st.st_ino, 0, 0, st.st_mode]
    header = journal_header(cache, user.uid, user.gid)
    record = _chown_record(header, [entry])
    if field in ("old_uid", "old_gid", "ino", "mode"):
        entry[{"ino": 1, "old_uid": 2, "old_gid": 3, "mode": 4}[field]] = value
    elif value is None:
        del record[field]
    else:
        record[field] = value
    journal = plant_root_journal(seal, user.uid, "forged.jsonl", [header, record])
    before_cache, before_outside = listing(cache), listing(outside)
    _refused(fix_as_root(seal, "--user", user.name, "--undo", journal), "line 2")
    _unchanged(cache, outside, before_cache, before_outside)


def test_a_users_own_journal_never_holds_a_chown(user, victim):
    """As the user: a chown record in a journal of the user's data dir is refused (only root's store holds
    them), even one that would only give the user's file to the user's own group."""
    cache, outside = victim
    journals = user.home / ".local" / "share" / "pipdoctor" / "journals"
    journals.mkdir(parents=True)
    wheel = next(cache.rglob("*.whl"))
    st = os.lstat(wheel)
    header = journal_header(cache, user.uid, user.gid)
    (journals / "mine.jsonl").write_text("\n".join(json.dumps(r) for r in (
        header, _chown_record(header, [[os.path.relpath(wheel, cache), st.st_ino, user.uid, 0, st.st_mode]]))))
    sandbox.chown_tree(user.home / ".local", user.uid, user.gid)
    before = listing(cache)
    _refused(fix_as(user, "--undo"), "only journals in root's store hold")
    assert listing(cache) == before


# --- where the journals are -------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["pipdoctor", "journals", "uid"])
def test_roots_store_replaced_by_a_symlink_at_any_level_is_refused(user, seal, level):
    """/var/lib/pipdoctor, .../journals or .../journals/UID a symlink (to a copy holding a journal that would
    revert the fix): undo and the next fix refuse it with one line; nothing changes."""
    cache, _, journal = fixed_by_root(user, seal)
    fixed = listing(cache)
    parts = {"pipdoctor": seal.store, "journals": seal.store / "journals", "uid": root_journals(seal, user.uid)}
    real = parts[level]
    moved = seal.scratch / f"elsewhere-{level}"
    os.rename(real, moved)
    os.symlink(moved, real)
    _refused(fix_as_root(seal, "--user", user.name, "--undo", journal), "symlink or not a directory")
    _refused(fix_as_root(seal, "--user", user.name, "--undo"), "symlink or not a directory")
    sandbox.chown_tree(cache / "wheels", 0, 0)
    again = listing(cache)
    _refused(fix_as_root(seal, "--user", user.name, "--yes"), "symlink or not a directory")
    assert listing(cache) == again != fixed


@pytest.mark.parametrize("flaw", ["owned-by-user", "group-writable", "world-writable", "sticky-world-writable"])
def test_roots_store_another_user_could_write_is_refused(user, seal, flaw):
    """Sticky or not: in a world-writable store anyone could plant a journal (a hard link to one of root's)."""
    cache, _, journal = fixed_by_root(user, seal)
    fixed = listing(cache)
    folder = root_journals(seal, user.uid)
    if flaw == "owned-by-user":
        os.chown(folder, user.uid, user.gid)
    else:
        folder.chmod({"group-writable": 0o770, "world-writable": 0o707, "sticky-world-writable": 0o1777}[flaw])
    _refused(fix_as_root(seal, "--user", user.name, "--undo", journal),
             "belongs to uid" if flaw == "owned-by-user" else "writable by group or others")
    assert listing(cache) == fixed


def test_a_journal_in_roots_store_that_is_not_roots_alone_is_refused(user, seal):
    cache, _, journal = fixed_by_root(user, seal)
    fixed = listing(cache)
    os.chown(root_journals(seal, user.uid) / os.path.basename(journal), user.uid, user.gid)
    _refused(fix_as_root(seal, "--user", user.name, "--undo", journal), "not root's alone")
    assert listing(cache) == fixed


@pytest.mark.parametrize("level", [".local", "share", "pipdoctor", "journals"])
def test_the_users_data_dir_symlinked_to_another_users_journals_is_refused(user, seal, level):
    """A symlink at any level of ~/.local/share/pipdoctor/journals, pointing at another user's journals (here
    another dir holding a journal of a rename): the user's own undo refuses it, and root never reads it."""
    cache = seed_failure(user)
    moved = fix_as(user, "--yes", "--json")
    assert moved.returncode == 0, moved.text()
    after_fix = listing(cache)
    chain = [user.home / ".local", user.home / ".local" / "share", user.home / ".local" / "share" / "pipdoctor",
             user.home / ".local" / "share" / "pipdoctor" / "journals"]
    real = chain[[".local", "share", "pipdoctor", "journals"].index(level)]
    other = seal.scratch / "other-users"
    os.rename(real, other)
    sandbox.chown_tree(other, 4343, 4343)  # now another account's
    os.symlink(other, real)
    os.lchown(real, user.uid, user.gid)
    _refused(fix_as(user, "--undo"), "symlink or not a directory")
    _refused(fix_as_root(seal, "--user", user.name, "--undo"), "no journal to undo")
    assert listing(cache) == after_fix


def test_roots_undo_of_one_user_never_reads_another_users_journals(user, seal):
    """Root's default undo for user A takes A's journals only: B's fix (here root's own, uid 0) stays."""
    cache, _, journal = fixed_by_root(user, seal)
    fixed = listing(cache)
    root_journals(seal, 0).mkdir(mode=0o700)
    os.rename(root_journals(seal, user.uid) / os.path.basename(journal), root_journals(seal, 0) / "moved.jsonl")
    _refused(fix_as_root(seal, "--user", user.name, "--undo"), "no journal to undo")
    assert listing(cache) == fixed


# --- size, depth, damage ----------------------------------------------------------------------------------

_WRAP = ("import resource, subprocess, sys\n"
         "code = subprocess.run(sys.argv[1:]).returncode\n"
         "sys.stderr.write('maxrss_kb=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
         "sys.exit(code)\n")


def undo_measured(seal, user, journal: str):
    """Root's `fix --undo JOURNAL`, sealed, in a fresh parent that reports its child's peak RSS (kB)."""
    from tests.checkkit import pipdoctor_bin, with_pip

    argv = [sys.executable, "-c", _WRAP, pipdoctor_bin(), "fix", "--user", user.name, "--undo", journal, "--json"]
    proc = sandbox.run(argv, env=with_pip(None), separate_stderr=True, timeout=600, mount_setup=seal.setup)
    errors, _, last = proc.stderr.rpartition(b"maxrss_kb=")
    return proc.returncode, proc.stdout, errors, int(last)


def test_a_huge_journal_line_is_read_in_bounded_memory(user, seal):
    """400 MB in one line after the header (a 400 MB journal took 6.8 GB): never held, never parsed; it is a
    record cut short at the end, so nothing is undone, and the peak RSS stays far below its size."""
    cache = new_user_cache(user)
    header = journal_header(cache, user.uid, user.gid)
    journal = plant_root_journal(seal, user.uid, "huge.jsonl", [header])
    huge = root_journals(seal, user.uid) / "huge.jsonl"
    try:
        with open(huge, "ab") as handle:
            block = b'{"t":"planned","entries":[' + b'["a",1,0,0,33188],' * 60_000
            for _ in range(400 * 2 ** 20 // len(block)):
                handle.write(block)
        before = listing(cache)
        code, out, errors, rss = undo_measured(seal, user, journal)
    finally:
        huge.unlink()  # pytest keeps the last runs' tmp dirs
    assert code == 0 and not errors, (out, errors)
    assert any("cut short" in note for note in json.loads(out)["undone"]["notes"])
    assert rss < 100_000, rss
    assert listing(cache) == before


@pytest.mark.parametrize("line", [
    b"[" * 100_000 + b"]" * 100_000,  # a RecursionError traceback before
    b'{"t":"planned","n":1,"op":"chown","entries":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"t":"done","n":1,"at_ns":' + b"9" * 5000 + b"}",  # int() of 5000 digits: ValueError
    b'{"t":"done","n":1,"at_ns":1e999}',
    b'{"t":"done","n":1,"at_ns":NaN}',
    b'{"t":"planned","n":1,"op":"chown","dev":1,"new_uid":1,"new_gid":1,"started_ns":1,"entries":{"a":1}}',
    b'{"t":"planned","n":1,"op":"chown","dev":1,"new_uid":1,"new_gid":1,"started_ns":1,"entries":[["a"]]}',
    b'{"t":"planned","n":1,"op":"rename","parent":"","old":"wheels","new":"..","dev":1,"ino":1,"mode":16877}',
    b'{"t":"planned","n":1,"op":"rename","parent":"..","old":"a","new":"b","dev":1,"ino":1,"mode":16877}',
    b'{"t":"planned","n":1,"op":"unlink"}',
    b'{"t":"header","version":2}',
    b'"just a string"',
    b'{"t":"planned","n":1,"op":"rename","parent":"","old":"\\ud800","new":"b","dev":1,"ino":1,"mode":16877}',
    b'{"t":"done","n":1,"at_ns":1}\xff\xfe',
    b'{"t":"planned","n":1,"op":"chown","dev":1,"new_uid":1,"new_gid":1,"started_ns":1,"entries":[["a",1,0,0,1]]}',
])
def test_a_nested_or_malformed_record_is_one_line_never_a_traceback(user, seal, line):
    """Each bad line before a good record: exit 2, one line naming the line, nothing changed."""
    _planted_journal_is_refused(user, seal, lambda cache: [journal_header(cache, user.uid, user.gid), line + b"\n",
                                                           {"t": "end", "at": "x"}, {"t": "done", "n": 1, "at_ns": 1}],
                                "line 2", "nothing was changed")


@pytest.mark.parametrize("header", [
    b"", b"\n", b"{}", b'{"t":"header","version":1}', b'{"t":"header","version":true}', b"[" * 100_000,
    b'{"t":"header","version":2,"cache_root":"/","dev":1,"ino":1,"uid":1,"gid":1,"user":null,"started_ns":1}',
    b'{"t":"header","version":2,"cache_root":"rel","dev":1,"ino":1,"uid":1,"gid":1,"user":null,"started_ns":1}',
    b'{"t":"header","version":2,"cache_root":"/a/../b","dev":1,"ino":1,"uid":1,"gid":1,"user":null,"started_ns":1}',
])
def test_a_bad_header_is_one_line(user, seal, header):
    _planted_journal_is_refused(user, seal, lambda cache: [header], "not a pipdoctor journal")


def _planted_journal_is_refused(user, seal, records_for, *said) -> None:
    """The seed failure, a journal of records_for(cache) planted in root's store: root's undo of it says
    `said` in one line, exit 2, and the cache is as it was."""
    cache = seed_failure(user)
    before = listing(cache)
    journal = plant_root_journal(seal, user.uid, "bad.jsonl", records_for(cache))
    _refused(fix_as_root(seal, "--user", user.name, "--undo", journal), *said)
    assert listing(cache) == before


# --- undo twice, whatever happened -----------------------------------------------------------------------


def test_undo_twice_after_a_whole_cache_chown(user, seal):
    """`sudo chown -R root ~/.cache/pip`, the cache dir included: fix gives it all back; undo puts it all back;
    a second undo (which refused before: the journal had become the user's) finds everything as it was."""
    cache = new_user_cache(user)
    sandbox.chown_tree(cache, 0, 0)
    before = listing(cache)
    fixed = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert fixed.returncode == 0, fixed.text()
    assert all(v[0] == user.uid for v in listing(cache).values())
    for _ in range(2):
        undone = fix_as_root(seal, "--user", user.name, "--undo", "--json")
        assert undone.returncode == 0, undone.text()
        assert listing(cache) == before
    assert undone.doc["undone"]["restored"] == 0 and undone.doc["undone"]["already"] == len(before)


KILL_POINTS = ["before-first-record", "after-record-before-change", "mid-chunk", "after-changes-before-done",
               "after-done-before-end"]


def _fix_killed_at(point: str, cache, user, seal) -> str:
    """Root's fix in a forked child, SIGKILLed at `point` of its second chunk (chunks of 16 entries); the
    journal's name."""
    store = root_store(user.uid, base=str(seal.store / "journals"))
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            _Chowner.CHUNK = 16
            counts = {"chunks": 0, "chowns": 0}

            def die():
                os.kill(os.getpid(), signal.SIGKILL)

            real_planned, real_done, real_end = Journal.planned_chowns, Journal.done, Journal.end
            real_chown = os.chown

            def planned(self, *args):
                counts["chunks"] += 1
                if counts["chunks"] == 2 and point == "before-first-record":
                    die()
                seqs = real_planned(self, *args)
                if counts["chunks"] == 2 and point == "after-record-before-change":
                    die()
                return seqs

            def chown(*args, **kwargs):
                real_chown(*args, **kwargs)
                if counts["chunks"] == 2:
                    counts["chowns"] += 1
                    if point == "mid-chunk" and counts["chowns"] == 8:
                        die()

            def done(self, seqs):
                if counts["chunks"] == 2 and point == "after-changes-before-done":
                    die()
                real_done(self, seqs)

            def end(self):
                if point == "after-done-before-end":
                    die()
                real_end(self)

            Journal.planned_chowns, Journal.done, Journal.end, os.chown = planned, done, end, chown
            apply_changes(str(cache), [Change("chown", "wheels", user.uid, user.gid)], store=store, stamp="killed",
                          owner_uid=user.uid, owner_gid=user.gid, owner_name=user.name, names_ok=names_check(PIP))
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    return f"/var/lib/pipdoctor/journals/{user.uid}/killed.jsonl"


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_at_any_point_then_undo_twice_restores_the_cache(user, seal, point):
    cache = seed_failure(user)  # wheels and its ~70 entries root's: five chunks of 16
    before = listing(cache)
    journal = _fix_killed_at(point, cache, user, seal)
    foreign = sum(1 for v in listing(cache).values() if v[0] == 0)
    assert 0 < foreign < sum(1 for v in before.values() if v[0] == 0) or point == "after-done-before-end"
    assert foreign == 0 or point != "after-done-before-end"  # killed at its last step: all done
    for _ in range(2):
        undone = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
        assert undone.returncode == 0, undone.text()
        assert listing(cache) == before


def test_a_file_recreated_after_a_kill_before_done_stays_the_users(user, seal):
    """The kill leaves chunk 2 without its `done`; the user deletes a wheel the chunk gave back and writes a
    private file at its path (ext4 reuses the inode at once). The chunk's start time, synced before its first
    change, still tells the new file from the old: undo leaves it the user's."""
    cache = seed_failure(user)
    journal = _fix_killed_at("after-changes-before-done", cache, user, seal)
    with open(root_journals(seal, user.uid) / "killed.jsonl") as handle:
        records = [json.loads(line) for line in handle]
    chunk = [r for r in records if r["t"] == "planned"][-1]
    assert not any(r["t"] == "done" and r["n"] == chunk["n"] for r in records)
    rel = next(e[0] for e in chunk["entries"] if e[4] & 0o170000 == 0o100000)
    wheel = cache / rel
    made = sandbox.run_as(user, ["sh", "-c", f"rm -- '{wheel}' && umask 077 && echo private > '{wheel}'"])
    assert made.returncode == 0, made.stdout
    undone = fix_as_root(seal, "--user", user.name, "--undo", journal, "--json")
    assert undone.returncode == 1, undone.text()  # the one re-created file is skipped, and said
    st = os.lstat(wheel)
    assert (st.st_uid, st.st_mode) == (user.uid, 0o100600)
    skipped = {s["path"]: s["reason"] for s in undone.doc["undone"]["skipped"]}
    assert "re-created since the fix" in skipped[str(wheel)] or "inode" in skipped[str(wheel)]


def test_an_undo_is_refused_while_a_fix_or_undo_holds_the_journal(user, seal):
    """Two undos of one journal at once would each see the other's half-done work: the second is refused
    (the lock dies with its holder, kill -9 included, so a killed fix never blocks its undo)."""
    import fcntl

    cache, _, journal = fixed_by_root(user, seal)
    fixed = listing(cache)
    with open(root_journals(seal, user.uid) / os.path.basename(journal), "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _refused(fix_as_root(seal, "--user", user.name, "--undo", journal), "in use by another pipdoctor")
        assert listing(cache) == fixed
    undone = fix_as_root(seal, "--user", user.name, "--undo", journal)
    assert undone.returncode == 0, undone.text()
    assert listing(cache) != fixed


def _chain(top, depth: int, name: str) -> None:
    """depth nested dirs named `name` below top, made through dir fds (the path grows far past PATH_MAX)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_a_chain_deeper_than_a_journal_line_holds_is_not_entered_and_undo_still_works(user, seal):
    """A chain of 255-byte names under the foreign subtree (its memory grew with depth squared, and one
    entry's line outgrew what the reader accepts, so undo refused the whole journal): below
    _Chowner.MAX_REL nothing is entered, which is said, every journal line stays readable, and undo gives
    back every entry the fix changed."""
    cache = seed_failure(user)
    _chain(cache / "wheels", 140, "x" * 255)  # 35,840 characters deep: past MAX_REL
    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert result.returncode == 1 and b"Traceback" not in result.errors, result.text()
    reasons = {item["reason"] for item in result.doc["applied"]["skipped"]}
    assert "too deep to journal (not entered)" in reasons, reasons
    journal = result.doc["applied"]["journal"]
    sizes = [len(line) for line in open(host_path(seal, journal), "rb")]
    assert max(sizes) <= 1 << 20, max(sizes)
    undone = fix_as_root(seal, "--user", user.name, "--undo", "--json")
    assert undone.returncode in (0, 1) and b"Traceback" not in undone.errors, undone.text()
    assert undone.doc["undone"]["restored"] == result.doc["applied"]["chowned"]
    assert os.lstat(cache / "wheels").st_uid == 0
