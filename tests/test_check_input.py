"""`pipdoctor check` on tricky input: cache settings pip reads in surprising ways, symlinks, unreadable dirs,
a cache that is a file, names that are not UTF-8, bad --user. Clear findings or one-line errors."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests import sandbox
from tests.checkkit import (assert_pip_agrees, check_as, deep_entries, fix_commands, new_user_cache, pipdoctor_bin,
                            runner_as, with_pip)

pytestmark = pytest.mark.root


def _env(user, **extra):
    return with_pip(sandbox.pip_env(HOME=user.home, **extra))


def _config(user, text: str):
    path = user.home / "pip.conf"
    path.write_text(text)
    return path


def test_pip_no_cache_dir_false_turns_the_cache_off(user):
    env = _env(user, PIP_NO_CACHE_DIR="false")
    result = check_as(user, env=env)
    assert result.returncode == 1, result.output
    assert result.cache == {"path": None, "disabled": True, "source": "PIP_NO_CACHE_DIR=false",
                            "not_reached": None}
    found = result.finding("PD102")
    assert found["message"] == ('pip\'s cache is off: PIP_NO_CACHE_DIR=false turns it off although it reads as '
                                '"keep the cache".')
    assert fix_commands(found) == ["unset PIP_NO_CACHE_DIR"]
    assert_pip_agrees(result, runner_as(user), env)
    # a true value is a deliberate choice: reported in the header, not a problem
    result = check_as(user, env=_env(user, PIP_NO_CACHE_DIR="1"))
    assert result.returncode == 0 and result.findings == []
    assert result.account["cache"]["disabled"] is True


def test_no_cache_dir_false_in_a_config_file(user):
    conf = _config(user, "[global]\nno-cache-dir = false\n")
    env = _env(user, PIP_CONFIG_FILE=conf)
    result = check_as(user, env=env)
    found = result.finding("PD102")
    assert f"no-cache-dir = false in {conf} [global]" in found["message"]
    assert fix_commands(found) == [f"${{EDITOR:-vi}} {conf}"]
    assert_pip_agrees(result, runner_as(user), env)


def test_cache_dir_from_a_config_file(user):
    target = user.home / "cfg-cache"
    conf = _config(user, f"[global]\ncache-dir = {target}\n")
    env = _env(user, PIP_CONFIG_FILE=conf)
    result = check_as(user, env=env)
    assert result.returncode == 0, result.output
    assert result.cache == {"path": str(target), "disabled": False,
                            "source": f"config file {conf} [global] cache-dir", "not_reached": None}
    assert_pip_agrees(result, runner_as(user), env)
    # the check's own --cache-dir beats the config file, as pip's does
    other = user.home / "cli-cache"
    result = check_as(user, "--cache-dir", str(other), env=env)
    assert result.account["cache"]["path"] == str(other) and result.account["cache"]["source"] == "--cache-dir"


def test_cache_dir_false_in_a_config_file_is_a_directory_named_false(user):
    conf = _config(user, "[global]\ncache-dir = false\n")
    env = _env(user, PIP_CONFIG_FILE=conf)
    result = check_as(user, env=env, cwd=user.home)
    assert result.account["cache"]["path"] == f"{user.home}/false"
    assert result.account["cache"]["disabled"] is False
    assert_pip_agrees(result, runner_as(user), env, cwd=user.home)


def test_symlinks_in_the_cache_are_never_followed(user):
    cache = new_user_cache(user)
    links = [(cache / "wheels" / "etc", "/etc"), (cache / "http-v2" / "loop-a", "loop-b"),
             (cache / "http-v2" / "loop-b", "loop-a"), (cache / "wheels" / "up", ".."),
             (cache / "self", ".")]
    for link, target in links:
        os.symlink(target, link)
        os.lchown(link, user.uid, user.gid)
    start = time.monotonic()
    result = check_as(user)
    assert time.monotonic() - start < 20
    assert result.returncode == 0, result.output
    assert result.findings == []
    # a root-owned link is one foreign entry (the link itself), never /etc's files
    os.lchown(cache / "wheels" / "etc", 0, 0)
    result = check_as(user)
    found = result.finding("PD103")
    assert found["message"].startswith("1 entry (4 bytes) in pip's cache")
    assert "/etc/" not in json.dumps(result.doc)


def test_unreadable_subdirectories_as_the_user(user):
    cache = new_user_cache(user)
    own, foreign = deep_entries(cache, "wheels", 2)
    own.chmod(0)
    os.chown(foreign, 0, 0)
    foreign.chmod(0o700)
    result = check_as(user)
    assert result.returncode == 1
    unwritable = result.finding("PD104")
    text = json.dumps(unwritable)
    assert str(own) in text and "chmod u+rwx " + str(own) in fix_commands(unwritable)
    evidence = "\n".join(e["text"] for e in result.finding("PD103")["evidence"])
    assert f"could not be listed (Permission denied), their contents are not counted: {foreign}" in evidence
    assert b"Traceback" not in result.output
    # the walk's errors, reported as such: counted by errno, sampled, in JSON and in the human report
    not_reached = result.account["cache"]["not_reached"]
    assert not_reached["count"] == 2 and not_reached["reasons"] == {"EACCES": 2}
    assert {s["path"] for s in not_reached["samples"]} == {str(own), str(foreign)}
    human = sandbox.run_as(user, [pipdoctor_bin(), "check"], env=with_pip(sandbox.pip_env(HOME=str(user.home))))
    assert b"note: 2 entries in the cache could not be read (EACCES: 2)" in human.stdout, human.stdout


def test_cache_path_that_is_a_file(user):
    path = user.home / "cache-file"
    path.write_text("not a cache")
    os.chown(path, user.uid, user.gid)
    env = _env(user, PIP_CACHE_DIR=path)
    result = check_as(user, env=env)
    assert result.returncode == 1
    found = result.finding("PD104")
    assert found["message"] == f"pip's cache {path} is not a directory: pip cannot create anything in it."
    assert fix_commands(found)[0] == f"mv -- {path} {path}.not-a-dir"
    assert_pip_agrees(result, runner_as(user), env)


def test_file_names_that_are_not_utf8(user):
    cache = new_user_cache(user)
    bucket = deep_entries(cache, "wheels", 1)[0]
    odd = os.path.join(os.fsencode(bucket), b"caf\xe9-1.0-py3-none-any.whl")
    with open(odd, "wb") as out:
        out.write(b"x")
    os.chown(odd, 0, 0)
    result = check_as(user)
    assert result.returncode == 1
    evidence = "\n".join(e["text"] for e in result.finding("PD103")["evidence"])
    assert "caf\\xe9-1.0-py3-none-any.whl" in evidence
    human = sandbox.run_as(user, [pipdoctor_bin(), "check"], env=_env(user))
    assert human.returncode == 1 and b"Traceback" not in human.stdout
    chown = [c for c in fix_commands(result.finding("PD103")) if "chown" in c][0]
    assert "$'" in chown
    proc = sandbox.run(["bash", "-c", chown.replace("sudo ", "")])
    assert proc.returncode == 0, proc.stdout
    assert os.lstat(odd).st_uid == user.uid


def test_bad_user_options_are_one_line_errors(user):
    proc = sandbox.run([pipdoctor_bin(), "check", "--user", "no-such-user-pd"], env=with_pip(None))
    assert proc.returncode == 2
    assert proc.stdout == b"pipdoctor: error: unknown user 'no-such-user-pd' (no passwd entry)\n"
    for args in (["--user", "root"], ["--all-users"]):
        proc = sandbox.run_as(user, [pipdoctor_bin(), "check", *args], env=_env(user))
        assert proc.returncode == 2
        lines = proc.stdout.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"pipdoctor: error: {args[0]} needs root"), lines


def test_python_option_models_that_interpreters_pip(tmp_path):
    """`pipdoctor --python PATH check` reads the cache that PATH's pip would use: its site pip.conf counts."""
    venv = tmp_path / "venv"
    assert sandbox.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    elsewhere = tmp_path / "venv-cache"
    (venv / "pip.conf").write_text(f"[global]\ncache-dir = {elsewhere}\n")
    env = sandbox.pip_env(HOME=tmp_path, XDG_CONFIG_HOME=tmp_path / "config", PIP_CONFIG_FILE=None)
    env.pop("PIPDOCTOR_PYTHON", None)
    modeled = sandbox.run([pipdoctor_bin(), "--python", venv / "bin" / "python", "check", "--json"], env=env,
                          separate_stderr=True)
    cache = json.loads(modeled.stdout)["accounts"][0]["cache"]
    assert cache["path"] == str(elsewhere) and cache["source"] == f"config file {venv / 'pip.conf'} [global] cache-dir"
    plain = sandbox.run([pipdoctor_bin(), "check", "--json"], env=env, separate_stderr=True)
    assert json.loads(plain.stdout)["accounts"][0]["cache"]["path"] != str(elsewhere)
