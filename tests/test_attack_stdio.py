"""Ordinary I/O conditions, run through the real installed `pipdoctor` from a shell: stdio closed or full at
start, a reader that stops reading, a deleted current directory, logs that are FIFOs, devices, directories or
binary; and file names made to forge report lines on root's terminal."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from pipdoctor import exitcodes
from tests import sandbox
from tests.checkkit import new_user_cache, pipdoctor_bin, pip_python, with_pip

LOGS = Path(__file__).parent / "data" / "logs"
SEED_LOG = sorted((LOGS / "wheels-root-owned").glob("pip-*.log"))[-1]  # a real pip log: PD101, exit 1

# Redirections that leave pipdoctor's stdout unusable, and those that leave it working.
STDOUT_FAILS = {">&-": "Bad file descriptor", ">/dev/full": "No space left on device",
                "1>&- 2>&-": None}  # None: stderr is closed too, nothing can be said
STDOUT_WORKS = ("<&-", "2>&-")


def shell(script: str, env=None, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`bash -c SCRIPT` with stdout and stderr captured apart; $PD is the installed pipdoctor."""
    env = dict(env or sandbox.pip_env())
    env["PD"] = str(pipdoctor_bin())
    return subprocess.run(["bash", "-c", script], env=env, cwd=cwd or "/", stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def run_redirected(args: str, redirection: str, home: Path, env=None) -> tuple[int, bytes, bytes]:
    """pipdoctor ARGS with REDIRECTION applied last (so it wins over the capture), as a user would type it:
    (exit status, stdout, stderr), captured in files under `home` opened before the redirection."""
    files = {name: home / f"captured-{name}" for name in ("OUT", "ERR", "RC")}
    script = f'"$PD" {args} >"$OUT" 2>"$ERR" {redirection}; echo $? >"$RC"'
    proc = shell(script, env={**(env or check_env(home)), **{k: str(v) for k, v in files.items()}})
    assert proc.returncode == 0, proc
    found = int(files["RC"].read_text()), files["OUT"].read_bytes(), files["ERR"].read_bytes()
    for path in files.values():
        path.unlink()
    return found


def assert_one_error_line(stderr: bytes, message: str) -> None:
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")
    assert stderr.decode() == f"pipdoctor: error: {message}\n"


def check_env(home: Path) -> dict:
    return with_pip(sandbox.pip_env(HOME=str(home)))


# --- pipdoctor's own output: explain, check, --version, --help ----------------------------------------

COMMANDS = {"explain": f"explain {SEED_LOG}", "explain --json": f"--json explain {SEED_LOG}", "check": "check",
            "check --json": "--json check", "--version": "--version", "--help": "--help"}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The HOME (an empty one: no cache yet) every command of this module checks."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def expected(home) -> dict:
    """Each command's exit status and stdout with nothing redirected."""
    found = {}
    for name, args in COMMANDS.items():
        status, out, err = run_redirected(args, "", home)
        assert b"Traceback" not in err
        found[name] = (status, out)
    assert found["explain"][0] == exitcodes.FINDINGS and found["--version"][0] == exitcodes.OK
    return found


@pytest.mark.parametrize("redirection", sorted(STDOUT_FAILS))
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_closed_or_full_stdout_is_one_line_and_exit_3(name, redirection, home):
    status, _out, err = run_redirected(COMMANDS[name], redirection, home)
    assert status == exitcodes.OUTPUT_FAILED
    reason = STDOUT_FAILS[redirection]
    if reason is None:
        assert err == b""
    else:
        assert_one_error_line(err, f"cannot write to standard output: {reason}")


@pytest.mark.parametrize("redirection", STDOUT_WORKS)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_closed_stdin_or_stderr_changes_nothing(name, redirection, expected, home):
    status, out, err = run_redirected(COMMANDS[name], redirection, home)
    assert (status, _steady(out), err) == (expected[name][0], _steady(expected[name][1]), b"")


def _steady(out: bytes) -> bytes:
    """The output without the free space of the cache's filesystem, which other processes change between runs."""
    return re.sub(rb'("free_(?:bytes|inodes)": )\d+', rb"\1N", out)


def test_explain_with_stdin_closed_reads_nothing_and_says_so(home):
    status, out, err = run_redirected("explain", "<&-", home)
    assert (status, out) == (exitcodes.USAGE, b"")
    assert_one_error_line(err, "cannot read standard input: Bad file descriptor")


@pytest.mark.parametrize("json_flag", ["--json ", ""])
def test_a_reader_that_stops_reading_keeps_the_findings_exit_status(json_flag, tmp_path):
    # As a user types it: head takes 10 bytes and leaves.
    proc = shell(f'set -o pipefail; "$PD" {json_flag}explain {SEED_LOG} | head -c 10 >/dev/null; '
                 'echo "${PIPESTATUS[0]}"')
    assert proc.stdout.decode().split() == ["1"] and proc.stderr == b""
    # And without a race: pipdoctor starts only once the reader has closed its end (EPIPE on the first write).
    proc = shell(f'mkfifo "$T/ready"; {{ read -r _ <"$T/ready"; exec "$PD" {json_flag}explain {SEED_LOG}; }} '
                 '| { exec 0<&-; echo >"$T/ready"; }; echo "${PIPESTATUS[0]}"',
                 env=dict(sandbox.pip_env(), T=str(tmp_path)))
    assert proc.stdout.decode().split() == ["1"] and proc.stderr == b""


# --- the wrapper: pip's status is kept, whatever happened to the fds ------------------------------------

ALL_REDIRECTIONS = (">&-", ">/dev/full", "<&-", "2>&-", "1>&- 2>&-")


@pytest.mark.parametrize("redirection", ALL_REDIRECTIONS)
def test_wrapper_keeps_pips_status_with_stdio_closed_or_full(redirection, tmp_path):
    target = tmp_path / "target"
    args = (f"--python {pip_python()} install --no-index --find-links {sandbox.wheelhouse()} "
            f"--target {target} wheel==0.45.1")
    status, out, err = run_redirected(args, redirection, tmp_path, env=sandbox.pip_env(HOME=str(tmp_path)))
    assert status == 0, err.decode(errors="replace")
    assert (target / "wheel").is_dir()  # pip really ran and installed
    assert b"Traceback" not in err
    if redirection in (">&-", ">/dev/full"):
        reason = STDOUT_FAILS[redirection]
        assert err.decode().splitlines() == [
            f"pipdoctor: warning: pip's output was lost: cannot write to standard output: {reason}"]
    elif redirection == "2>&-":
        assert b"Successfully installed wheel-0.45.1" in out  # pip's stdout, still passed on


def test_wrapper_json_document_that_cannot_be_written_is_exit_3(tmp_path):
    args = f"--json --python {pip_python()} list"
    status, out, err = run_redirected(args, ">/dev/full", tmp_path, env=sandbox.pip_env(HOME=str(tmp_path)))
    assert status == exitcodes.OUTPUT_FAILED
    lines = err.decode().splitlines()
    assert re.match(r"pip +\d", lines[2])  # pip's own output went to stderr, as with --json always
    assert lines[-1] == "pipdoctor: error: cannot write to standard output: No space left on device"
    assert b"Traceback" not in err


def test_wrapper_keeps_pips_failure_status_with_stderr_closed(tmp_path):
    args = f"--python {pip_python()} install --no-index nothing-by-this-name"
    status, out, err = run_redirected(args, "2>&-", tmp_path, env=sandbox.pip_env(HOME=str(tmp_path)))
    assert (status, err) == (1, b"")


# --- a deleted current directory ----------------------------------------------------------------------


def in_deleted_cwd(command: str, tmp_path: Path, env=None) -> subprocess.CompletedProcess:
    gone = tmp_path / "gone"
    gone.mkdir()
    return shell(f'cd {shlex.quote(str(gone))} && rmdir "$PWD" && {command}', env=env)


def test_explain_in_a_deleted_cwd(tmp_path):
    proc = in_deleted_cwd(f'"$PD" explain {SEED_LOG}', tmp_path)
    assert proc.returncode == 1 and b"PD101" in proc.stdout and proc.stderr == b""
    proc = in_deleted_cwd('"$PD" explain relative.log', tmp_path)
    assert proc.returncode == exitcodes.USAGE and proc.stdout == b""
    assert_one_error_line(proc.stderr, "cannot read relative.log: No such file or directory")


def test_wrapper_in_a_deleted_cwd_runs_pip_and_keeps_its_status(tmp_path):
    # The pip script of the venv, first on PATH (`python -m pip` itself cannot start in a deleted cwd).
    env = sandbox.pip_env(HOME=str(tmp_path), PATH=f"{pip_python().parent}:{sandbox.PATH}")
    proc = in_deleted_cwd('"$PD" list', tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert re.search(rb"^pip +\d", proc.stdout, re.M) and b"Traceback" not in proc.stderr


# --- logs that are not regular text files ---------------------------------------------------------------


def test_log_that_is_a_fifo_with_no_writer_does_not_hang(tmp_path):
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    proc = shell(f'"$PD" explain {fifo}', timeout=20)
    assert proc.returncode == 0 and proc.stdout == b"pipdoctor: no known problem found in this log.\n"


def test_log_from_a_pipe_is_read_to_its_end():
    proc = shell(f'"$PD" explain <(sleep 0.2; cat {SEED_LOG})')
    assert proc.returncode == 1 and b"PD101" in proc.stdout


@pytest.mark.parametrize("log, message", [
    ("/dev/zero", "/dev/zero is not a text log (it holds binary data)"),
    ("/", "cannot read /: it is a directory"),
])
def test_log_that_is_a_device_or_a_directory_is_one_line(log, message):
    proc = shell(f'"$PD" explain {log}', timeout=20)
    assert proc.returncode == exitcodes.USAGE and proc.stdout == b""
    assert_one_error_line(proc.stderr, message)


def test_nul_byte_deep_in_a_log_is_binary(tmp_path):
    log = tmp_path / "late-nul.log"
    log.write_bytes(SEED_LOG.read_bytes() * 2000 + b"\0tail\n")  # past the first 1 MiB block
    proc = shell(f'"$PD" explain {log}')
    assert proc.returncode == exitcodes.USAGE
    assert_one_error_line(proc.stderr, f"{log} is not a text log (it holds binary data)")


def test_huge_log_from_a_pipe_streams_in_bounded_memory():
    # 128 MiB of pip's progress lines, then the real failure: found, in far less memory than the log's size.
    proc = shell(f"{{ yes '  Downloading pdtiny-1.0-py3-none-any.whl (1.2 kB)' | head -c 128M; cat {SEED_LOG}; }} "
                 '| /usr/bin/time -f %M "$PD" explain -', timeout=120)
    assert proc.returncode == 1 and b"PD101" in proc.stdout
    max_rss_kib = int(proc.stderr.decode().split()[-1])
    assert max_rss_kib < 64 * 1024, max_rss_kib


def test_control_characters_in_a_log_path_are_escaped_in_the_error(tmp_path):
    name = tmp_path / "x\n\x1b[2Jforged"
    proc = shell('"$PD" explain "$LOG"', env=dict(sandbox.pip_env(), LOG=str(name)))
    assert proc.returncode == exitcodes.USAGE
    assert_one_error_line(proc.stderr, f"cannot read {tmp_path}/x\\n\\x1b[2Jforged: No such file or directory")


def test_control_characters_in_a_quoted_log_line_are_escaped_for_people_and_kept_in_json(tmp_path):
    forged = b"/wheels/af\x07\x08\x08OK\xc2\x9b2J\xe2\x80\xae"  # BEL, backspaces, C1 CSI, bidi override
    log = tmp_path / "forged.log"
    log.write_bytes(SEED_LOG.read_bytes().replace(b"/wheels/af'", forged + b"'"))
    proc = shell(f'"$PD" explain {log}')
    assert proc.returncode == 1 and proc.stderr == b""
    shown = proc.stdout.decode()
    assert _raw_controls(shown) == [] and "/wheels/af\\x07\\x08\\x08OK\\x9b2J\\u202e'" in shown
    document = json.loads(shell(f'"$PD" --json explain {log}').stdout)
    assert forged.decode() + "'" in document["findings"][0]["evidence"][0]["text"]


# --- file names that try to forge report lines on root's terminal (sealed) ------------------------------

FORGED = "x\n\x1b[32mOK all good\x07\r\x9b2J\u202e"
FORGED_SHOWN = "x\\n\\x1b[32mOK all good\\x07\\r\\x9b2J\\u202e"
NOT_UTF8 = b"caf\xe9\x1b]0;pwned\x07"
NOT_UTF8_SHOWN = "caf\\xe9\\x1b]0;pwned\\x07"


def _raw_controls(shown: str) -> list:
    """Characters a terminal acts on, other than the line break: C0, DEL, C1 (U+0080-U+009F), bidi overrides."""
    return [c for c in shown if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F or c == "\u202e"]


@pytest.mark.root
def test_forged_cache_entry_names_are_escaped_for_people_and_exact_in_json(user, seal):
    cache = new_user_cache(user)
    forged = cache / "wheels" / FORGED
    forged.mkdir()
    raw = os.path.join(os.fsencode(cache / "wheels"), NOT_UTF8)
    os.mkdir(raw)
    for path in (forged, raw):
        os.chown(path, 0, 0)  # root-owned entries: the check names them
    env = with_pip(sandbox.pip_env())
    for args in (["check", "--user", user.name], ["fix", "--dry-run", "--user", user.name],
                 ["--color", "always", "check", "--user", user.name]):
        proc = sandbox.run([pipdoctor_bin(), *args], env=env, mount_setup=seal.setup, separate_stderr=True)
        assert proc.returncode == 1, proc.stderr.decode(errors="replace")
        shown = proc.stdout.decode()  # strict: a byte that is not UTF-8 fails here
        if "--color" in args:  # our own colors are the only escape sequences left
            shown = re.sub(r"\x1b\[[0-9;]*m", "", shown)
        assert _raw_controls(shown) == [], shown
        assert FORGED_SHOWN in shown and NOT_UTF8_SHOWN in shown
        assert not any(line.startswith("OK all good") for line in shown.splitlines())
    proc = sandbox.run([pipdoctor_bin(), "--json", "check", "--user", user.name], env=env, mount_setup=seal.setup,
                       separate_stderr=True)
    doc = json.loads(proc.stdout)
    exact = {pointer: base64.b64decode(value) for pointer, value in doc["raw_bytes"].items()}  # names not UTF-8
    paths = [exact.get(f"/findings/{i}/paths/{j}", os.fsencode(p)) for i, f in enumerate(doc["findings"])
             for j, p in enumerate(f["paths"])]
    assert os.fsencode(forged) in paths and raw in paths
