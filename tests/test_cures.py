"""The cure a user is shown after a real pip run is one that works: the right cause first (a read-only mount
over an ownership guess), a `df` of a directory that exists, no `pip cache` advice that pip refuses, and no
chmod of a directory that is not the user's. Each state is built for real, each run is real pip as a real user."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import sandbox
from tests.checkkit import check_as, new_user_cache, pipdoctor_bin
from tests.fixkit import links_fixture, fix_as, journal_of, listing, seed_failure

pytestmark = pytest.mark.root

PIP = sandbox.PIP_VERSIONS[-1]


find_links = links_fixture("cures")


def users_pip(user, version: str = PIP) -> Path:
    """A venv of real pip in the user's home, its `pip` first on PATH (a copy: faster than a new venv)."""
    venv = sandbox.copy_venv(sandbox.pip_venv(version), user.home / "venv")
    (venv / "bin" / "pip").write_text(f'#!/bin/sh\nexec {venv}/bin/python -m pip "$@"\n')
    sandbox.chown_tree(user.home, user.uid, user.gid)
    return venv


def env_of(user, venv: Path, **extra) -> dict:
    return sandbox.pip_env(**{"HOME": str(user.home), "PATH": f"{venv}/bin:{sandbox.PATH}", **extra})


def pipdoctor_as(user, env, *argv, mount_setup=None):
    """`pipdoctor --json ARGV` as the user: (its JSON document, pip's and pipdoctor's stderr)."""
    done = sandbox.run_as(user, [pipdoctor_bin(), "--json", *argv], env=env, mount_setup=mount_setup,
                          separate_stderr=True)
    return json.loads(done.stdout), done.stderr.decode()


def commands(doc) -> list:
    return [fix["command"] for finding in doc["findings"] for fix in finding["fixes"]]


def cache_of(user, *, owner=None) -> Path:
    """~/.cache/pip with wheels/, in a ~/.cache the user owns; the cache itself the user's unless `owner`."""
    cache = user.home / ".cache" / "pip"
    (cache / "wheels").mkdir(parents=True)
    sandbox.chown_tree(user.home / ".cache", user.uid, user.gid)
    if owner is not None:
        sandbox.chown_tree(cache, owner, owner)
    return cache


def test_read_only_cache_mount_is_the_root_cause_not_a_permission_to_chmod(user):
    """pip calls a cache on a read-only mount "not writable" and disables it (a PD102 in the log); the live
    mount fact wins: PD106 first, and no chmod or chown is offered for it."""
    venv = users_pip(user)
    cache = cache_of(user)
    setup = f"mount --bind {cache} {cache}\nmount -o remount,bind,ro {cache}"
    doc, stderr = pipdoctor_as(user, env_of(user, venv), "install", "--no-index", "--find-links",
                               sandbox.wheelhouse(), "colorama", mount_setup=setup)
    assert "The cache has been disabled" in stderr, stderr
    assert doc["root_cause"] == "PD106", stderr
    assert [f["code"] for f in doc["findings"]][:2] == ["PD106", "PD102"]
    assert not [c for c in commands(doc) if c.startswith(("chmod", "sudo chown", "chown"))], commands(doc)
    assert f"sudo mount -o remount,rw {cache}" in commands(doc)


def test_disk_full_cache_df_names_a_directory_that_exists(user, find_links):
    """pip fails copying the built wheel into a full cache (`src -> dst`, dst in the cache): the `df` shown is
    of the nearest existing directory (not the half-written file), and it runs. (pip >= 25.3 copies inside the
    build backend, whose error names no path.)"""
    venv = users_pip(user, "24.3.1")
    cache = cache_of(user)
    setup = (f"mount -t tmpfs -o size=256k,mode=0755,uid={user.uid},gid={user.gid} tmpfs {cache}\n"
             f"dd if=/dev/zero of={cache}/filler bs=64k >/dev/null 2>&1 || true")
    # The tmpfs lives as long as its mount namespace: pipdoctor and each `df` it shows run in the same one.
    out = user.home / "report.json"
    runs_df = ("import json, os, shlex, subprocess, sys\n"
               "for c in [x['command'] for f in json.load(open(sys.argv[1]))['findings'] for x in f['fixes']]:\n"
               "    if c.startswith('df -h '):\n"
               "        ok = os.path.isdir(shlex.split(c)[2]) and subprocess.run(c, shell=True).returncode == 0\n"
               "        print(int(not ok), c, flush=True)\n")
    script = f'"$0" --json "$@" > {out}; exec {sandbox.READABLE_PYTHON} -c "$RUNS_DF" {out} >&2'
    done = sandbox.run_as(user, ["sh", "-c", script, pipdoctor_bin(), "install", "--no-index", "--find-links",
                                 find_links, "pdtiny"], env={**env_of(user, venv), "RUNS_DF": runs_df},
                          mount_setup=setup, separate_stderr=True)
    stderr = done.stderr.decode()
    assert "No space left on device: '/tmp/pip-wheel-" in stderr and f"' -> '{cache}/wheels/" in stderr, stderr
    assert json.loads(out.read_text())["root_cause"] == "PD105"
    ran = [line.split(" ", 1) for line in stderr.splitlines() if line.split(" ", 1)[-1].startswith("df -h ")]
    assert ran and all(status == "0" for status, _ in ran), ran


