"""`pipdoctor install --fix`: the user alone, real pip, the seed failure cured and pip run once more."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tests import sandbox
from tests.checkkit import new_user_cache, pip_python, pipdoctor_bin, with_pip
from tests.fixkit import links_fixture, seed_failure, wheels_in

pytestmark = pytest.mark.root



links = links_fixture("install", "pdtiny", "pdlater")


def _install(user, links, *pipdoctor_args, name="pdtiny", env=None, json_mode=False):
    args = ["install", "--no-index", "--find-links", str(links), "--target", str(user.home / f"t-{name}"), name]
    argv = [pipdoctor_bin(), "--color", "never", *(["--json"] if json_mode else []), *pipdoctor_args]
    if pipdoctor_args and pipdoctor_args[0] == "install":
        argv += args[1:]
    else:
        argv += args
    env = with_pip(sandbox.pip_env(HOME=user.home) if env is None else env)
    return sandbox.run_as(user, argv, env=env, separate_stderr=True, timeout=600)


def test_seed_failure_moved_aside_by_the_user_and_the_retry_succeeds(user, links):
    cache = seed_failure(user)
    run = _install(user, links, "install", "--fix", "--yes")
    err = run.stderr.decode()
    assert run.returncode == 0, err
    assert "PD101" in err and "rename (pip's cache; cures PD103" in err
    assert "running pip again" in err and "after the fix, pip succeeded" in err
    assert "After the fix, the check finds no problem" in err
    moved = [p for p in os.listdir(cache) if p.startswith("wheels.pipdoctor-")]
    assert len(moved) == 1 and os.stat(cache / moved[0]).st_uid == 0  # root's copy, untouched, set aside
    built = wheels_in(cache / "wheels")
    assert built and all(os.stat(w).st_uid == user.uid for w in built)  # the retry cached its wheel
    assert (user.home / "t-pdtiny" / "pdtiny.py").exists()


def test_without_fix_install_only_suggests(user, links):
    cache = seed_failure(user)
    run = _install(user, links)
    err = run.stderr.decode()
    assert run.returncode == 1, err  # pip's own status
    assert "root cause: PD101" in err and "sudo chown -R" in err and "--cache-dir" in err  # suggested
    assert "Traceback" not in err and "running pip again" not in err
    assert "wheels.pipdoctor-" not in " ".join(os.listdir(cache))  # and nothing changed


def test_json_reports_both_runs(user, links):
    seed_failure(user)
    run = _install(user, links, "--fix", "--yes", json_mode=True)
    doc = json.loads(run.stdout)
    assert run.returncode == 0 == doc["exit_code"]
    assert doc["pip"]["exit_code"] != 0 and doc["findings"][0]["code"] == doc["root_cause"] == "PD101"
    fix = doc["fix"]
    assert fix["plan"]["steps"][0]["kind"] == "rename"
    assert fix["retry"]["pip"]["exit_code"] == 0
    # nothing wrong after it; the copy moved aside is reported (PD110, info) until root deletes it
    assert [(f["code"], f["paths"]) for f in fix["after"]["findings"]] == [
        ("PD110", fix["plan"]["steps"][0]["new_names"])]


def test_a_failure_pip_does_not_blame_on_the_cache_gets_no_cure_and_no_second_run(user, links):
    # root-owned http-v2 (silent: pip never says) and a package that does not exist: the check sees the
    # cache problem, but it is not why pip failed, so it is not called the root cause and nothing changes.
    cache = new_user_cache(user)
    sandbox.chown_tree(cache / "http-v2", 0, 0)
    before = sorted(os.listdir(cache))
    run = _install(user, links, "install", "--fix", "--yes", name="pdnothing")
    err = run.stderr.decode()
    assert run.returncode == 1, err
    assert "No matching distribution" in err and "no known cause in its output" in err
    assert "root cause" not in err and "PD103" not in err  # unrelated to this failure: not shown (--json has it)
    assert "running pip again" not in err and sorted(os.listdir(cache)) == before
    doc = json.loads(_install(user, links, "--fix", "--yes", name="pdnothing", json_mode=True).stdout)
    assert doc["root_cause"] is None and doc["fix"] is None
    assert [f["code"] for f in doc["findings"]] == ["PD103"]


def test_a_journal_that_cannot_be_kept_changes_nothing_and_keeps_pips_status(user, links):
    # `sudo pip install --user` left ~/.local root's: no journal, so no change; pip's status and JSON stand.
    cache = seed_failure(user)
    local = user.home / ".local"
    local.mkdir(exist_ok=True)
    os.chown(local, 0, 0)
    run = _install(user, links, "--fix", "--yes", json_mode=True)
    doc = json.loads(run.stdout)
    assert run.returncode == doc["exit_code"] == doc["pip"]["exit_code"] == 1
    assert "journal" in doc["fix"]["note"] and doc["fix"]["applied"] is None and doc["fix"]["retry"] is None
    assert not [p for p in os.listdir(cache) if ".pipdoctor-" in p]


def test_whole_cache_root_owned_is_moved_aside_and_the_retry_caches_afresh(user, links):
    """The whole ~/.cache/pip is root's, in a ~/.cache the user owns: install --fix renames the cache aside
    (no root), and pip's next run makes and fills a fresh cache of the user's own."""
    cache = new_user_cache(user)
    sandbox.chown_tree(cache, 0, 0)
    run = _install(user, links, "--fix", "--yes", json_mode=True)
    assert run.returncode == 0, run.stderr.decode()
    fix = json.loads(run.stdout)["fix"]
    [step] = fix["plan"]["steps"]
    assert (step["kind"], step["targets"], step["needs_root"]) == ("rename", [str(cache)], False)
    moved = Path(step["new_names"][0])
    assert os.stat(moved).st_uid == 0 and not cache.exists()  # root's copy untouched, aside
    assert fix["retry"] is None  # pip succeeded without its cache (it disabled it): nothing to run again
    later = _install(user, links, name="pdlater")
    assert later.returncode == 0, later.stderr.decode()
    assert [w for w in wheels_in(cache / "wheels") if w.name.startswith("pdlater-")]
    assert os.stat(cache).st_uid == user.uid


def test_corrupt_cached_wheel_is_set_aside_alone_and_the_retry_rebuilds_it(user, links):
    cache = new_user_cache(user)
    first = _install(user, links, name="pdtiny")
    assert first.returncode == 0, first.stderr.decode()
    (wheel,) = [w for w in wheels_in(cache / "wheels") if w.name.startswith("pdtiny-")]
    data = wheel.read_bytes()
    wheel.write_bytes(data[: len(data) // 2])  # a copy into the cache cut short
    shutil.rmtree(user.home / "t-pdtiny")
    others = {p: os.lstat(p).st_ino for p in cache.rglob("*") if p != wheel}

    run = _install(user, links, "install", "--fix", "--yes", json_mode=True)
    doc = json.loads(run.stdout)
    assert run.returncode == 0, run.stderr.decode()
    assert doc["pip"]["exit_code"] != 0 and doc["findings"][0]["code"] == "PD107"
    (step,) = [s for s in doc["fix"]["plan"]["steps"] if s["code"] == "PD107"]
    aside = step["new_names"][0]
    assert step["kind"] == "rename" and step["targets"] == [str(wheel)]
    assert os.path.getsize(aside) == len(data) // 2  # the damaged file, set aside by name, not deleted
    assert doc["fix"]["retry"]["pip"]["exit_code"] == 0
    assert wheel.read_bytes() != data[: len(data) // 2] and zipfile.is_zipfile(wheel)  # pip built it again
    assert {p: os.lstat(p).st_ino for p in others if p.exists()} == others  # nothing else touched or moved
    assert step["later"] == f"rm -- {aside}"


def test_damaged_http_cache_is_moved_aside_and_the_retry_downloads_again(user, links):
    """A download pip serves from its HTTP cache fails the index's hash: the HTTP cache goes aside (renamed,
    undoable), pip fetches again and succeeds. The index is local HTTPS (the HTTP cache is only for HTTPS)."""
    cache = new_user_cache(user)
    site = sandbox.SANDBOX / f"https-fix-{os.getpid()}"
    shutil.rmtree(site, ignore_errors=True)
    with sandbox.umask(0o022):
        site.mkdir()
    try:
        sandbox.write_simple_index(site / "www", sorted(links.iterdir()))
        cert, key = sandbox.self_signed_cert(site)
        env = sandbox.pip_env(HOME=user.home, PIP_CERT=str(cert))
        with sandbox.https_server(site / "www", cert, key) as port:
            url = f"https://localhost:{port}/simple/"
            args = ["--index-url", url, "--target", str(user.home / "t-pdtiny"), "pdtiny"]
            first = sandbox.run_as(user, [pip_python(), "-m", "pip", "install", *args], env=with_pip(env))
            assert first.returncode == 0, first.stdout.decode()
            shutil.rmtree(user.home / "t-pdtiny")
            shutil.rmtree(cache / "wheels")  # so pip fetches the sdist again, from its HTTP cache
            bodies = [p for p in (cache / "http-v2").rglob("*.body") if b"text/html" not in
                      p.with_suffix("").read_bytes()]
            assert bodies
            for body in bodies:  # 16 bytes in the middle of every downloaded file overwritten
                data = bytearray(body.read_bytes())
                data[len(data) // 2: len(data) // 2 + 16] = b"\xff" * 16
                body.write_bytes(bytes(data))
            run = sandbox.run_as(user, [pipdoctor_bin(), "--json", "install", "--fix", "--yes", *args],
                                 env=with_pip(env), separate_stderr=True, timeout=600)
        doc = json.loads(run.stdout)
        assert run.returncode == 0, run.stderr.decode()
        assert doc["pip"]["exit_code"] != 0 and doc["findings"][0]["code"] == "PD107"
        (step,) = doc["fix"]["plan"]["steps"]
        assert step["kind"] == "rename" and step["targets"] == [str(cache / "http-v2")]
        assert os.path.isdir(step["new_names"][0]) and step["later"].startswith("rm -rf -- ")
        assert doc["fix"]["retry"]["pip"]["exit_code"] == 0
        assert (user.home / "t-pdtiny" / "pdtiny.py").exists()
    finally:
        shutil.rmtree(site, ignore_errors=True)
