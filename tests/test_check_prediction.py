"""`pipdoctor check` predicts what the real pip then does, where the two used to part (issue 12): a value
pip refuses, HOME=~, --isolated, a cache root fix refuses, --python. Each check is compared with real pip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests import sandbox
from tests.checkkit import (PIP_VERSION, assert_pip_agrees, check_as, pip_cache_dir, pip_python, runner_as,
                            with_pip)

pytestmark = pytest.mark.root


def _env(user, **extra):
    return with_pip(sandbox.pip_env(**{"HOME": user.home, **extra}))


def _pip_refuses(user, env) -> str:
    """pip's own `pip cache dir` as the user stops on its input (cli/parser.py: exit 2 or 3, or a traceback)."""
    status, output = pip_cache_dir(runner_as(user), env)
    assert status in (2, 3) or "Traceback" in output, (status, output)
    return output


@pytest.mark.parametrize("setting", ["PIP_TIMEOUT=abc", "PIP_ISOLATED=garbage", "retries = x"])
def test_a_value_pip_refuses_is_a_finding(user, setting):
    """pip stops on any option's bad value before it touches a cache; check said all was well (exit 0)."""
    name, _, value = setting.partition("=")
    if name.startswith("PIP_"):
        env = _env(user, **{name: value})
    else:
        conf = user.home / "pip.conf"
        conf.write_text(f"[global]\n{setting}\n")
        env = _env(user, PIP_CONFIG_FILE=conf)
    result = check_as(user, env=env)
    _pip_refuses(user, env)
    assert result.returncode != 0, result.output
    found = result.finding("PD205")
    assert found["message"].startswith("pip stops before it uses any cache"), found
    assert result.account["cache"]["path"] is None
    if not name.startswith("PIP_"):
        assert "'x'" not in found["message"]  # a file's value is not repeated back


def test_home_set_to_tilde_is_not_home_unset(user):
    """pip 26.3's platformdirs cannot expand HOME=~ and pip crashes; check said "HOME is unset" and exit 0."""
    assert PIP_VERSION == "26.3"
    env = _env(user, HOME="~")
    result = check_as(user, env=env, cwd=user.home)
    output = _pip_refuses(user, env)
    assert "could not determine the home directory" in output
    assert result.returncode != 0, result.output
    found = result.finding("PD205")
    assert "(from HOME=~)" in found["message"], found


def test_check_takes_isolated_as_pip_does(user):
    """--isolated: pip skips PIP_* and the user's config files; check refused the option."""
    env = _env(user, PIP_CACHE_DIR=str(user.home / "from-env"))
    result = check_as(user, "--isolated", env=env)
    assert result.returncode == 0, result.output
    proc = sandbox.run_as(user, [pip_python(), "-m", "pip", "--isolated", "cache", "dir"], env=env)
    assert proc.stdout.decode().strip().splitlines()[-1] == result.account["cache"]["path"]
    assert result.account["cache"]["path"] == str(user.home / ".cache" / "pip")


@pytest.mark.parametrize("where", ["home", "/"])
def test_a_cache_root_fix_refuses_is_not_walked(user, where):
    """A cache dir of / (or a system dir, or HOME) is refused by fix; the check walked all of it (/: the whole
    machine, 10 to 27 s) and offered cures for what it found there (`pip cache purge --cache-dir /`)."""
    victim = user.home / "root-owned"
    victim.write_text("x")
    os.chown(victim, 0, 0)
    cache = str(user.home) if where == "home" else "/"
    env = _env(user, PIP_CACHE_DIR=cache)
    result = check_as(user, env=env)
    assert result.account["cache"]["path"] == cache
    # what the walk would find is not reported (/ itself is root's: pip turns the cache off, PD102, PD103)
    assert "PD109" not in result.codes() and ("PD103" not in result.codes() or where == "/"), result.output
    assert not any(" entries" in f["message"] or " entry" in f["message"] for f in result.findings), result.output
    assert result.account["cache"]["not_reached"] is None
    assert str(victim) not in result.output.decode() and "cache purge" not in result.output.decode()
    assert_pip_agrees(result, runner_as(user), env)


def test_pip_python_moves_the_site_config(user):
    """pip >= 22.3 runs itself again under PIP_PYTHON, and reads the site pip.conf of that interpreter's prefix;
    check read the site config of the pip it found."""
    other = user.home / "other"
    (other / "bin").mkdir(parents=True)
    (other / "bin" / "python").symlink_to(sandbox.READABLE_PYTHON)
    (other / "pyvenv.cfg").write_text(f"home = {sandbox.READABLE_PYTHON.parent}\n")
    (other / "pip.conf").write_text(f"[global]\ncache-dir = {user.home / 'other-cache'}\n")
    sandbox.chown_tree(other, user.uid, user.gid)
    env = _env(user, PIP_PYTHON=other, PIP_CONFIG_FILE=user.home / "absent.conf")
    result = check_as(user, env=env)
    assert result.account["cache"]["path"] == str(user.home / "other-cache"), result.output
    assert_pip_agrees(result, runner_as(user), env)


def test_pip_installed_with_user_is_the_pip_that_runs(user):
    """`pip install --user pip` over the distribution's pip: Python imports the user site's pip first, and its
    rules decide (here pip 26.3 ignores a relative XDG_CACHE_HOME; Debian's pip 23.0.1 would use it); check took
    the version of the distribution's pip."""
    system = "/usr/bin/python3"
    if not list(Path("/usr/lib/python3/dist-packages").glob("pip-*.dist-info")):
        pytest.skip("no distribution pip in /usr/lib/python3/dist-packages")
    wheel = sandbox.wheel_file("pip", PIP_VERSION)
    copy = user.home / wheel.name
    shutil.copy(wheel, copy)
    base = _env(user)
    installed = sandbox.run_as(user, [system, "-m", "pip", "install", "--quiet", "--user", "--break-system-packages",
                                      "--no-index", "--no-deps", str(copy)], env=base)
    assert installed.returncode == 0, installed.stdout
    env = {**base, "PIPDOCTOR_PYTHON": system, "XDG_CACHE_HOME": "rel"}
    result = check_as(user, env=env, cwd=user.home)
    assert result.account["cache"]["path"] == str(user.home / ".cache" / "pip"), result.output
    assert_pip_agrees(result, runner_as(user), env, cwd=user.home, python=system)