def test_cache_purge_on_a_disabled_cache_gets_no_option_pip_refuses(user):
    """`pip cache purge --no-cache-dir` fails ("pip cache commands can not function since cache is
    disabled") and --cache-dir would purge another, empty cache: neither is advice for `pip cache`."""
    venv = users_pip(user)
    cache_of(user, owner=0)
    env = env_of(user, venv)
    doc, stderr = pipdoctor_as(user, env, "cache", "purge")
    assert "pip cache commands can not function since cache is disabled" in stderr, stderr
    assert doc["root_cause"] == "PD102"
    pip_cache = [c for c in commands(doc) if c.startswith("pip cache")]
    assert not [c for c in pip_cache if "--no-cache-dir" in c or "--cache-dir" in c], pip_cache
    ran = sandbox.run_as(user, [venv / "bin" / "pip", "cache", "purge", "--no-cache-dir"], env=env)
    assert b"cache is disabled" in ran.stdout  # the advice left out really fails


def test_no_chmod_for_you_of_a_directory_that_is_roots(user):
    """HOME names a dir that does not exist below /home (root's): pip cannot make its cache there; no
    `chmod u+rwx /home` "for its owner, you" is printed, nor any change of /home."""
    venv = users_pip(user)
    env = env_of(user, venv, HOME=f"/home/{user.name}-missing")
    doc, stderr = pipdoctor_as(user, env, "install", "--no-index", "--find-links", sandbox.wheelhouse(), "colorama")
    assert f"/home/{user.name}-missing/.cache/pip" in stderr, stderr
    assert not [c for c in commands(doc) if c.split()[-1] == "/home"], commands(doc)
    assert not [c for c in commands(doc) if "chmod" in c], commands(doc)


# --- the no-root cure for a cache that is wholly root's, and what it leaves behind ---------------------------


def test_user_alone_moves_a_wholly_root_owned_cache_aside_and_undoes_it(user):
    """`sudo pip` made the whole ~/.cache/pip root's, in a ~/.cache the user owns: renaming the cache in
    ~/.cache needs no root, is journaled, and the user's own undo puts it back, inode for inode."""
    cache = new_user_cache(user)
    sandbox.chown_tree(cache, 0, 0)
    before = listing(cache)
    result = fix_as(user, "--yes", "--json")
    assert result.returncode == 0, result.text()
    step = result.doc["plan"]["steps"][0]
    assert (step["kind"], step["needs_root"], step["safe"], step["targets"]) == ("rename", False, True, [str(cache)])
    moved = step["new_names"][0]
    assert moved.startswith(f"{cache}.pipdoctor-") and step["command"] == f"mv -n -T -- {cache} {moved}"
    assert step["later"] == f"sudo rm -rf -- {moved}"
    assert not cache.exists() and listing(Path(moved)) == before
    assert [f["code"] for f in result.doc["after"]["findings"] if f["severity"] != "info"] == []
    journal = journal_of(result)
    assert journal.startswith(f"{user.home}/.local/share/pipdoctor/journals/")
    assert os.stat(journal).st_uid == user.uid

    undone = fix_as(user, "--undo", "--json")
    assert undone.returncode == 0, undone.text()
    assert listing(cache) == before and not os.path.lexists(moved)


def test_check_reports_what_fix_moved_aside_with_its_size_and_the_root_command(user, seal):
    """The moved-aside copies stayed forever: the check now reports each (info), with the `rm -rf` that
    deletes it, marked safe; root runs it sealed and it removes the copy and nothing else."""
    cache = seed_failure(user)
    victim = seal.scratch / "victim"
    victim.write_text("must stay")
    assert fix_as(user, "--yes").returncode == 0
    moved = next(cache.glob("wheels.pipdoctor-*"))
    result = check_as(user)
    assert result.returncode == 0, result.output  # info only: nothing is wrong with pip
    found = result.finding("PD110")
    assert found["severity"] == "info" and str(moved) in found["message"] + json.dumps(found["evidence"])
    assert "kB" in found["message"]
    fix = found["fixes"][0]
    assert (fix["command"], fix["safe"]) == (f"sudo rm -rf -- {moved}", True)
    done = sandbox.run(["sh", "-c", fix["command"].removeprefix("sudo ")], mount_setup=seal.setup)
    assert done.returncode == 0, done.stdout.decode()
    assert not moved.exists() and cache.is_dir() and victim.read_text() == "must stay"
    assert "PD110" not in check_as(user).codes()


def test_no_rm_rf_is_printed_for_a_moved_aside_copy_with_a_mount_below(user, seal):
    """rm -rf reaches through a mount point: with one below a copy, no deletion command is shown; a symlink
    named like a moved-aside cache is not pipdoctor's and is not reported at all."""
    cache = seed_failure(user)
    assert fix_as(user, "--yes").returncode == 0
    moved = next(cache.glob("wheels.pipdoctor-*"))
    inner = next(p for p in moved.rglob("*") if p.is_dir())
    os.symlink(seal.scratch, cache.parent / "pip.pipdoctor-20990101T000000Z")
    os.lchown(cache.parent / "pip.pipdoctor-20990101T000000Z", user.uid, user.gid)
    result = check_as(user, mount_setup=f"mount -t tmpfs tmpfs {inner}")
    found = result.finding("PD110")
    assert found["paths"] == [str(moved)]
    assert not [f for f in found["fixes"] if "rm -rf" in f["command"]], found["fixes"]
