"""`pipdoctor uv ...` against real uv (tests.sandbox.UV_VERSIONS): uv's bytes, uv's status, uv's arguments, the
uv pipdoctor is told to run, and nothing of pipdoctor's own in between. Offline (--no-index), clean HOME."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests import sandbox

PIPDOCTOR = [sys.executable, "-m", "pipdoctor"]
TIMEOUT = 60
NEWEST, OLDEST = sandbox.UV_VERSIONS[-1], sandbox.UV_VERSIONS[0]


def uv_of(version: str) -> Path:
    return sandbox.uv_venv(version) / "bin" / "uv"


def uv_env(home: Path, version: str, **extra) -> dict:
    """A clean environment with that uv first on PATH: HOME a temp dir (uv's cache under it), no UV_* at all."""
    return sandbox.pip_env(HOME=str(home), PATH=f"{uv_of(version).parent}:{sandbox.PATH}", **extra)


def run(argv: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd="/", timeout=TIMEOUT)


def uv_version_in(stdout: bytes) -> str:
    """The version `uv --version` printed: `uv 0.4.30`, `uv 0.13.9 (x86_64-unknown-linux-gnu)`."""
    return stdout.decode().split()[1]


def report_line(status: int) -> bytes:
    """What pipdoctor adds after a failed uv run whose output names no known cause (README, "Commands")."""
    return f"\npipdoctor: uv exited with status {status}; no known cause in its output.\n".encode()


def uv_cases(empty: Path) -> dict:
    """uv commands, each byte-exact in its output (no timings): uv's own options, a failure, and arguments that
    look like pipdoctor's (--json, --fix, --) or are no UTF-8 at all, all of them uv's."""
    links = ["--no-index", "--find-links", str(empty)]
    return {
        "version": ["--version"],
        "help": ["pip", "install", "--help"],
        "no-solution": ["pip", "install", *links, "nothing-here"],
        "pipdoctors-options": ["pip", "install", *links, "--", "--json"],
        "unknown-to-uv": ["--fix", "--json"],
        "odd-bytes": ["pip", "install", *links, b"caf\xe9\x1b[31m"],
    }


@pytest.mark.parametrize("version", sandbox.UV_VERSIONS)
def test_output_and_status_are_uvs_byte_for_byte_through_pipes(tmp_path, version):
    empty = tmp_path / "links"
    empty.mkdir()
    env = uv_env(tmp_path, version)
    for name, args in uv_cases(empty).items():
        by_uv = run([uv_of(version), *args], env)
        by_doctor = run([*PIPDOCTOR, "uv", *args], env)
        said = f"{name}: uv said {by_uv!r}, pipdoctor {by_doctor!r}"
        assert by_doctor.returncode == by_uv.returncode, said
        assert by_doctor.stdout == by_uv.stdout, said
        if by_uv.returncode == 0:
            assert by_doctor.stderr == by_uv.stderr, said  # nothing after uv's output when all is well
        else:
            assert by_doctor.stderr == by_uv.stderr + report_line(by_uv.returncode), said
    assert uv_version_in(run([uv_of(version), "--version"], env).stdout) == version
    assert run([uv_of(version), "pip", "install", "--no-index", "--find-links", empty, "nothing-here"],
               env).returncode in (1, 2)  # a real failure was among the cases


def in_terminal(argv: list, env: dict) -> tuple[bytes, int]:
    """Runs argv on a fresh terminal (24x80, its controlling one, as a shell's job): everything shown, status."""
    screen, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([str(a) for a in argv], stdin=slave, stdout=slave, stderr=slave, env=env, cwd="/",
                            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(slave, termios.TIOCSCTTY, 0))
    os.close(slave)
    seen = bytearray()
    try:
        while True:
            try:
                data = os.read(screen, 1 << 16)
            except OSError:  # EIO: the terminal's last user closed it
                break
            if not data:
                break
            seen += data
        return bytes(seen), proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(screen)


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_on_a_terminal_uv_gets_a_terminal_and_its_colors_pass_unchanged(tmp_path, version):
    env = uv_env(tmp_path, version, TERM="xterm-256color")
    for args in (["pip", "install", "--help"], ["--version"]):
        shown, status = in_terminal([uv_of(version), *args], env)
        assert in_terminal([*PIPDOCTOR, "uv", *args], env) == (shown, status)
    assert b"\x1b[" in in_terminal([*PIPDOCTOR, "uv", "pip", "install", "--help"], env)[0]  # uv saw a terminal


def test_uv_named_by_option_runs_instead_of_the_one_on_path(tmp_path):
    env = uv_env(tmp_path, OLDEST)
    for own in (["--uv", uv_of(NEWEST)], [f"--uv={uv_of(NEWEST)}"]):
        done = run([*PIPDOCTOR, *own, "uv", "--version"], env)
        assert (done.returncode, done.stderr) == (0, b"")
        assert uv_version_in(done.stdout) == NEWEST
    assert uv_version_in(run([*PIPDOCTOR, "uv", "--version"], env).stdout) == OLDEST


@pytest.mark.parametrize(("own", "line"), [
    ([], "no uv on PATH; install uv or name it with --uv PATH"),
    (["--uv", "/nonexistent/uv"], "--uv /nonexistent/uv: no such file"),
    (["--uv", "/etc/passwd"], "--uv /etc/passwd: not an executable file"),
])
def test_no_uv_to_run_is_one_line_and_exit_2(tmp_path, own, line):
    env = sandbox.pip_env(HOME=str(tmp_path))  # sandbox.PATH: no uv there
    done = run([*PIPDOCTOR, *own, "uv", "pip", "install", "six"], env)
    assert (done.returncode, done.stdout, done.stderr) == (2, b"", f"pipdoctor: error: {line}\n".encode())
    as_json = run([*PIPDOCTOR, "--json", *own, "uv", "--version"], env)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"] == line


@pytest.mark.parametrize(("own", "word"), [(["--python", sys.executable], "--python"),
                                           (["--fix", "--python", sys.executable], "--python")])
def test_pip_only_options_before_uv_are_refused_and_uv_never_runs(tmp_path, own, word):
    marker = tmp_path / "ran"
    fake_uv = tmp_path / "uv"  # would leave a mark if run
    fake_uv.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake_uv.chmod(0o755)
    done = run([*PIPDOCTOR, *own, "uv", "pip", "install", "six"], sandbox.pip_env(PATH=f"{tmp_path}:{sandbox.PATH}"))
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.startswith(f"pipdoctor: error: {word} ".encode()) and done.stderr.count(b"\n") == 1
    assert not marker.exists()


def test_uv_option_with_a_pip_command_is_refused(tmp_path):
    done = run([*PIPDOCTOR, "--uv", uv_of(NEWEST), "install", "six"], sandbox.pip_env(HOME=str(tmp_path)))
    assert (done.returncode, done.stderr) == (2, b"pipdoctor: error: --uv goes with `pipdoctor uv ...` "
                                                 b"(it names the uv to run)\n")


def test_uv_in_pipdoctors_own_venv_is_passed_over_as_its_pip_is(tmp_path):
    """A uv in the venv pipdoctor runs from came with pipdoctor: the user's is the next on PATH (said once on
    stderr); with only pipdoctor's own, one line naming --uv."""
    import sysconfig

    own = tmp_path / "pipdoctor-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", own], check=True, timeout=TIMEOUT)
    site = next(own.glob("lib/python*/site-packages"))
    (site / "pipdoctor-source.pth").write_text(f"{sandbox.REPO}\n{sysconfig.get_paths()['purelib']}\n")
    (own / "bin" / "uv").symlink_to(uv_of(OLDEST))
    pipdoctor = [own / "bin" / "python", "-m", "pipdoctor"]
    env = sandbox.pip_env(HOME=str(tmp_path), PATH=f"{own / 'bin'}:{uv_of(NEWEST).parent}:{sandbox.PATH}")
    done = run([*pipdoctor, "uv", "--version"], env)
    assert done.returncode == 0
    assert uv_version_in(done.stdout) == NEWEST
    assert done.stderr.decode() == (f"pipdoctor: running {uv_of(NEWEST)}, not pipdoctor's own uv in "
                                    f"{own / 'bin'} (it is earlier on PATH)\n")
    alone = run([*pipdoctor, "uv", "--version"], {**env, "PATH": f"{own / 'bin'}:{sandbox.PATH}"})
    assert (alone.returncode, alone.stdout) == (2, b"")
    assert alone.stderr.decode() == (f"pipdoctor: error: no uv on PATH but pipdoctor's own, in {own / 'bin'}; "
                                     "name the uv to run with --uv PATH\n")


