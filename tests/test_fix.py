"""`pipdoctor fix`: plan, confirmation, chown by root, move aside by the user, journal and exact undo."""

from __future__ import annotations

import os

import pytest

from pipdoctor import exitcodes
from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache, pip_python, pipdoctor_bin, with_pip
from tests.fixkit import (fix_as, fix_as_root, host_path, journal_of, links_fixture, listing, seed_failure,
                          wheels_in)

pytestmark = pytest.mark.root



links = links_fixture("main", "pdtiny", "pdfixed")


def _pip_install(user, links, name="pdtiny", *extra):
    """The user's own pip install of a local sdist (into a target dir: no venv needed)."""
    target = user.home / f"target-{name}"
    argv = [pip_python(), "-m", "pip", "install", "--no-index", "--find-links", links, "--target", target, name,
            *extra]
    return sandbox.run_as(user, argv, env=with_pip(sandbox.pip_env(HOME=user.home)))


def test_sudo_fix_user_gives_the_cache_back_and_pip_caches_its_wheel(user, links, seal):
    cache = seed_failure(user)
    failed = _pip_install(user, links)
    assert b"Permission denied" in failed.stdout or failed.returncode != 0, failed.stdout

    result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert result.returncode == 0, result.text()
    doc = result.doc
    assert doc["command"] == "fix" and doc["exit_code"] == 0
    assert [f["code"] for f in doc["before"]["findings"]] == ["PD103"]
    step = doc["plan"]["steps"][0]
    assert step["kind"] == "chown" and step["code"] == "PD103" and step["needs_root"] is True
    assert step["command"] == f"sudo chown -R {user.uid}:{user.gid} {cache}/wheels"
    assert doc["applied"]["chowned"] > 0 and doc["applied"]["skipped_count"] == 0
    assert doc["after"]["findings"] == []
    assert all(v[0] == user.uid for v in listing(cache).values())
    # the journal is root's, in root's store: nothing of it in the user's home
    journal = journal_of(result)
    assert journal.startswith(f"/var/lib/pipdoctor/journals/{user.uid}/")
    st = os.stat(host_path(seal, journal))
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
    assert os.stat(host_path(seal, os.path.dirname(journal))).st_mode & 0o777 == 0o700
    assert not (user.home / ".local").exists()

    installed = _pip_install(user, links, "pdfixed")
    assert installed.returncode == 0, installed.stdout.decode()
    built = [w for w in wheels_in(cache / "wheels") if w.name.startswith("pdfixed-")]
    assert built and os.stat(built[0]).st_uid == user.uid


def test_a_root_fix_names_its_undo_command_with_sudo(user, seal):
    seed_failure(user)
    result = fix_as_root(seal, "--user", user.name, "--yes")
    assert result.returncode == 0, result.text()
    journal = next(line.split("journal: ", 1)[1].split()[0] for line in result.text().splitlines()
                   if "journal: " in line)
    assert f"(undo: sudo pipdoctor fix --undo {journal})" in result.text()


def test_undo_restores_owners_modes_and_inodes_exactly_and_twice_is_safe(user, seal):
    cache = new_user_cache(user, files=60)
    chown_to_root(deep_entries(cache, "wheels", 3) + deep_entries(cache, "http-v2", 2))
    other = deep_entries(cache, "http-v2", 4)[-1]
    os.lchown(other, 4343, 4343)  # a second foreign owner, with no passwd entry
    odd = deep_entries(cache, "wheels", 4)[-1]
    sandbox.chown_tree(odd, 0, 0)
    os.chmod(odd, 0o2750)  # setgid dir: chown keeps it, undo must give the exact mode back
    link = cache / "wheels" / "link-to-nowhere"
    os.symlink("/nonexistent/target", link)
    os.lchown(link, 0, 0)
    before = listing(cache)

    fixed = fix_as_root(seal, "--user", user.name, "--yes", "--json")
    assert fixed.returncode == 0, fixed.text()
    changed = listing(cache)
    assert all(v[0] == user.uid for v in changed.values())
    assert {k: v[3] for k, v in changed.items()} == {k: v[3] for k, v in before.items()}  # same inodes

    undone = fix_as_root(seal, "--user", user.name, "--undo", journal_of(fixed), "--json")
    assert undone.returncode == 0, undone.text()
    assert undone.doc["undone"]["restored"] == fixed.doc["applied"]["chowned"]
    assert listing(cache) == before
    again = fix_as_root(seal, "--user", user.name, "--undo", journal_of(fixed), "--json")
    assert again.returncode == 0, again.text()
    assert again.doc["undone"]["restored"] == 0 and listing(cache) == before


def test_user_alone_moves_the_foreign_subtree_aside_and_undo_puts_it_back(user, links):
    cache = seed_failure(user)
    before = listing(cache)
    result = fix_as(user, "--yes", "--json")
    assert result.returncode == 0, result.text()
    step = result.doc["plan"]["steps"][0]
    assert step["kind"] == "rename" and step["needs_root"] is False
    assert step["targets"] == [f"{cache}/wheels"]
    moved = step["new_names"][0]
    assert moved.startswith(f"{cache}/wheels.pipdoctor-")
    assert step["later"] == f"sudo rm -rf -- {moved}"
    assert not (cache / "wheels").exists() and os.path.isdir(moved)
    # nothing wrong after it; the copy moved aside is reported (PD110, info) until root deletes it
    assert [(f["code"], f["paths"]) for f in result.doc["after"]["findings"]] == [("PD110", [moved])]

    undone = fix_as(user, "--undo", "--json")  # the latest journal of this user
    assert undone.returncode == 0, undone.text()
    assert listing(cache) == before


