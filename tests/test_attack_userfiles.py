"""Attacks through what a user controls and root reads: pip config files that are symlinks to root-only files,
devices, FIFOs or huge files; PIP_CONFIG_FILE=/dev/zero; NUL bytes; a deleted cwd; a symlinked cache root.
Every command run as root is sealed (tests/sealed.py)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipdoctor import exitcodes
from tests import sandbox
from tests.checkkit import (PIP_VERSION, assert_pip_agrees, make_cache, new_user_cache, pip_cache_dir, pipdoctor_bin,
                            runner_as, user_cache, with_pip)
from tests.fixkit import listing

pytestmark = pytest.mark.root

# A read that blocks or never ends would hang far longer; the check itself takes about a second.
QUICK = 30


def _user_env(user, **extra):
    return with_pip(sandbox.pip_env(HOME=str(user.home), **extra))


def _login_env(user):
    """What `check --user` models: the user's login, which reads every pip config file (no PIP_CONFIG_FILE)."""
    return _user_env(user, PIP_CONFIG_FILE=None)


def _run_root(seal, *args, env=None, cwd=None):
    """pipdoctor ARGS as root, sealed; (exit status, stdout, stderr, seconds)."""
    started = time.monotonic()
    proc = sandbox.run([pipdoctor_bin(), *args], env=with_pip(env), cwd=cwd, mount_setup=seal.setup,
                       separate_stderr=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


def _run_user(user, *args, env=None):
    started = time.monotonic()
    proc = sandbox.run_as(user, [pipdoctor_bin(), *args], env=env or _login_env(user), separate_stderr=True,
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


def _account(doc: dict, user) -> dict:
    found = [a for a in doc["accounts"] if a["uid"] == user.uid]
    assert len(found) == 1, [a["user"] for a in doc["accounts"]]
    return found[0]


def _codes(account: dict) -> list:
    return [f["code"] for f in account["findings"]]


def _user_config(user, where: str = ".config/pip/pip.conf") -> Path:
    """The dirs of ~/WHERE made by the user, as pip config would make them; returns the file's path."""
    path = user.home / where
    path.parent.mkdir(parents=True, exist_ok=True)
    sandbox.chown_tree(user.home / Path(where).parts[0], user.uid, user.gid)
    return path


def _secret_file(seal) -> tuple[Path, str]:
    """A root-only file in the scratch whose first line is a secret; not INI, so configparser's own error
    would quote that line."""
    secret = f"SECRET-{secrets.token_hex(8)}"
    path = seal.scratch / "root-only.conf"
    path.write_text(f"{secret}\n[global]\ncache-dir = /{secret}\n")
    path.chmod(0o600)
    return path, secret


@pytest.mark.parametrize("where", [".config/pip/pip.conf", ".pip/pip.conf", "venv/pip.conf"])
def test_config_symlinked_to_a_root_only_file_is_never_shown(user, seal, where):
    """Root reads the user's pip.conf (XDG, legacy, or the site file of a venv the user owns) with the user's
    rights: the symlink's target is unreadable to the user, so (like pip run as the user) it is skipped, and
    its secret first line appears nowhere."""
    target, secret = _secret_file(seal)
    env = None
    if where.startswith("venv/"):
        venv = sandbox.copy_venv(sandbox.pip_venv(PIP_VERSION), user.home / "venv")
        sandbox.chown_tree(venv, user.uid, user.gid)
        env = sandbox.pip_env(PIPDOCTOR_PYTHON=str(venv / "bin" / "python"))  # root models that venv's pip
    conf = _user_config(user, where)
    os.symlink(target, conf)
    os.lchown(conf, user.uid, user.gid)
    outputs = []
    for args in (["check", "--user", user.name], ["check", "--all-users"]):
        for json_mode in (["--json"], []):
            code, out, err, _ = _run_root(seal, *json_mode, *args, env=env)
            outputs.append(out + err)
            assert code in (exitcodes.OK, exitcodes.FINDINGS), (args, err)
            if json_mode:
                account = _account(json.loads(out), user)
                assert account["cache"]["path"] == str(user_cache(user)), account
    assert not any(secret.encode() in text for text in outputs)
    if env is None:  # (the venv's python is root's own pyenv one: the user cannot run that pip)
        result = json.loads(_run_root(seal, "--json", "check", "--user", user.name)[1])
        assert_pip_agrees(_as_check_run(result), runner_as(user), _login_env(user))


@pytest.mark.parametrize("launch", ["sudo", "su"])
def test_roots_own_check_reads_the_invoking_users_config_with_their_rights(user, seal, launch):
    """`sudo pipdoctor check` keeping the user's HOME (or `su` keeping it, no SUDO_UID): the config files come
    from the user's environment, so root reads them with the user's rights. A pip.conf symlinked to a root-only
    file is unreadable then, and its secret cache dir is neither used nor shown."""
    target, secret = _secret_file(seal)
    conf = _user_config(user)
    os.symlink(target, conf)
    os.lchown(conf, user.uid, user.gid)
    extra = {"SUDO_UID": str(user.uid), "SUDO_GID": str(user.gid), "SUDO_USER": user.name} if launch == "sudo" else {}
    env = sandbox.pip_env(HOME=str(user.home), PIP_CONFIG_FILE=None, **extra)
    code, out, err, _ = _run_root(seal, "--json", "check", env=env)
    assert code in (exitcodes.OK, exitcodes.FINDINGS) and b"Traceback" not in err, err
    assert secret.encode() not in out + err
    assert json.loads(out)["accounts"][0]["cache"]["path"] == str(user_cache(user))


def _as_check_run(doc: dict):
    from tests.checkkit import CheckRun

    return CheckRun(doc["exit_code"], b"", doc)


def test_users_own_config_is_still_what_root_models(user, seal):
    """The child that reads as the user still reads what the user can: a cache-dir in the user's pip.conf."""
    conf = _user_config(user)
    conf.write_text("[global]\ncache-dir = ~/cfg-cache\n")
    os.chown(conf, user.uid, user.gid)
    code, out, err, _ = _run_root(seal, "--json", "check", "--user", user.name)
    doc = json.loads(out)
    assert doc["accounts"][0]["cache"]["path"] == str(user.home / "cfg-cache"), err
    assert doc["accounts"][0]["cache"]["source"] == f"config file {conf} [global] cache-dir"
    assert_pip_agrees(_as_check_run(doc), runner_as(user), _login_env(user))


def _make_bad_config(kind: str, conf: Path, user) -> None:
    if kind == "dev-zero":
        os.symlink("/dev/zero", conf)
        os.lchown(conf, user.uid, user.gid)
        return
    if kind == "fifo":
        os.mkfifo(conf)
    else:  # a regular file past the 1 MiB pipdoctor reads: comments only, so pip itself would accept it
        conf.write_bytes(b"[global]\n" + b"# padding padding padding padding padding padding padding\n" * 40000)
    os.chown(conf, user.uid, user.gid)


@pytest.mark.parametrize("kind, why", [("dev-zero", "a character device"), ("fifo", "a FIFO"),
                                       ("huge", "larger than 1 MiB")])
def test_config_that_never_ends_is_a_finding_not_a_hang(user, seal, kind, why):
    conf = _user_config(user)
    _make_bad_config(kind, conf, user)
    for code, out, err, seconds in (_run_root(seal, "--json", "check", "--user", user.name),
                                    _run_user(user, "--json", "check")):
        assert seconds < QUICK and code == exitcodes.FINDINGS, (seconds, code, err)
        account = json.loads(out)["accounts"][0]
        finding = account["findings"][0]
        assert finding["code"] == "PD205" and finding["paths"] == [str(conf)], finding
        assert why in finding["message"], finding["message"]
        # decided without that file: the default cache
        assert account["cache"]["path"] == str(user_cache(user)), account


@pytest.mark.parametrize("who", ["root", "user"])
def test_pip_config_file_dev_zero(user, seal, who):
    if who == "root":
        env = sandbox.pip_env(HOME=str(seal.scratch), PIP_CONFIG_FILE="/dev/zero")
        code, out, err, seconds = _run_root(seal, "--json", "check", env=env)
    else:
        code, out, err, seconds = _run_user(user, "--json", "check",
                                            env=_user_env(user, PIP_CONFIG_FILE="/dev/zero"))
    assert seconds < QUICK and code == exitcodes.FINDINGS, (seconds, code, err)
    finding = json.loads(out)["findings"][0]
    assert finding["code"] == "PD205" and finding["paths"] == ["/dev/zero"], finding


def test_all_users_goes_on_past_broken_accounts(seal):
    """Three accounts: one with a FIFO pip.conf, one with a pip.conf that is not INI, one sound. Each broken
    one gets its own finding (with a line number, not the line); the sound one is checked as always."""
    with sandbox.unprivileged_user("pdta") as fifo_user, sandbox.unprivileged_user("pdtb") as bad_user, \
            sandbox.unprivileged_user("pdtc") as good_user:
        _make_bad_config("fifo", _user_config(fifo_user), fifo_user)
        bad = _user_config(bad_user)
        bad.write_text("[global]\ncache-dir = /x\nNOT-A-SETTING-LINE-7f3a\n")
        os.chown(bad, bad_user.uid, bad_user.gid)
        new_user_cache(good_user)
        code, out, err, seconds = _run_root(seal, "--json", "check", "--all-users")
        assert seconds < 3 * QUICK
        doc = json.loads(out)
        assert code == doc["exit_code"] == exitcodes.FINDINGS, err
        assert _codes(_account(doc, fifo_user))[0] == "PD205"
        finding = _account(doc, bad_user)["findings"][0]
        assert finding["code"] == "PD205"
        assert "line 3: not a [section] header or a `name = value` setting" in finding["message"]
        assert b"NOT-A-SETTING-LINE-7f3a" not in out + err
        good = _account(doc, good_user)
        assert not {"PD205", "PD206"} & set(_codes(good)) and good["cache"]["path"] == str(user_cache(good_user))
        # pip agrees that the bad file stops it
        status, said = pip_cache_dir(runner_as(bad_user), _login_env(bad_user))
        assert status != 0 and "Configuration file could not be loaded" in said, said


def test_an_account_that_cannot_be_read_is_reported_and_the_others_checked(user, seal):
    """The reader of every other account gets no time at all (a stand-in for a home on a hung NFS mount):
    those accounts are PD206 entries, root's own is checked, and the exit code comes from the findings."""
    new_user_cache(user)
    script = ("import sys\nfrom pipdoctor import cli, userfiles\nuserfiles.READ_TIMEOUT = 0.0\n"
              "sys.exit(cli.main(['--json', 'check', '--all-users']))\n")
    python = sandbox.python_of(sandbox.pipdoctor_venv())
    proc = sandbox.run([python, "-c", script], env=with_pip(sandbox.pip_env(HOME=str(seal.scratch))),
                       mount_setup=seal.setup, separate_stderr=True, timeout=120)
    doc = json.loads(proc.stdout)
    assert proc.returncode == doc["exit_code"] == exitcodes.FINDINGS, proc.stderr
    account = _account(doc, user)
    assert _codes(account) == ["PD206"], account
    assert "took longer than 0 s" in account["findings"][0]["message"]
    root = [a for a in doc["accounts"] if a["uid"] == 0]
    assert root and "PD206" not in _codes(root[0])
    # fix cannot act on what it could not read: one line, exit 2, before any change
    script = script.replace("'--json', 'check', '--all-users'", f"'fix', '--user', {user.name!r}, '--yes'")
    proc = sandbox.run([python, "-c", script], env=with_pip(sandbox.pip_env(HOME=str(seal.scratch))),
                       mount_setup=seal.setup, separate_stderr=True, timeout=120)
    assert proc.returncode == exitcodes.USAGE and proc.stdout == b"", proc.stderr
    assert proc.stderr.decode() == (f"pipdoctor: error: cannot check {user.name} {user.uid}:{user.gid}: its pip "
                                    "config files could not be read: reading them took longer than 0 s\n")


def test_nul_byte_in_a_config_value(user, seal):
    conf = _user_config(user)
    conf.write_bytes(b"[global]\ncache-dir = /tmp/a\0b\n")
    os.chown(conf, user.uid, user.gid)
    for code, out, err, _ in (_run_root(seal, "--json", "check", "--user", user.name),
                              _run_user(user, "--json", "check")):
        assert code == exitcodes.FINDINGS and b"Traceback" not in err, err
        finding = json.loads(out)["findings"][0]
        assert finding["code"] == "PD205" and "NUL byte" in finding["message"], finding
    status, said = pip_cache_dir(runner_as(user), _login_env(user))
    assert status != 0 and "embedded null byte" in said, said  # pip stops with a traceback


def test_nul_byte_in_pip_cache_dir(tmp_path):
    """No process can be given a NUL byte in its environment (execve), so this one goes in-process."""
    from pipdoctor.diagnose import check_account
    from pipdoctor.host.accounts import self_account
    from pipdoctor.installers.pip import PIP

    report = check_account(PIP, self_account({"HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull,
                                              "PIP_CACHE_DIR": "/tmp/a\0b"}), [])
    assert report.findings[0].code == "PD205"
    assert report.findings[0].message == ("pip stops before it uses any cache: the cache dir holds a NUL byte "
                                          "(ValueError: embedded null byte) (from PIP_CACHE_DIR).")


def _in_deleted_cwd(argv: list, where: Path) -> list:
    """argv run from `where` after that directory was removed (the shell enters it, then removes it)."""
    return ["sh", "-c", 'cd "$0" && rmdir "$0" && exec "$@"', str(where), *map(str, argv)]


def test_check_and_fix_in_a_deleted_cwd(user, seal):
    cache = new_user_cache(user)
    sandbox.chown_tree(cache / "wheels", 0, 0)
    before = listing(cache)
    gone = user.home / "gone"
    gone.mkdir()
    os.chown(gone, user.uid, user.gid)
    proc = sandbox.run_as(user, _in_deleted_cwd([pipdoctor_bin(), "--json", "check"], gone), env=_user_env(user),
                          separate_stderr=True)
    assert proc.returncode == exitcodes.FINDINGS and json.loads(proc.stdout)["findings"][0]["code"] == "PD103", \
        proc.stderr
    gone.mkdir()
    os.chown(gone, user.uid, user.gid)
    relative = _user_env(user, PIP_CACHE_DIR="relative/cache")
    proc = sandbox.run_as(user, _in_deleted_cwd([pipdoctor_bin(), "--json", "check"], gone), env=relative,
                          separate_stderr=True)
    finding = json.loads(proc.stdout)["findings"][0]
    assert finding["code"] == "PD205" and "current directory no longer exists" in finding["message"], proc.stderr
    root_gone = seal.scratch / "gone"
    root_gone.mkdir()
    proc = sandbox.run(_in_deleted_cwd([pipdoctor_bin(), "fix", "--user", user.name, "--dry-run"], root_gone),
                       env=with_pip(None), mount_setup=seal.setup, separate_stderr=True)
    assert proc.returncode == exitcodes.FINDINGS and b"Traceback" not in proc.stderr, proc.stderr
    assert b"chown" in proc.stdout and listing(cache) == before


@pytest.mark.parametrize("link_at", [".cache/pip", ".cache"])
def test_symlinked_cache_root_is_refused(user, seal, link_at):
    """~/.cache/pip (or ~/.cache) is a symlink to a pip-like cache elsewhere with root-owned wheels: root's
    `fix --user` and the user's own `fix` refuse it (exit 2), the check says so, nothing in the target moves."""
    elsewhere = seal.scratch / "elsewhere"  # root's fix would chown in here
    mine = user.home / "elsewhere"  # the user's own fix would rename in here
    for base in (elsewhere, mine):
        base.mkdir()
        os.chown(base, user.uid, user.gid)
        target = base / "pip" if link_at == ".cache/pip" else base
        make_cache(base / "pip", user)
        sandbox.chown_tree(base / "pip" / "wheels", 0, 0)
        if link_at == ".cache/pip":
            (user.home / ".cache").mkdir(exist_ok=True)
            os.chown(user.home / ".cache", user.uid, user.gid)
        link = user.home / link_at
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(target, link)
        os.lchown(link, user.uid, user.gid)
        before = listing(base)
        code, out, err, _ = _run_root(seal, "--json", "check", "--user", user.name)
        account = json.loads(out)["accounts"][0]
        source = account["cache"]["source"]
        assert source.endswith(f"reached through a symlink: {user_cache(user)}"), source
        # what the check prints is as safe as fix: no chown into the symlink's target (the user cannot even
        # reach the one in the scratch, so only the one in its home shows the foreign entries)
        assert base == elsewhere or "PD103" in _codes(account)
        assert not [fix for f in account["findings"] for fix in f["fixes"] if "chown" in fix["command"]]
        if base == elsewhere:
            code, out, err, _ = _run_root(seal, "fix", "--user", user.name, "--yes")
        else:
            code, out, err, _ = _run_user(user, "fix", "--yes")
        assert code == exitcodes.USAGE, (base, out, err)
        assert b"it is a symlink" in err and b"nothing was changed" in err, err
        assert listing(base) == before


def test_home_reached_through_a_symlink_is_not_refused(user, seal):
    """A passwd home that is a symlink (/home/u -> /data/u) is how a machine is set up, not an attack: root's
    fix still gives the user's cache back below it."""
    real = sandbox.homes_base() / f"{user.name}-real"
    link = sandbox.homes_base() / f"{user.name}-link"
    real.mkdir()
    os.chown(real, user.uid, user.gid)
    os.symlink(real, link)
    try:
        subprocess.run(["/usr/sbin/usermod", "-d", str(link), user.name], check=True, capture_output=True)
        linked_user = type(user)(user.name, user.uid, user.gid, link)
        cache = new_user_cache(linked_user)
        sandbox.chown_tree(cache / "wheels", 0, 0)
        code, out, err, _ = _run_root(seal, "--json", "fix", "--user", user.name, "--yes")
        doc = json.loads(out)
        assert code == exitcodes.OK and doc["plan"]["refused"] is None, err
        assert doc["applied"]["chowned"] > 0 and "PD103" not in _codes(doc["after"])
        assert os.stat(real / ".cache" / "pip" / "wheels").st_uid == user.uid
    finally:
        os.unlink(link)
        sandbox.chattr_clear(real)
        shutil.rmtree(real, ignore_errors=True)


def test_a_fifo_named_pip_on_path_does_not_hang_the_check(user):
    """The check reads the #! line of the pip first on PATH to find its Python: a FIFO there is not opened."""
    bin_dir = user.home / "bin"
    bin_dir.mkdir()
    os.mkfifo(bin_dir / "pip", 0o755)
    sandbox.chown_tree(bin_dir, user.uid, user.gid)
    env = sandbox.pip_env(HOME=str(user.home), PATH=f"{bin_dir}:{sandbox.PATH}")
    code, out, err, seconds = _run_user(user, "--json", "check", env=env)
    assert seconds < QUICK and code in (exitcodes.OK, exitcodes.FINDINGS), (seconds, err)
    assert json.loads(out)["accounts"][0]["cache"]["path"] == str(user_cache(user))