def test_json_document_of_a_failed_uv_run_has_uvs_run_and_no_pip_cache_check(tmp_path):
    empty = tmp_path / "links"
    empty.mkdir()
    env = uv_env(tmp_path, NEWEST)
    args = ["pip", "install", "--no-index", "--find-links", str(empty), "nothing-here"]
    by_uv = run([uv_of(NEWEST), *args], env)
    done = run([*PIPDOCTOR, "--json", "uv", *args], env)
    assert done.returncode == by_uv.returncode != 0
    assert by_uv.stdout == b"" and done.stderr == by_uv.stderr  # no report on stderr: it is the document
    doc = json.loads(done.stdout)
    assert doc["command"] == "uv" and "pip" not in doc
    assert doc["uv"] == {"command": [str(uv_of(NEWEST)), *args], "exit_code": by_uv.returncode}
    assert doc["exit_code"] == by_uv.returncode
    # a failed run gets the live check of its installer's cache: uv's, never pip's
    assert doc["check"]["cache"]["path"] == str(tmp_path / ".cache" / "uv")
    assert all(finding["tool"] == "uv" for finding in doc["check"]["findings"])
    assert not (tmp_path / ".cache" / "pip").exists()
    schemas = pytest.importorskip("tests.test_json_schemas", reason="the schema check needs jsonschema")
    schemas.assert_valid("uv", doc)