def test_user_undoes_a_journal_named_on_the_command_line(user, links):
    """`pipdoctor fix --undo JOURNAL` as the user, with the path the fix printed: the user's own store is
    where the walk to it starts, and that is checked too (it was refused as 'not an absolute path')."""
    cache = seed_failure(user)
    before = listing(cache)
    result = fix_as(user, "--yes", "--json")
    assert result.returncode == 0, result.text()
    undone = fix_as(user, "--undo", journal_of(result), "--json")
    assert undone.returncode == 0, undone.text()
    assert listing(cache) == before


def test_dry_run_and_no_terminal_change_nothing(user, seal):
    cache = seed_failure(user)
    before = listing(cache)
    dry = fix_as_root(seal, "--user", user.name, "--dry-run")
    assert dry.returncode == 1
    assert b"chown -R" in dry.output and b"dry run: nothing was changed" in dry.errors
    assert b"PD103" in dry.output and b"Fix (copy and run" not in dry.output  # the plan, not the check's list
    unconfirmed = fix_as_root(seal, "--user", user.name)  # stdin is /dev/null: no terminal, no --yes
    assert unconfirmed.returncode == 1
    assert unconfirmed.errors.strip().endswith(b"not confirmed: no terminal to ask on (pass --yes to apply the plan)")
    assert listing(cache) == before
    plan = fix_as_root(seal, "--user", user.name, "--dry-run", "--json")
    assert plan.returncode == 1 and plan.doc["applied"] is None and plan.doc["plan"]["needs_root"] is True


def test_usage_errors_exit_2(user, seal):
    for args in (["--yes", "--dry-run"], ["--user", "no-such-user-pdf"], ["--user", "\u00b2"], ["--user", "9" * 30],
                 ["stray"], ["--undo", "/nonexistent.jsonl"]):
        run = fix_as_root(seal, *args)
        assert run.returncode == 2, (args, run.text())
        assert run.errors.startswith(b"pipdoctor: error: ") and run.errors.count(b"\n") == 1
    assert fix_as(user, "--user", "root").returncode == 2  # --user needs root


def _fix_at_the_prompt(user, answer: bytes, seal) -> tuple:
    """`sudo pipdoctor fix --user U` on a terminal: wait for the question, type the answer."""
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    proc = subprocess.Popen(seal.argv([pipdoctor_bin(), "--color", "never", "fix", "--user", user.name]),
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=with_pip(None), cwd="/")
    os.close(slave)
    seen = b""
    try:
        while b"[y/N]" not in seen:
            assert select.select([master], [], [], 60)[0], seen
            seen += os.read(master, 4096)
        os.write(master, answer)
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(master)
    return proc.returncode, seen, out


@pytest.mark.parametrize("answer, changed", [(b"n\n", False), (b"\n", False), (b"y\n", True)])
def test_the_prompt_changes_nothing_unless_the_user_says_yes(user, answer, changed, seal):
    cache = seed_failure(user)
    before = listing(cache)
    code, question, plan = _fix_at_the_prompt(user, answer, seal)
    assert b"Apply this change? [y/N]" in question
    assert f"$ sudo chown -R {user.uid}:{user.gid} {cache}/wheels".encode() in plan or \
        f"$ chown -R {user.uid}:{user.gid} {cache}/wheels".encode() in plan
    if changed:
        assert code == 0 and all(v[0] == user.uid for v in listing(cache).values())
    else:
        assert code == 1 and listing(cache) == before


def test_a_prompt_with_standard_error_closed_changes_nothing(user, seal):
    """A terminal on stdin but fd 2 closed (`sudo pipdoctor fix --user U 2>&-`): the question cannot be shown,
    so nothing is applied: the plan already could not be written there, which is exit 3 (OUTPUT_FAILED), never a
    traceback (sys.stderr is None then) and never a change made without the question."""
    import pty
    import subprocess

    cache = seed_failure(user)
    before = listing(cache)
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh",
                               *seal.argv([pipdoctor_bin(), "--color", "never", "fix", "--user", user.name])],
                              stdin=slave, stdout=subprocess.PIPE, env=with_pip(None), cwd="/", timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == exitcodes.OUTPUT_FAILED, proc.stdout
    assert b"Traceback" not in proc.stdout
    assert listing(cache) == before


def test_what_chown_cannot_cure_is_explained_and_left_alone(user, seal):
    """A root-owned `wheels` that is also immutable: no chown (it would fail), the flag explained, and a
    fresh cache offered; nothing in the cache changes."""
    import subprocess

    from tests.checkkit import fs_type

    cache = seed_failure(user)
    wheels = cache / "wheels"
    if fs_type(cache) not in ("ext2/ext3", "ext4", "xfs", "btrfs", "f2fs"):
        pytest.skip(f"{sandbox.SANDBOX} is on {fs_type(cache)}, which has no immutable flag (chattr +i)")
    subprocess.run(["chattr", "+i", str(wheels)], check=True)
    try:
        before = listing(cache)
        result = fix_as_root(seal, "--user", user.name, "--yes", "--json")
        assert result.returncode == 1, result.text()
        steps = result.doc["plan"]["steps"]
        assert [(s["kind"], s["cures"]) for s in steps] == [("none", ["PD103", "PD104"]),
                                                            ("alternate-cache", ["PD103", "PD104"])]
        assert "immutable" in steps[0]["description"] and steps[0]["command"] == f"sudo chattr -i {wheels}"
        assert steps[1]["retry_args"] == ["--cache-dir", str(user.home / ".cache" / "pip-fresh")]
        assert result.doc["applied"] is None and listing(cache) == before
    finally:
        subprocess.run(["chattr", "-i", str(wheels)])
