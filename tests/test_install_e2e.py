"""`pipdoctor install` end to end: a real unprivileged user, real pip, real root-owned directories."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests import sandbox
from tests.fixkit import links_fixture

pytestmark = pytest.mark.root

# An old pip (non-fatal cache failure, EnvironmentError wording era) and the newest.
VERSIONS = ("21.3.1", "26.3")

# pip's temp dir names and a rebuilt wheel's hash differ between two runs; all else must be identical.
_VOLATILE = re.compile(rb"(pip-[a-z-]*)[a-z0-9_]{8}|/tmp/tmp[a-z0-9_]{8}|(sha256=)[0-9a-f]{64}")


def _stable(output: bytes) -> bytes:
    return _VOLATILE.sub(lambda m: (m.group(1) or m.group(2) or b"") + b"X", output)


find_links = links_fixture("e2e")


@pytest.fixture(scope="module")
def pipdoctor_bin() -> Path:
    return sandbox.pipdoctor_venv() / "bin" / "pipdoctor"


def _user_venv(user, version: str, owner_uid: int, owner_gid: int) -> Path:
    """A venv of pip==version in the user's home: its `pip` is the one first on the user's PATH."""
    venv = user.home / "venv"
    sandbox.new_venv(venv, version)
    sandbox.chown_tree(venv, owner_uid, owner_gid)
    return venv


def _env(user, venv: Path) -> dict:
    return sandbox.pip_env(HOME=str(user.home), PATH=f"{venv}/bin:{sandbox.PATH}")


def _pip_args(find_links: Path) -> list:
    return ["install", "--no-index", "--find-links", str(find_links), "pdtiny"]


def _make_cache(user, *root_owned: str) -> Path:
    """The user's ~/.cache/pip, theirs, with the named subdirs (or the cache itself: '.') root-owned."""
    cache = user.home / ".cache" / "pip"
    cache.mkdir(parents=True)
    for part in (user.home / ".cache", cache):
        os.chown(part, user.uid, user.gid)
    for sub in root_owned:
        path = cache / sub
        path.mkdir(exist_ok=True)
        os.chown(path, 0, 0)
        path.chmod(0o755)
    return cache


def _both_runs(user, venv, find_links, pipdoctor_bin, reset=None):
    """The same command twice: plain pip, then through pipdoctor; `reset` undoes what the first run cached."""
    env = _env(user, venv)
    plain = sandbox.run_as(user, [venv / "bin" / "pip", *_pip_args(find_links)], env=env, separate_stderr=True)
    if reset:
        reset()
    wrapped = sandbox.run_as(user, [pipdoctor_bin, "--color", "never", *_pip_args(find_links)], env=env,
                             separate_stderr=True)
    return plain, wrapped


def _uninstall(user, venv: Path) -> None:
    """Undo the first run's install, so the second run does the same work."""
    done = sandbox.run_as(user, [venv / "bin" / "pip", "uninstall", "--yes", "pdtiny"], env=_env(user, venv))
    assert done.returncode == 0, done.stdout.decode()


def _report(wrapped, plain) -> str:
    """pipdoctor's own part of stderr: what follows pip's untouched stderr."""
    assert _stable(wrapped.stderr).startswith(_stable(plain.stderr))
    return wrapped.stderr[len(plain.stderr):].decode()


