"""`pipdoctor check` of uv's cache beside pip's: real users, real uv (tests.sandbox.uv_venv), real root runs of uv
that leave root-owned entries in a user's cache, and uv's own `uv cache dir` as the oracle of where the cache is."""

from __future__ import annotations

import os
import re

import pytest

from tests import sandbox
from tests.checkkit import check_as, check_as_root, parse, pipdoctor_bin, with_pip

pytestmark = pytest.mark.root

UV_VERSION = sandbox.UV_VERSIONS[-1]


def _uv(version: str = UV_VERSION) -> str:
    return str(sandbox.uv_venv(version) / "bin" / "uv")


def _env(user, version: str = UV_VERSION, **extra) -> dict:
    """The user's own shell: its HOME, uv on PATH (as an installed uv is), no uv download of a Python."""
    return with_pip(sandbox.pip_env(HOME=str(user.home), PATH=f"{os.path.dirname(_uv(version))}:{sandbox.PATH}",
                                    UV_PYTHON_DOWNLOADS="never", **extra))


def _as_user_dir(user, path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for part in [path, *path.parents]:
        if part == user.home:
            break
        os.chown(part, user.uid, user.gid)


def _sudo_uv_venv(user, tmp_path) -> None:
    """`sudo uv venv` with the user's HOME kept (sudo without -H): uv has no root rule, so its cache init writes
    root-owned CACHEDIR.TAG, .lock, interpreter-vN and sdists-vN (with its .git) into the user's ~/.cache/uv."""
    _as_user_dir(user, user.home / ".cache" / "uv")
    env = _env(user, SUDO_USER=user.name, SUDO_UID=str(user.uid), SUDO_GID=str(user.gid))
    proc = sandbox.run([_uv(), "venv", "-q", "-p", "/usr/bin/python3", tmp_path / "root-venv"], env=env,
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout.decode()


def _bucket(user) -> str:
    buckets = sorted(p.name for p in (user.home / ".cache" / "uv").iterdir() if p.name.startswith("sdists-v"))
    assert len(buckets) == 1 and os.stat(user.home / ".cache" / "uv" / buckets[0]).st_uid == 0, buckets
    return str(user.home / ".cache" / "uv" / buckets[0])


def _uv_cache_dir(user, env, cwd=None) -> str:
    proc = sandbox.run_as(user, [_uv(), "cache", "dir"], env=env, cwd=cwd, separate_stderr=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


def _caches(run) -> dict:
    return {cache["tool"]: cache for cache in run.account["caches"]}


def _uv_findings(run) -> list:
    return [f for f in run.findings if f["tool"] == "uv"]


@pytest.fixture
def puc_user():
    with sandbox.unprivileged_user("puc") as made:
        yield made


@pytest.fixture
def bucket_user(puc_user, tmp_path):
    """A user whose uv cache holds the root-owned sdists bucket a `sudo uv` left (and nothing else is wrong)."""
    _sudo_uv_venv(puc_user, tmp_path)
    return puc_user


def _assert_bucket_finding(run, user) -> dict:
    bucket = _bucket(user)
    found = [f for f in _uv_findings(run) if f["code"] == "PD103"]
    assert len(found) == 1, run.output.decode()
    finding = found[0]
    assert bucket in finding["paths"] and bucket in finding["facts"]["chown"]
    assert any(bucket in e["text"] and "root 0:0" in e["text"] for e in finding["evidence"]), finding["evidence"]
    assert "stops" in finding["why"] and "sudo uv" in finding["why"]
    # pip's cache is another matter: nothing of uv's is blamed on it
    assert all(f["tool"] == "uv" for f in run.findings), [(f["code"], f["tool"]) for f in run.findings]
    return finding


def test_user_check_finds_the_bucket_sudo_uv_left(bucket_user):
    env = _env(bucket_user)
    run = check_as(bucket_user, env=env)
    assert run.returncode == 1
    _assert_bucket_finding(run, bucket_user)
    caches = _caches(run)
    assert [c["tool"] for c in run.account["caches"]] == ["pip", "uv"]
    assert caches["uv"]["path"] == _uv_cache_dir(bucket_user, env) and caches["uv"]["source"] == "platform default"
    assert caches["uv"]["usage"]["foreign"]["entries"] >= 1
    # `cache` stays pip's, exactly the first of `caches` without its tool
    assert run.account["cache"] == {k: v for k, v in caches["pip"].items() if k != "tool"}
    assert caches["pip"]["path"] == str(bucket_user.home / ".cache" / "pip")


def test_the_human_report_has_a_uv_part_numbered_on(bucket_user):
    proc = sandbox.run_as(bucket_user, [pipdoctor_bin(), "--color", "never", "check"], env=_env(bucket_user))
    out = proc.stdout.decode()
    lines = out.splitlines()
    assert proc.returncode == 1 and lines[0].startswith(f"pipdoctor check: {bucket_user.name} (uid "), out
    assert f"uv cache: {bucket_user.home}/.cache/uv (platform default)" in lines, out
    uv_part = lines[lines.index(f"uv cache: {bucket_user.home}/.cache/uv (platform default)"):]
    pip_numbers = [int(m[1]) for line in lines[:len(lines) - len(uv_part)] if (m := re.match(r"\[(\d+)\] ", line))]
    uv_numbers = [int(m[1]) for line in uv_part if (m := re.match(r"\[(\d+)\] PD", line))]
    assert uv_numbers and uv_numbers[0] == len(pip_numbers) + 1, out
    assert any(line.startswith(f"[{uv_numbers[0]}] PD103") for line in uv_part), out


def test_root_finds_it_for_one_user_and_for_all(bucket_user, seal):
    run = check_as_root("--user", bucket_user.name, mount_setup=seal.setup)
    assert run.returncode == 1, run.output.decode()
    _assert_bucket_finding(run, bucket_user)
    # root's check of the user is a login's: HOME from passwd, as `uv cache dir` of that login sees it
    assert _caches(run)["uv"]["path"] == _uv_cache_dir(bucket_user, _env(bucket_user))
    proc = sandbox.run([pipdoctor_bin(), "--color", "never", "check", "--all-users"], env=with_pip(None),
                       mount_setup=seal.setup, separate_stderr=True, timeout=600)
    summary = next(line for line in proc.stdout.decode().splitlines()
                   if f" {bucket_user.name} (uid {bucket_user.uid}):" in line)
    assert summary.startswith("  ! ") and summary.endswith("uv's cache has 1 error (PD103)"), summary
    everyone = parse(sandbox.run([pipdoctor_bin(), "check", "--json", "--all-users"], env=with_pip(None),
                                 mount_setup=seal.setup, separate_stderr=True, timeout=600))
    mine = next(a for a in everyone.doc["accounts"] if a["uid"] == bucket_user.uid)
    assert [c["tool"] for c in mine["caches"]] == ["pip", "uv"]
    assert [(f["code"], f["tool"]) for f in mine["findings"]] == [("PD103", "uv")]


def test_tool_picks_one_installer(bucket_user):
    env = _env(bucket_user)
    pip_only = check_as(bucket_user, "--tool", "pip", env=env)
    assert pip_only.returncode == 0 and [c["tool"] for c in pip_only.account["caches"]] == ["pip"]
    assert pip_only.findings == []
    uv_only = check_as(bucket_user, "--tool", "uv", env=env)
    assert uv_only.returncode == 1 and [c["tool"] for c in uv_only.account["caches"]] == ["uv"]
    _assert_bucket_finding(uv_only, bucket_user)
    # with --tool uv the cache options are uv's: --cache-dir names uv's cache, as `uv --cache-dir` takes it
    fresh = bucket_user.home / "uv-fresh"
    _as_user_dir(bucket_user, fresh)
    elsewhere = check_as(bucket_user, "--tool", "uv", "--cache-dir", str(fresh), env=env)
    assert elsewhere.returncode == 0 and elsewhere.account["cache"]["path"] == str(fresh)
    assert elsewhere.account["cache"]["source"] == "--cache-dir"
    refused = check_as(bucket_user, "--no-cache", env=env)
    assert refused.returncode == 2 and b"--no-cache is uv's: add --tool uv" in refused.output


def test_no_uv_no_uv_part(puc_user):
    """An account with neither a uv nor a uv cache is checked as before uv came."""
    env = with_pip(sandbox.pip_env(HOME=str(puc_user.home)))
    run = check_as(puc_user, env=env)
    assert run.returncode == 0 and [c["tool"] for c in run.account["caches"]] == ["pip"], run.output.decode()


def test_a_broken_uv_toml_is_uv_s_and_pip_is_still_checked(puc_user):
    config = puc_user.home / ".config" / "uv"
    _as_user_dir(puc_user, config)
    (config / "uv.toml").write_text("cache-dir = [\n")
    os.chown(config / "uv.toml", puc_user.uid, puc_user.gid)
    env = _env(puc_user)
    real = sandbox.run_as(puc_user, [_uv(), "cache", "dir"], env=env)
    assert real.returncode == 2 and b"Failed to parse" in real.stdout  # uv itself refuses to start
    run = check_as(puc_user, env=env)
    assert run.returncode == 1
    caches = _caches(run)
    assert caches["pip"]["path"] == str(puc_user.home / ".cache" / "pip") and not caches["pip"]["disabled"]
    assert caches["uv"]["path"] is None and caches["uv"]["disabled_by"] == "uv-stops"
    (finding,) = run.findings
    assert (finding["code"], finding["tool"]) == ("PD205", "uv")
    assert finding["paths"] == [str(config / "uv.toml")] and "uv stops" in finding["message"]


def _lock_run(user, version: str, tmpdir, as_root: bool):
    """`uv pip install --dry-run` into the system Python: uv locks that environment in $TMPDIR/uv-<digest>.lock
    before it resolves (nothing is installed; the package does not even exist, so the run ends there)."""
    argv = [str(sandbox.uv_venv(version) / "bin" / "uv"), "pip", "install", "--dry-run", "--python",
            "/usr/bin/python3", "--break-system-packages", "--no-index", "pucnothing"]
    if as_root:  # sudo -H: root's own cache; only the lock is left where the user meets it
        env = _env(user, TMPDIR=str(tmpdir), UV_CACHE_DIR=str(tmpdir.parent / "root-uv-cache"))
        return sandbox.run(argv, env=env, cwd=tmpdir.parent)
    return sandbox.run_as(user, argv, env=_env(user, TMPDIR=str(tmpdir)))


def test_a_lock_sudo_uv_left_in_tmp_is_reported(puc_user, tmp_path):
    tmpdir = puc_user.home / "tmp"
    tmpdir.mkdir(mode=0o1777)
    tmpdir.chmod(0o1777)  # root's, world-writable and sticky, as /tmp is
    _lock_run(puc_user, "0.4.30", tmpdir, as_root=True)  # uv 0.4.30 creates its locks 0644
    (lock,) = tmpdir.glob("uv-*.lock")
    assert os.stat(lock).st_uid == 0
    user_run = _lock_run(puc_user, "0.4.30", tmpdir, as_root=False)
    assert user_run.returncode == 2 and f"failed to create file `{lock}`".encode() in user_run.stdout
    run = check_as(puc_user, "--tool", "uv", env=_env(puc_user, TMPDIR=str(tmpdir)))
    assert run.returncode == 1, run.output.decode()
    (finding,) = [f for f in run.findings if f["code"] == "PD303"]
    assert finding["tool"] == "uv" and finding["paths"] == [str(lock)]
    assert str(lock) in finding["message"] and "root" in finding["message"]
    assert any(str(lock) in e["text"] and "owner root 0:0, mode 0644" in e["text"] for e in finding["evidence"])
    assert any(str(tmpdir) in fix["command"] and "TMPDIR" in fix["command"] for fix in finding["fixes"])
    # pip keeps no lock there: its check does not see uv's
    assert "PD303" not in check_as(puc_user, "--tool", "pip", env=_env(puc_user, TMPDIR=str(tmpdir))).codes()


def test_a_lock_the_user_can_open_is_no_problem(puc_user, tmp_path):
    """uv from 0.9 makes its locks 0666: root's lock in root's sticky dir does not stop the user (the user's run
    goes through, as the recordings of uv-temp-lock-root-owned show), and the check says nothing."""
    tmpdir = puc_user.home / "tmp"
    tmpdir.mkdir()
    tmpdir.chmod(0o1777)
    _lock_run(puc_user, UV_VERSION, tmpdir, as_root=True)
    (lock,) = tmpdir.glob("uv-*.lock")
    assert os.stat(lock).st_uid == 0 and os.stat(lock).st_mode & 0o777 == 0o666
    run = check_as(puc_user, "--tool", "uv", env=_env(puc_user, TMPDIR=str(tmpdir)))
    assert run.returncode == 0 and run.findings == [], run.output.decode()


def test_sudo_keeping_home_says_uv_stops(bucket_user, seal):
    """root under sudo with the user's HOME: PD204 for uv's cache says what it does to uv (it stops), not pip's."""
    env = _env(bucket_user, SUDO_USER=bucket_user.name, SUDO_UID=str(bucket_user.uid),
               SUDO_GID=str(bucket_user.gid))
    run = check_as_root("--tool", "uv", env=env, mount_setup=seal.setup)
    finding = run.finding("PD204")
    assert finding["tool"] == "uv" and "stops on them" in finding["message"], finding["message"]
    assert "no root rule" in finding["why"] and "pip then" not in finding["why"]


def test_the_rules_are_those_of_the_uv_on_path(puc_user):
    """uv's version is read from its .dist-info name, never by running it: a uv.toml holding a field only a
    pyproject.toml may hold stops uv 0.13.9 (PD205) and not uv 0.4.30, which has no such rule; each uv agrees."""
    config = puc_user.home / ".config" / "uv"
    _as_user_dir(puc_user, config)
    (config / "uv.toml").write_text("managed = true\n")
    os.chown(config / "uv.toml", puc_user.uid, puc_user.gid)
    for version, stops in (("0.4.30", False), (UV_VERSION, True)):
        env = _env(puc_user, version)
        real = sandbox.run_as(puc_user, [_uv(version), "cache", "dir"], env=env)
        assert (real.returncode != 0) == stops, (version, real.stdout.decode())
        run = check_as(puc_user, "--tool", "uv", env=env)
        assert ("PD205" in run.codes()) == stops, (version, run.output.decode())
        if not stops:
            assert run.account["cache"]["path"] == real.stdout.decode().strip()
