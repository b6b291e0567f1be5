"""`pipdoctor check` on real broken machines: real users, real owners, pip's own `pip cache dir` as judge."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests import sandbox
from tests.checkkit import (assert_pip_agrees, check_as, check_as_root, check_as_uid, chown_to_root,
                            deep_entries, fix_commands, new_user_cache, pip_cache_dir, pip_python,
                            parse, pipdoctor_bin, runner_as, user_cache, with_pip)

pytestmark = pytest.mark.root


def _run_fix(command: str, user=None) -> None:
    """Run a fix command the report printed, as root (sudo dropped) or as the user."""
    command = command.replace("sudo ", "")
    argv = ["bash", "-c", command]
    proc = sandbox.run_as(user, argv) if user is not None else sandbox.run(argv)
    assert proc.returncode == 0, proc.stdout


def test_healthy_user_after_a_real_pip_install_exits_0(user, tmp_path):
    links = sandbox.SANDBOX / f"links-check-{os.getpid()}"
    shutil.rmtree(links, ignore_errors=True)
    with sandbox.umask(0o022):
        links.mkdir(parents=True)
        sdist = sandbox.build_sdist(links, name="pdcheck")
        for name, version in sandbox.BUILD_WHEELS.items():
            shutil.copy(sandbox.wheel_file(name, version), links)
    try:
        venv = user.home / "venv"
        proc = sandbox.run_as(user, [pip_python().parent / "python3", "-m", "venv", "--without-pip", venv])
        assert proc.returncode == 0, proc.stdout
        install = sandbox.run_as(user, [pip_python(), "-m", "pip", "install", "--no-index", "--find-links", links,
                                        "--target", user.home / "target", sdist])
        assert install.returncode == 0, install.stdout
        assert any((user_cache(user) / "wheels").rglob("*.whl")), "pip cached no wheel"
        result = check_as(user)
        assert result.returncode == 0, result.output
        assert result.problems() == []
        assert result.account["user"] == user.name
        assert result.cache == {"path": str(user_cache(user)), "disabled": False,
                                "source": "platform default",
                                "not_reached": {"count": 0, "reasons": {}, "samples": []}}
        assert_pip_agrees(result, runner_as(user), with_pip(sandbox.pip_env(HOME=user.home)))
        human = sandbox.run_as(user, [pipdoctor_bin(), "check"])
        assert human.returncode == 0
        assert b"No problems found" in human.stdout
    finally:
        shutil.rmtree(links, ignore_errors=True)


def test_partly_root_owned_cache_deep_inside_wheels_and_http(user):
    cache = new_user_cache(user)
    wheel_dirs = deep_entries(cache, "wheels", 2)
    http_files = deep_entries(cache, "http-v2", 3)
    chown_to_root(wheel_dirs + http_files)
    result = check_as(user)
    assert result.returncode == 1
    found = result.finding("PD103")
    assert found["severity"] == "error"
    # 2 wheel hash dirs with a wheel each, and 3 HTTP files: 7 entries, all root's
    assert "7 entries" in found["message"] and "root" in found["message"], found["message"]
    evidence = "\n".join(e["text"] for e in found["evidence"])
    assert "foreign owners: root 0:0 (7 entries)" in evidence
    assert "wheels/: 4 entries" in evidence and "http-v2/: 3 entries" in evidence
    for path in wheel_dirs + http_files:
        assert str(path) in evidence
    assert "HTTP-cache write failures never reach pip's log" in evidence
    # exactly the foreign subtrees, with -R inside the cache only
    chown = [c for c in fix_commands(found) if "chown" in c][0]
    prefix = f"sudo chown -R {user.uid}:{user.gid} "
    assert chown.startswith(prefix)
    assert sorted(chown[len(prefix):].split()) == sorted(str(p) for p in wheel_dirs + http_files)
    assert not any("sudo pip" in c or "--user" in c for c in fix_commands(found))
    assert "PD102" not in result.codes()  # the cache root is the user's: pip keeps the cache
    assert_pip_agrees(result, runner_as(user), with_pip(sandbox.pip_env(HOME=user.home)))
    _run_fix(chown)
    assert check_as(user).returncode == 0


def test_whole_cache_root_owned(user):
    cache = new_user_cache(user)
    sandbox.chown_tree(cache, 0, 0)
    result = check_as(user)
    assert result.returncode == 1
    found = result.finding("PD103")
    assert found["message"].startswith(f"pip's whole cache {cache} is owned by root 0:0")
    assert fix_commands(found)[0] == f"sudo chown -R {user.uid}:{user.gid} {cache}"
    # pip's own rule: the cache root is not writable by the user, so pip disables the cache
    disabled = result.finding("PD102")
    assert str(cache) in disabled["message"]
    assert result.codes().index("PD103") < result.codes().index("PD102")
    assert_pip_agrees(result, runner_as(user), with_pip(sandbox.pip_env(HOME=user.home)))
    _run_fix(fix_commands(found)[0])
    assert check_as(user).returncode == 0


def test_home_missing(user):
    missing = sandbox.SANDBOX / "homes" / f"{user.name}-gone"
    env = sandbox.pip_env(HOME=missing)
    result = check_as(user, env=env, cwd="/")
    assert result.returncode == 1
    found = result.finding("PD201")
    assert f"HOME ({missing}, from HOME) does not exist" in found["message"]
    assert result.account["cache"]["path"] == f"{missing}/.cache/pip"
    assert f"sudo mkdir -p {missing} && sudo chown -h {user.uid}:{user.gid} {missing}" in fix_commands(found)
    assert f"export HOME={user.home}" in fix_commands(found)  # HOME differs from the passwd home, which exists
    assert "PD104" not in result.codes()  # PD201 explains why the cache cannot be created
    assert result.codes()[0] == "PD201"
    assert_pip_agrees(result, runner_as(user), with_pip(env), cwd="/")


def test_home_root_owned(user):
    os.chown(user.home, 0, 0)
    result = check_as(user)
    assert result.returncode == 1
    found = result.finding("PD202")
    assert found["message"].startswith(f"HOME ({user.home}) is owned by root 0:0, not by {user.name} "
                                       f"{user.uid}:{user.gid}")
    assert fix_commands(found)[0] == f"sudo chown -h {user.uid}:{user.gid} {user.home}"
    # HOME itself is never `safe` (safety.py): the admin reviews it; meanwhile pip can run without a cache
    assert found["fixes"][0]["safe"] is False
    assert "pip install ... --no-cache-dir" in [f["command"] for f in found["fixes"] if f["safe"]]
    assert "PD104" not in result.codes()
    assert "PD102" in result.codes()  # pip cannot create ~/.cache: it will run uncached
    assert_pip_agrees(result, runner_as(user), with_pip(sandbox.pip_env(HOME=user.home)))


def test_uid_without_passwd_entry(tmp_path):
    uid = 47000 + os.getpid() % 1000
    home = sandbox.SANDBOX / "homes" / f"bare-{uid}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.chown(home, uid, uid)

    def as_uid(argv, env=None, cwd=None):
        return sandbox.run_as_uid(uid, uid, argv, env=env, cwd=cwd)

    try:
        env = sandbox.pip_env(HOME=home)
        result = check_as_uid(uid, uid, env=env)
        assert result.returncode == 1, result.output
        assert result.account["user"] is None and result.account["uid"] == uid
        found = result.finding("PD203")
        assert f"uid {uid} has no passwd entry" in found["message"]
        assert any(f"useradd --uid {uid}" in c for c in fix_commands(found))
        assert result.account["cache"]["path"] == f"{home}/.cache/pip"
        assert "PD201" not in result.codes()
        assert_pip_agrees(result, as_uid, with_pip(env))

        # HOME unset as well. pip before 26.3: Python leaves `~` alone, the cache is <cwd>/~/.cache/pip
        old_pip = sandbox.python_of(sandbox.pip_venv("24.3.1"))
        env = with_pip(sandbox.pip_env(HOME=None), old_pip)
        result = check_as_uid(uid, uid, env=env, cwd=home)
        assert result.account["cache"]["path"] == f"{home}/~/.cache/pip"
        assert "a directory literally named `~`" in result.finding("PD201")["message"]
        assert_pip_agrees(result, as_uid, env, cwd=home)
        # pip 26.3 stops instead ("could not determine the home directory"): no cache at all, still PD201
        env = with_pip(sandbox.pip_env(HOME=None))
        result = check_as_uid(uid, uid, env=env, cwd=home)
        assert result.returncode == 1, result.output
        assert result.account["cache"]["path"] is None
        assert "could not determine the home directory" in result.finding("PD201")["message"]
        status, output = pip_cache_dir(as_uid, env, cwd=home)
        assert status != 0 and "could not determine the home directory" in output
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_sudo_keeps_home(user):
    cache = new_user_cache(user)
    chown_to_root(deep_entries(cache, "wheels", 1))
    env = sandbox.pip_env(HOME=user.home, SUDO_USER=user.name, SUDO_UID=user.uid, SUDO_GID=user.gid,
                          SUDO_COMMAND="/usr/local/bin/pipdoctor check")
    result = check_as_root(env=env, cwd=user.home)
    assert result.returncode == 1, result.output
    assert result.account["uid"] == 0
    found = result.finding("PD204")
    assert found["message"].startswith(f"Running as root under sudo with HOME={user.home}, {user.name}'s home")
    assert "pip run as root will disable its cache" in found["message"]
    evidence = "\n".join(e["text"] for e in found["evidence"])
    assert f"SUDO_UID={user.uid}" in evidence and "already 2 entries in the cache" in evidence
    assert any("always_set_home" in c for c in fix_commands(found))
    # the root-owned entries are the user's problem: PD103 with a chown back to the user, not to root
    foreign = result.finding("PD103")
    assert f"chown -R {user.uid}:{user.gid} " in fix_commands(foreign)[0]
    assert "PD102" in result.codes()  # as root, pip refuses a cache dir root does not own
    assert_pip_agrees(result, lambda argv, env=None, cwd=None: sandbox.run(argv, env=env, cwd=cwd), with_pip(env),
                      cwd=user.home)


@pytest.mark.skipif(shutil.which("su") is None, reason="needs su(1) (Debian's util-linux)")
def test_su_keeping_home_is_named_from_the_process_tree(user):
    """Root started through a real `su -m` (which keeps the caller's HOME): PD202 names su from the process
    tree, and PD102 follows, as pip as root will not use a cache under a HOME root does not own."""
    new_user_cache(user)
    env = with_pip(sandbox.pip_env(HOME=user.home))
    proc = sandbox.run(["su", "-m", "root", "-c", f"{pipdoctor_bin()} check --json"], env=env, cwd=user.home,
                       separate_stderr=True)
    result = parse(proc)
    assert result.returncode == 1, result.output
    assert result.account["uid"] == 0 and result.codes()[:2] == ["PD202", "PD102"]
    evidence = [e["text"] for e in result.finding("PD202")["evidence"]]
    assert any(text.startswith("started by su (process tree: su <- ") for text in evidence), evidence
    assert "PD204" not in result.codes()  # no sudo in the chain, no SUDO_* variables


def test_check_never_changes_anything(user):
    cache = new_user_cache(user, files=60)
    chown_to_root(deep_entries(cache, "http-v2", 2))
    before = subprocess.run(["find", str(user.home), "-printf", "%p %U %G %m %s %T@\n"], stdout=subprocess.PIPE)
    check_as(user)
    check_as_root("--user", user.name)
    after = subprocess.run(["find", str(user.home), "-printf", "%p %U %G %m %s %T@\n"], stdout=subprocess.PIPE)
    assert before.stdout == after.stdout