def test_sigterm_to_pipdoctor_reaches_uv_and_pipdoctor_exits_as_uv_died(tmp_path):
    """As for pip (tests/test_runner.py, pipe mode): `kill PID` of pipdoctor ends uv, and the status is uv's,
    128+15, not pipdoctor's own death. uv waits on stdin (a requirements file `-` still open)."""
    empty = tmp_path / "links"
    empty.mkdir()
    proc = subprocess.Popen([*PIPDOCTOR, "uv", "pip", "compile", "--no-index", "--find-links", str(empty), "-"],
                            env=uv_env(tmp_path, NEWEST), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd="/")
    try:
        uv = _child_named(proc.pid, "uv")
        time.sleep(0.3)  # uv is past its start-up and reading stdin
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 128 + signal.SIGTERM
        assert not Path(f"/proc/{uv}").exists()  # reaped by pipdoctor, not left running
        assert report_line(143) in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()


def _child_named(pid: int, name: str) -> int:
    """The pid of `pid`'s child running `name`, once it runs it (pipdoctor spawns uv after its own start-up)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == name:
                    return int(child)
            except OSError:
                continue
        time.sleep(0.02)
    raise AssertionError(f"{name} never ran under pid {pid}")


@pytest.fixture
def pur_user():
    """A real throwaway unprivileged user (prefix "pur"), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a user and gives a bucket of its uv cache to root")
    with sandbox.unprivileged_user("pur") as made:
        yield made


def test_uv_stopped_by_a_root_owned_bucket_gets_its_bytes_and_status_and_nothing_of_pips(pur_user):
    """Issue 14's first fact: uv stops at start on a root-owned bucket of the user's cache. Through pipdoctor the
    user sees uv's own bytes and status, then the report; nothing in it is pip's: the live check is of uv's cache,
    and no pip command is among the fixes."""
    home = pur_user.home
    links = home / "links"
    bucket = home / ".cache" / "uv" / "sdists-v11"
    bucket.mkdir(parents=True)
    links.mkdir()
    for path in (links, home / ".cache", home / ".cache" / "uv"):
        os.chown(path, pur_user.uid, pur_user.gid)  # the bucket stays root's, 0755
    env = uv_env(home, NEWEST)
    args = ["pip", "install", "--python", "/usr/bin/python3", "--no-index", "--find-links", str(links), "six"]
    pipdoctor = sandbox.pipdoctor_venv() / "bin" / "pipdoctor"
    by_uv = sandbox.run_as(pur_user, [uv_of(NEWEST), *args], env=env, separate_stderr=True)
    assert by_uv.returncode == 2 and b"Permission denied (os error 13)" in by_uv.stderr, by_uv.stderr
    by_doctor = sandbox.run_as(pur_user, [pipdoctor, "--color", "never", "uv", *args], env=env, separate_stderr=True)
    assert (by_doctor.returncode, by_doctor.stdout) == (by_uv.returncode, by_uv.stdout)
    assert by_doctor.stderr.startswith(by_uv.stderr)
    assert by_doctor.stderr[len(by_uv.stderr):].startswith(b"\npipdoctor: uv exited with status 2")
    as_json = sandbox.run_as(pur_user, [pipdoctor, "--json", "uv", *args], env=env, separate_stderr=True)
    doc = json.loads(as_json.stdout)
    assert (as_json.returncode, doc["exit_code"]) == (2, 2)
    assert doc["check"]["cache"]["path"] == str(home / ".cache" / "uv")
    assert doc["findings"], "uv's error names a path: the log side sees it"
    commands = [fix["command"] for finding in doc["findings"] for fix in finding["fixes"]]
    # uv's own commands (`uv pip install ... --no-cache`), never pip's (`pip cache`, --no-cache-dir, bin/pip)
    assert not [c for c in commands if c.split()[0] == "pip" or "--no-cache-dir" in c or "bin/pip" in c], commands
    assert f"sudo chown -R {pur_user.uid}:{pur_user.gid} {bucket}" in commands