@pytest.mark.parametrize("version", VERSIONS)
def test_seed_failure_root_owned_wheels_is_pd101_with_exact_chown(user, version, find_links, pipdoctor_bin):
    cache = _make_cache(user, "wheels")
    venv = _user_venv(user, version, user.uid, user.gid)
    plain, wrapped = _both_runs(user, venv, find_links, pipdoctor_bin)

    assert plain.returncode != 0, plain.stderr.decode()
    assert wrapped.returncode == plain.returncode
    assert _stable(wrapped.stdout) == _stable(plain.stdout)
    assert b"[Errno 13] Permission denied" in plain.stderr + plain.stdout
    report = _report(wrapped, plain)
    first = report.split("Also found:")[0]
    assert "error PD101 cache-permission-denied" in first
    assert f"{cache}/wheels is owned by root 0:0" in first
    assert f"sudo chown -R {user.uid}:{user.gid} {cache}/wheels" in first
    assert "--no-cache-dir" in first
    fixes = first.split("  fix:")[1].split("  why:")[0]  # the fixes and the cure, not the explanation
    assert "sudo pip" not in fixes and "--user" not in fixes

    as_json = sandbox.run_as(user, [pipdoctor_bin, "--json", *_pip_args(find_links)], env=_env(user, venv),
                             separate_stderr=True)
    assert as_json.returncode == plain.returncode
    document = json.loads(as_json.stdout)
    first = document["findings"][0]
    assert first["code"] == "PD101" and first["severity"] == "error"
    assert f"{cache}/wheels" in first["paths"]
    commands = {fix["command"]: fix["safe"] for fix in first["fixes"]}
    assert commands[f"sudo chown -R {user.uid}:{user.gid} {cache}/wheels"] is True
    assert any("--no-cache-dir" in c or "--cache-dir" in c for c in commands)
    assert any("Errno 13" in e["text"] and isinstance(e["line"], int) for e in first["evidence"])
    # The live check ran too: the root-owned subtree, read from the machine (evidence with no log line).
    live = [f for f in document["findings"] if f["code"] == "PD103"]
    assert live and f"{cache}/wheels" in live[0]["paths"]
    assert all(e["line"] is None for e in live[0]["evidence"])
    assert document["exit_code"] == plain.returncode
    # pip's stdout went to stderr: stdout is the JSON document and nothing else.
    assert b"Looking in links" in as_json.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_whole_cache_root_owned_is_pd102(user, version, find_links, pipdoctor_bin):
    cache = _make_cache(user, ".", "wheels", "http")
    venv = _user_venv(user, version, user.uid, user.gid)
    plain, wrapped = _both_runs(user, venv, find_links, pipdoctor_bin, reset=lambda: _uninstall(user, venv))

    assert plain.returncode == 0  # pip carries on without a cache
    assert wrapped.returncode == 0
    assert _stable(wrapped.stdout) == _stable(plain.stdout)
    report = _report(wrapped, plain)
    first = report.split("Also found:")[0]
    assert "warning PD102 cache-disabled" in first
    assert f"{cache} is owned by root 0:0" in first
    assert f"sudo chown -R {user.uid}:{user.gid} {cache}" in first


@pytest.mark.parametrize("version", VERSIONS)
def test_root_owned_venv_is_pd301_without_cache_advice(user, version, find_links, pipdoctor_bin):
    cache = _make_cache(user)
    venv = _user_venv(user, version, 0, 0)
    plain, wrapped = _both_runs(user, venv, find_links, pipdoctor_bin,
                                reset=lambda: shutil.rmtree(cache / "wheels", ignore_errors=True))

    assert plain.returncode == 1
    assert wrapped.returncode == plain.returncode
    report = _report(wrapped, plain)
    assert "error PD301 install-target-permission-denied" in report.split("Also found:")[0]
    assert "site-packages" in report
    for cache_advice in ("chown", "--cache-dir", "--no-cache-dir", "PD101", "PD102"):
        assert cache_advice not in report


def test_success_prints_nothing_after_pip(user, find_links, pipdoctor_bin):
    cache = _make_cache(user)
    venv = _user_venv(user, VERSIONS[-1], user.uid, user.gid)

    def reset():
        _uninstall(user, venv)
        shutil.rmtree(cache / "wheels")

    plain, wrapped = _both_runs(user, venv, find_links, pipdoctor_bin, reset=reset)
    assert plain.returncode == wrapped.returncode == 0
    assert _stable(wrapped.stdout) == _stable(plain.stdout)
    assert _stable(wrapped.stderr) == _stable(plain.stderr)
    assert b"pipdoctor:" not in wrapped.stdout + wrapped.stderr
