"""The runner against real children: fakepip.py for exact bytes, the test venv's pip for real output."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import select
import signal
import struct
import subprocess
import sys
import sysconfig
import termios
import time
import zipfile
from pathlib import Path

import pytest
from fakepip import flood_bytes

from pipdoctor.runner import InstallerNotFound, pip_command

TESTS = Path(__file__).parent
PYTHON = sys.executable
FAKEPIP = [PYTHON, str(TESTS / "fakepip.py")]
REAL_PIP = [PYTHON, "-m", "pip"]
DRIVER = [PYTHON, str(TESTS / "runner_driver.py")]
TIMEOUT = 60  # for anything a test waits on: generous, a loaded 2-core machine can stall for seconds
SI_KERNEL = 0x80  # siginfo si_code of a signal the kernel sent, e.g. a tty's line discipline (siginfo.h)
SI_USER = 0  # ... and of one sent by kill(2)


class Driver:
    """run_installer in a process of its own (runner_driver.py), so that it can have a real terminal and get
    real signals. terminal=True: the user's terminal window, whose master is the screen and keyboard;
    terminal=False: stdout and stderr on one pipe, stdin another."""

    def __init__(
        self,
        tmp_path: Path,
        pip_args: list[str],
        *,
        command: list[str] = FAKEPIP,
        terminal: bool = True,
        keyboard: bool = True,
        stdout: object = None,
        stderr: object = None,
        stdout_to_stderr: bool = False,
        fail_in_on_output: bool = False,
        start_waits_for: Path | None = None,
        size: tuple[int, int] = (24, 80),
        env: dict[str, str] | None = None,
    ):
        self.result_path = tmp_path / f"result-{time.monotonic_ns()}.json"
        spec = {"command": command, "pip_args": pip_args, "result": str(self.result_path),
                "stdout_to_stderr": stdout_to_stderr, "fail_in_on_output": fail_in_on_output}
        if start_waits_for is not None:
            spec["start_waits_for"] = str(start_waits_for)
        argv = [*DRIVER, json.dumps(spec)]
        if terminal:
            self.screen, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
            self.termios_before = termios.tcgetattr(self.screen)
            self.proc = subprocess.Popen(
                argv,
                stdin=slave if keyboard else subprocess.PIPE,
                stdout=slave if stdout is None else stdout,
                stderr=slave if stderr is None else stderr,
                start_new_session=True,
                preexec_fn=lambda: fcntl.ioctl(slave, termios.TIOCSCTTY, 0),  # as a terminal's shell has
                env=env,
            )
        else:
            self.screen, slave = os.pipe()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=slave, stderr=slave, start_new_session=True, env=env
            )
        os.close(slave)
        self.seen = bytearray()

    def hang_up(self) -> None:
        """The user closes the terminal window."""
        os.close(self.screen)
        self.screen = -1

    def type(self, keys: bytes) -> None:
        """What the user types: into the terminal, or into the pipe that is the driver's stdin."""
        if self.proc.stdin is None:
            os.write(self.screen, keys)
        else:
            self.proc.stdin.write(keys)
            self.proc.stdin.flush()

    def read_until(self, needle: bytes) -> bytes:
        deadline = time.monotonic() + TIMEOUT
        while needle not in self.seen:
            if not self._read_some(deadline):
                raise AssertionError(f"the output ended without {needle!r}: {bytes(self.seen)!r}")
        return bytes(self.seen)

    def finish(self) -> int:
        """Reads the output to its end and returns the driver's exit status."""
        deadline = time.monotonic() + TIMEOUT
        while self._read_some(deadline):
            pass
        return self.proc.wait(timeout=TIMEOUT)

    @property
    def result(self) -> dict:
        return json.loads(self.result_path.read_text())

    def _read_some(self, deadline: float) -> bool:
        if not select.select([self.screen], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise AssertionError(f"timed out; the output so far: {bytes(self.seen)!r}")
        try:
            data = os.read(self.screen, 1 << 16)
        except OSError:  # EIO: the terminal's last user closed it
            data = b""
        self.seen += data
        return bool(data)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        if self.screen >= 0:
            os.close(self.screen)


@pytest.fixture
def driver(tmp_path):
    """Starts Drivers (see there) and kills whatever a failed test left running."""
    started = []

    def start(pip_args, **options):
        started.append(Driver(tmp_path, pip_args, **options))
        return started[-1]

    yield start
    for one in started:
        one.close()


def run_piped(tmp_path, pip_args, *, command=FAKEPIP, stdout_to_stderr=False, keep_output=True, env=None,
              start_waits_for=None):
    """The driver with stdout and stderr in files, as in `pipdoctor install x >out 2>err`:
    returns (driver's exit status, stdout bytes, stderr bytes, result)."""
    result = tmp_path / "result.json"
    spec = {"command": command, "pip_args": pip_args, "result": str(result),
            "stdout_to_stderr": stdout_to_stderr, "keep_output": keep_output}
    if start_waits_for is not None:
        spec["start_waits_for"] = str(start_waits_for)
    with open(tmp_path / "stdout", "wb") as out, open(tmp_path / "stderr", "wb") as err:
        status = subprocess.run(
            [*DRIVER, json.dumps(spec)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=TIMEOUT, env=env,
        ).returncode
    stdout, stderr = (tmp_path / "stdout").read_bytes(), (tmp_path / "stderr").read_bytes()
    return status, stdout, stderr, json.loads(result.read_text())


def output_of(result: dict) -> bytes:
    """Everything on_output received, in order."""
    return bytes.fromhex(result["output"])


def wait_until_reading_stdin(parent: int) -> None:
    """Waits until the child of `parent` (pip) is blocked in read(0, ...). pip's prompt shows just before
    that read, and a SIGINT in between is only noticed once the read returns: CPython checks for signals
    when a read fails with EINTR (Parser/myreadline.c, my_fgets). A user cannot type that fast; a test can."""
    read = {"x86_64": "0", "aarch64": "63"}[platform.machine()]  # the read(2) syscall's number
    deadline = time.monotonic() + TIMEOUT
    while True:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        if children and Path(f"/proc/{children[0]}/syscall").read_text().split()[:2] == [read, "0x0"]:
            return
        assert time.monotonic() < deadline, "pip never read its stdin"
        time.sleep(0.01)


def raw_mode(attributes) -> bool:
    lflag = attributes[3]
    return not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)


def make_wheel(directory: Path, name: str, payload: int = 0) -> Path:
    """A minimal valid wheel; `payload` random (incompressible) bytes make it as big as wanted."""
    dist_info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{name}/payload.bin": os.urandom(payload),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"]).encode()
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def pip_env(**changes: str) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color", **changes}
    env.pop("PIP_NO_INPUT", None)  # conftest sets it; these tests answer pip's prompts
    return env


@pytest.fixture(scope="module")
def wheel_url(tmp_path_factory):
    """A 3 MB wheel on a local HTTP server: pip draws a progress bar only for an HTTP download of more
    than 40 kB (pip/_internal/network/download.py, _prepare_download); a file: URL is never "downloaded"."""
    directory = tmp_path_factory.mktemp("served")
    make_wheel(directory, "bigpkg", payload=3_000_000)
    server = subprocess.Popen(
        [PYTHON, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    port = re.search(rb"port (\d+)", server.stdout.readline()).group(1).decode()
    yield f"http://127.0.0.1:{port}/bigpkg-1.0-py3-none-any.whl"
    server.kill()
    server.wait()


@pytest.fixture
def venv_with_tinypkg(tmp_path):
    """A throwaway venv with `tinypkg` installed by real pip from a local wheel; returns (python, site).
    No ensurepip (slow): a .pth makes the test venv's pip importable without its other packages."""
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=TIMEOUT)
    site = next(venv.glob("lib/python*/site-packages"))
    only_pip = tmp_path / "only-pip"
    only_pip.mkdir()
    (only_pip / "pip").symlink_to(Path(sysconfig.get_paths()["purelib"]) / "pip")
    (site / "only-pip.pth").write_text(f"{only_pip}\n")
    python = str(venv / "bin" / "python")
    wheel = make_wheel(tmp_path, "tinypkg")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--no-cache-dir", str(wheel)],
        check=True, capture_output=True, timeout=TIMEOUT,
    )
    assert (site / "tinypkg").is_dir()
    return python, site


# --- pipes: the user's stdout is not a terminal ---------------------------------------------------------

def test_pipe_mode_passes_stdout_and_stderr_byte_for_byte_to_their_own_streams(tmp_path):
    out = b"caf\xc3\xa9 \xff\xfe not UTF-8\r\nprogress 10%\rprogress 100%\x00 no newline at the end"
    err = b"\x1b[31mERROR\x1b[0m: \xe9 latin-1\r\nlast line without newline"
    status, stdout, stderr, result = run_piped(
        tmp_path, ["out", out.hex(), "err", err.hex(), "isatty", "exit", "0"]
    )
    assert (status, result["returncode"]) == (0, 0)
    assert stdout == out + b"[false, false, false]\n"
    assert stderr == err
    assert sorted(output_of(result)) == sorted(stdout + stderr)


def test_pipe_mode_passes_pip_arguments_untouched(tmp_path):
    pip_args = ["args", "--python", "/x", "", "a b", "-q", "--", "ü", "-r", "*.txt", "$HOME"]
    status, stdout, _, result = run_piped(tmp_path, pip_args)
    assert json.loads(stdout) == pip_args[1:]
    assert result["command"] == FAKEPIP + pip_args


@pytest.mark.parametrize("code", [0, 1, 3, 23])
def test_exit_status_is_pips(tmp_path, code):
    status, _, _, result = run_piped(tmp_path, ["exit", str(code)])
    assert result["returncode"] == status == code


@pytest.mark.parametrize(("name", "status"), [("SIGKILL", 137), ("SIGUSR1", 138), ("SIGTERM", 143)])
def test_pip_dying_of_a_signal_gives_128_plus_its_number(tmp_path, name, status):
    assert run_piped(tmp_path, ["die", name])[3]["returncode"] == status


def test_heavy_output_completes_in_bounded_memory(tmp_path):
    """50 MB through the runner: every byte on stdout and in on_output, in 64 KiB reads, nothing kept."""
    size = 50_000_000
    status, stdout, stderr, result = run_piped(tmp_path, ["flood", str(size)], keep_output=False)
    assert (status, stderr) == (0, b"")
    expected = hashlib.sha256(flood_bytes(size)).hexdigest()
    assert (len(stdout), hashlib.sha256(stdout).hexdigest()) == (size, expected)
    assert (result["output_size"], result["output_sha256"]) == (size, expected)
    assert result["largest_chunk"] <= 64 * 1024
    assert result["rss_growth_kib"] < 16 * 1024


def test_on_started_overlaps_pip_and_its_output_waits_whole(tmp_path):
    """pipdoctor loads its rules in on_started while pip starts: pip runs meanwhile (it makes a file that
    on_started waits for), and what pip wrote in that time (more than a pipe holds) is all delivered after."""
    size = 1_000_000
    marker = tmp_path / "pip-started"
    status, stdout, _, result = run_piped(tmp_path, ["touch", str(marker), "flood", str(size)], keep_output=False,
                                          start_waits_for=marker)
    assert status == 0
    assert result["started"] == {"output_before": 0, "pip_ran_meanwhile": True}
    assert stdout == flood_bytes(size)
    assert result["output_sha256"] == hashlib.sha256(stdout).hexdigest()


def test_on_output_sees_each_stream_in_order(tmp_path):
    """With two pipes only each stream's own order is defined; on_output keeps it for both."""
    steps = []
    for n in range(200):
        steps += ["out", (b"out %d\n" % n).hex(), "err", (b"err %d\n" % n).hex()]
    _, stdout, stderr, result = run_piped(tmp_path, steps)
    seen = output_of(result).splitlines(keepends=True)
    assert [line for line in seen if line.startswith(b"out")] == stdout.splitlines(keepends=True)
    assert [line for line in seen if line.startswith(b"err")] == stderr.splitlines(keepends=True)
    assert len(seen) == 400


def test_stdout_to_stderr_keeps_stdout_free_for_json(tmp_path):
    _, stdout, stderr, result = run_piped(
        tmp_path, ["out", b"to stdout\n".hex(), "err", b"to stderr\n".hex()], stdout_to_stderr=True
    )
    assert stdout == b""
    assert sorted(stderr.splitlines()) == [b"to stderr", b"to stdout"]


def test_a_reader_that_leaves_early_does_not_stop_pip(tmp_path):
    """`pipdoctor install x | head`: once the reader is gone pip runs on to its end as the diagnosis
    needs, its output still drained into on_output (pip alone would die of SIGPIPE here instead)."""
    size = 5_000_000
    spec = {"command": FAKEPIP, "pip_args": ["flood", str(size), "exit", "4"], "result": str(tmp_path / "r")}
    proc = subprocess.Popen([*DRIVER, json.dumps(spec)], stdout=subprocess.PIPE)
    assert proc.stdout.read(10) == flood_bytes(10)
    proc.stdout.close()
    assert proc.wait(timeout=TIMEOUT) == 4
    assert json.loads((tmp_path / "r").read_text())["output_size"] == size


def test_a_non_blocking_stdout_loses_nothing(tmp_path):
    """A terminal or pipe that another program set O_NONBLOCK answers a full write with EAGAIN."""
    size = 2_000_000
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    fcntl.fcntl(writer, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)  # one page: full at once, every time
    spec = {"command": FAKEPIP, "pip_args": ["flood", str(size)], "result": str(tmp_path / "r")}
    proc = subprocess.Popen([*DRIVER, json.dumps(spec)], stdout=writer)
    os.close(writer)
    received = bytearray()
    while data := os.read(reader, 4096):
        received += data
    os.close(reader)
    assert proc.wait(timeout=TIMEOUT) == 0
    assert received == flood_bytes(size)


def test_pipe_mode_pip_reads_our_stdin_to_answer_a_prompt(driver):
    run = driver(["ask", "Proceed (Y/n)? "], terminal=False)
    run.read_until(b"Proceed (Y/n)? ")
    run.type(b"y\n")
    assert run.finish() == 0
    assert run.seen == b"Proceed (Y/n)? got 'y\\n'\n"


@pytest.mark.parametrize(("name", "status"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_pipe_mode_relays_sigterm_and_sighup_and_exits_as_pip_did(driver, name, status):
    run = driver(["ready", "pause"], terminal=False)
    run.read_until(b"ready")
    os.kill(run.proc.pid, signal.Signals[name])  # to pipdoctor alone, as `kill PID` does
    assert run.finish() == status  # not -N: pipdoctor itself survived, then exited as pip did
    assert run.result["returncode"] == status


def test_pipe_mode_pip_that_handles_sigterm_keeps_its_own_status(driver):
    run = driver(["sigwait", "SIGTERM", "exit", "7"], terminal=False)
    run.read_until(b"waiting")
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.finish() == 7
    assert f"got SIGTERM code={SI_USER} pid={run.proc.pid}".encode() in run.seen  # relayed by pipdoctor


def test_pipe_mode_ctrl_c_reaches_pip_and_pipdoctor_survives_it(driver):
    """A terminal's Ctrl-C goes to the whole foreground process group, pip included: pipdoctor only
    has to survive it, then exit as pip did."""
    run = driver(["sigwait", "SIGINT", "exit", "5"], terminal=False)
    run.read_until(b"waiting")
    os.killpg(run.proc.pid, signal.SIGINT)  # what the terminal does with Ctrl-C
    assert run.finish() == 5
    assert run.result["returncode"] == 5


# --- pty: the user's stdout is a terminal ---------------------------------------------------------------

def test_pty_mode_pip_sees_a_terminal_of_the_users_size(driver):
    run = driver(["isatty", "winsize"], size=(33, 101))
    assert run.finish() == 0
    assert run.seen == b"[true, true, true]\r\n33 x 101\r\n"  # a terminal turns \n into \r\n (ONLCR)


def test_pty_mode_output_is_one_stream_in_order_and_exact(driver):
    out = b"caf\xc3\xa9 \xff\xfe\rprogress 100%\x1b[0m"
    run = driver(["out", out.hex(), "err", b"\xe9rr\n".hex(), "out", b"end".hex(), "exit", "3"])
    assert run.finish() == 3
    expected = out + b"\xe9rr\r\nend"
    assert run.seen == expected
    assert run.result["output_size"] == len(expected)
    assert run.result["output_sha256"] == hashlib.sha256(expected).hexdigest()


def test_pty_mode_reads_to_the_end_after_pip_exits(driver):
    """pip's last bytes are still in the pty when it exits: all of them must reach the screen."""
    size = 2_000_000
    run = driver(["flood", str(size), "exit", "0"])
    assert run.finish() == 0
    assert run.seen == flood_bytes(size).replace(b"\n", b"\r\n")


def test_pty_mode_on_started_overlaps_pip_and_loses_no_output(driver, tmp_path):
    size = 300_000
    marker = tmp_path / "pip-started"
    run = driver(["touch", str(marker), "flood", str(size), "exit", "0"], start_waits_for=marker)
    assert run.finish() == 0
    assert run.seen == flood_bytes(size).replace(b"\n", b"\r\n")
    assert run.result["started"] == {"output_before": 0, "pip_ran_meanwhile": True}


def test_pty_mode_terminal_is_raw_while_pip_runs_and_restored_after(driver):
    run = driver(["ready", "pause"])
    run.read_until(b"ready")
    assert raw_mode(termios.tcgetattr(run.screen))
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.finish() == 143
    assert termios.tcgetattr(run.screen) == run.termios_before


def test_pty_mode_terminal_is_restored_when_pip_cannot_be_run(driver, tmp_path):
    run = driver([], command=[str(tmp_path / "no-such-pip")])
    assert run.finish() == 2
    assert run.result["error"] == f"cannot run {tmp_path / 'no-such-pip'}: No such file or directory"
    assert termios.tcgetattr(run.screen) == run.termios_before


def test_pty_mode_keyboard_answers_a_prompt(driver):
    run = driver(["ask", "Proceed (Y/n)? "])
    run.read_until(b"Proceed (Y/n)? ")
    run.type(b"y\r")  # Enter on a raw terminal sends CR; pip's pty turns it into the NL input() wants
    assert run.finish() == 0
    assert run.seen == b"Proceed (Y/n)? y\r\ngot 'y\\n'\r\n"  # "y" once: echoed by pip's pty alone


def test_pty_mode_piped_stdin_is_pips_own_including_its_end(driver):
    """`echo n | pipdoctor uninstall x` on a terminal: pip reads the pipe itself, as without pipdoctor,
    so the bytes arrive unaltered (no line discipline) and end of input is a real EOF. Our terminal is
    not raw then, so it alone turns LF into CR LF: pip's output reaches it, and on_output, unchanged."""
    run = driver(["isatty", "ask", "first? ", "ask", "second? "], keyboard=False)
    run.type(b"n\r\n")
    run.proc.stdin.close()
    assert run.finish() == 0
    expected = b"[false, true, true]\nfirst? got 'n\\r\\n'\nsecond? got ''\n"
    assert run.seen == expected.replace(b"\n", b"\r\n")
    assert run.result["output_sha256"] == hashlib.sha256(expected).hexdigest()


def test_pty_mode_ctrl_c_byte_reaches_pip_through_its_terminal(driver):
    """The user's terminal is raw, so Ctrl-C arrives as byte 03; copied into pip's pty, the pty's line
    discipline sends pip SIGINT (si_code SI_KERNEL, no sender pid), exactly as a terminal does."""
    run = driver(["sigwait", "SIGINT", "die", "SIGINT"])
    run.read_until(b"waiting")
    run.type(b"\x03")
    assert run.finish() == 130
    assert f"got SIGINT code={SI_KERNEL} pid=0".encode() in run.seen
    assert run.result["returncode"] == 130


def _state(pid: int) -> str:
    """The process state letter from /proc/PID/stat (proc(5)): T when stopped."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_for_state(pid: int, state: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while _state(pid) != state:
        assert time.monotonic() < deadline, f"process {pid} never reached state {state}"
        time.sleep(0.01)


def test_pty_mode_ctrl_z_stops_pip_and_pipdoctor_and_fg_resumes_both(driver):
    """Ctrl-Z on the raw terminal stops pip through its pty; pipdoctor then stops too, with the terminal
    cooked again for the shell, and on `fg` (SIGCONT) takes it back and lets pip carry on."""
    run = driver(["ask", "after? "])
    run.read_until(b"after? ")
    run.type(b"\x1a")
    _wait_for_state(run.proc.pid, "T")
    [pip] = Path(f"/proc/{run.proc.pid}/task/{run.proc.pid}/children").read_text().split()
    assert _state(int(pip)) == "T"
    assert termios.tcgetattr(run.screen) == run.termios_before
    os.kill(run.proc.pid, signal.SIGCONT)
    deadline = time.monotonic() + TIMEOUT
    while not raw_mode(termios.tcgetattr(run.screen)):
        assert time.monotonic() < deadline, "the terminal never went raw again"
        time.sleep(0.01)
    run.type(b"y\r")
    assert run.finish() == 0
    assert b"got 'y\\n'" in run.seen


def test_pty_mode_ctrl_c_is_relayed_when_stdin_is_not_the_terminal(driver):
    """With a piped stdin our terminal stays cooked: Ctrl-C signals pipdoctor, which relays it to pip."""
    run = driver(["sigwait", "SIGINT", "die", "SIGINT"], keyboard=False)
    run.read_until(b"waiting")
    os.write(run.screen, b"\x03")
    assert run.finish() == 130
    assert f"got SIGINT code={SI_USER} pid={run.proc.pid}".encode() in run.seen


@pytest.mark.parametrize(("name", "status"), [("SIGTERM", 143), ("SIGQUIT", 131)])
def test_pty_mode_relays_signals_and_exits_as_pip_did(driver, name, status):
    run = driver(["ready", "pause"])
    run.read_until(b"ready")
    os.kill(run.proc.pid, signal.Signals[name])
    assert run.finish() == status


def test_pty_mode_pip_that_handles_sigterm_keeps_its_own_status(driver):
    run = driver(["sigwait", "SIGTERM", "exit", "7"])
    run.read_until(b"waiting")
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.finish() == 7
    assert f"got SIGTERM code={SI_USER} pid={run.proc.pid}".encode() in run.seen


def test_pty_mode_hangup_ends_pip_with_sighup(driver):
    """The terminal window closes: pip gets SIGHUP, pipdoctor survives the dead terminal and reports 129."""
    run = driver(["ready", "pause"])
    run.read_until(b"ready")
    run.hang_up()
    assert run.proc.wait(timeout=TIMEOUT) == 129
    assert run.result["returncode"] == 129


def test_pty_mode_forwards_window_size_changes(driver):
    run = driver(["winsize", "sigwait", "SIGWINCH", "winsize"], size=(24, 80))
    run.read_until(b"waiting")
    fcntl.ioctl(run.screen, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))  # the user resizes
    assert run.finish() == 0
    assert run.seen.startswith(b"24 x 80\r\n")
    assert run.seen.endswith(b"40 x 132\r\n")


def test_pty_is_chosen_by_the_stream_pips_output_goes_to(driver, tmp_path):
    """--json: our stdout is a file; pip's output goes to stderr, a terminal, so it still gets a pty."""
    with open(tmp_path / "json", "wb") as stdout:
        run = driver(["isatty"], stdout=stdout, stdout_to_stderr=True)
        assert run.finish() == 0
    assert run.seen == b"[true, true, true]\r\n"
    assert (tmp_path / "json").read_bytes() == b""


def test_no_pty_when_the_stream_pips_output_goes_to_is_a_file(driver, tmp_path):
    """--json 2>pip.log on a terminal: no escape codes in the log, and nothing at all on stdout."""
    with open(tmp_path / "log", "wb") as stderr:
        run = driver(["isatty", "err", b"warning\n".hex()], stderr=stderr, stdout_to_stderr=True)
        assert run.finish() == 0
    assert run.seen == b""
    assert (tmp_path / "log").read_bytes() == b"[true, false, false]\nwarning\n"


def test_a_failing_on_output_stops_pip_and_restores_the_terminal(driver):
    """A bug in the caller's classifier must not leave pip running unwatched, or the terminal raw."""
    run = driver(["ready", "pause"], fail_in_on_output=True)
    assert run.finish() == 1
    assert b"RuntimeError: classifier bug" in run.seen
    assert termios.tcgetattr(run.screen) == run.termios_before
    pip_pid = int(re.search(rb"ready (\d+)", run.seen).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(pip_pid, 0)  # killed, and reaped before run_installer raised


# --- real pip ---------------------------------------------------------------------------------------------

def test_real_pip_draws_its_progress_bar_on_a_terminal(driver, tmp_path, wheel_url):
    pip_args = ["download", "--no-deps", "--no-cache-dir", "-d", str(tmp_path / "dl"), wheel_url]
    run = driver(pip_args, command=REAL_PIP, size=(30, 100), env=pip_env())
    assert run.finish() == 0
    screen = run.seen.decode()
    assert "\x1b[?25l" in screen and "\x1b[?25h" in screen  # rich hides the cursor while drawing
    assert re.search("\x1b\\[[0-9;]*m━+\x1b\\[0m \x1b\\[32m3.0/3.0 MB", screen)  # the finished bar, in color
    assert "Successfully downloaded bigpkg\r\n" in screen


def test_real_pip_draws_no_live_bar_into_a_pipe(tmp_path, wheel_url):
    pip_args = ["download", "--no-deps", "--no-cache-dir", "-d", str(tmp_path / "dl"), wheel_url]
    status, stdout, stderr, result = run_piped(tmp_path, pip_args, command=REAL_PIP, env=pip_env())
    assert status == 0
    assert b"\x1b" not in stdout and b"\r" not in stdout  # no colors, no redraws
    assert len([line for line in stdout.splitlines() if "━".encode() in line]) <= 1  # the finished bar
    assert b"Successfully downloaded bigpkg\n" in stdout


def test_real_pip_failure_status_and_stderr_pass_through(tmp_path):
    pip_args = ["download", "--no-index", "--no-deps", "-d", str(tmp_path / "dl"), "no-such-package-xyz"]
    status, stdout, stderr, result = run_piped(tmp_path, pip_args, command=REAL_PIP, env=pip_env())
    assert status == result["returncode"] == 1
    assert b"ERROR: No matching distribution found for no-such-package-xyz\n" in stderr
    assert b"ERROR" not in stdout


def test_real_pip_uninstall_prompt_answered_through_a_pipe(driver, venv_with_tinypkg):
    python, site = venv_with_tinypkg
    run = driver(["uninstall", "tinypkg"], command=[python, "-m", "pip"], terminal=False, env=pip_env())
    run.read_until(b"Proceed (Y/n)? ")
    run.type(b"y\n")
    assert run.finish() == 0
    assert b"Successfully uninstalled tinypkg-1.0" in run.seen
    assert not (site / "tinypkg").exists()


def test_real_pip_uninstall_prompt_answered_on_a_terminal(driver, venv_with_tinypkg):
    python, site = venv_with_tinypkg
    run = driver(["uninstall", "tinypkg"], command=[python, "-m", "pip"], env=pip_env())
    run.read_until(b"Proceed (Y/n)? ")
    run.type(b"n\r")
    assert run.finish() == 0
    assert run.seen.endswith(b"Proceed (Y/n)? n\r\n")
    assert (site / "tinypkg").is_dir()


def test_real_pip_ctrl_c_at_its_prompt_gives_pips_own_status(driver, venv_with_tinypkg):
    """pip catches KeyboardInterrupt (base_command.py, exc_logging_wrapper): "Operation cancelled by
    user", status 1. pipdoctor passes that on; it does not turn it into 130."""
    python, site = venv_with_tinypkg
    run = driver(["uninstall", "tinypkg"], command=[python, "-m", "pip"], env=pip_env())
    run.read_until(b"Proceed (Y/n)? ")
    wait_until_reading_stdin(run.proc.pid)
    run.type(b"\x03")
    assert run.finish() == 1
    assert b"ERROR: Operation cancelled by user" in run.seen
    assert (site / "tinypkg").is_dir()


# --- which pip ---------------------------------------------------------------------------------------------

def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_first_pip_on_path_wins(tmp_path):
    empty, first, second, not_executable = (tmp_path / n for n in ("empty", "first", "second", "noexec"))
    for directory in (empty, first, second, not_executable):
        directory.mkdir()
    (not_executable / "pip").write_text("#!/bin/sh\n")
    executable(first / "pip")
    executable(second / "pip")
    path = os.pathsep.join(map(str, (empty, not_executable, first, second)))
    assert pip_command(None, {"PATH": path}) == [str(first / "pip")]


def test_without_a_pip_on_path_the_running_python_runs_pip(tmp_path):
    assert pip_command(None, {"PATH": str(tmp_path)}) == [sys.executable, "-m", "pip"]


def test_python_option_and_variable_choose_the_interpreter(tmp_path):
    option, variable = executable(tmp_path / "python-a"), executable(tmp_path / "python-b")
    executable(tmp_path / "pip")
    environ = {"PATH": str(tmp_path), "PIPDOCTOR_PYTHON": str(variable)}
    assert pip_command(str(option), environ) == [str(option), "-m", "pip"]
    assert pip_command(None, environ) == [str(variable), "-m", "pip"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "no such file"),
        (lambda path: path.write_text(""), "not an executable file"),
        (lambda path: path.mkdir(mode=0o755), "not an executable file"),
    ],
    ids=["missing", "not-executable", "directory"],
)
def test_a_bad_python_is_pip_not_found(tmp_path, make, message):
    python = tmp_path / "python"
    make(python)
    with pytest.raises(InstallerNotFound, match=f"^--python {re.escape(str(python))}: {message}$"):
        pip_command(str(python), {})
    with pytest.raises(InstallerNotFound, match=f"^PIPDOCTOR_PYTHON={re.escape(str(python))}: {message}$"):
        pip_command(None, {"PIPDOCTOR_PYTHON": str(python)})


@pytest.mark.parametrize("problem", ["missing", "not-executable"])
def test_a_pip_that_cannot_run_is_pip_not_found(tmp_path, problem):
    pip = tmp_path / "pip"
    if problem == "not-executable":
        pip.write_text("#!/bin/sh\n")
    status, stdout, stderr, result = run_piped(tmp_path, [], command=[str(pip)])
    reason = "No such file or directory" if problem == "missing" else "Permission denied"
    assert (status, result["error"]) == (2, f"cannot run {pip}: {reason}")


def test_pipdoctors_own_pip_first_on_path_is_passed_over(tmp_path):
    """README puts ~/.pipdoctor/bin on PATH: its pip is pipdoctor's own, and `pipdoctor install` must run the
    user's pip (the next on PATH), saying so once on stderr, not install into pipdoctor's own venv."""
    import sandbox

    target = sandbox.copy_venv(sandbox.pip_venv(sandbox.PIP_VERSIONS[-1]), tmp_path / "users-venv")
    users_bin = tmp_path / "bin"
    users_bin.mkdir()
    executable(users_bin / "pip", f'#!/bin/sh\nexec {target}/bin/python -m pip "$@"\n')
    own_bin = Path(sys.prefix) / "bin"
    assert (own_bin / "pip").exists()
    env = sandbox.pip_env(HOME=str(tmp_path), PATH=f"{own_bin}:{users_bin}:{sandbox.PATH}")
    done = sandbox.run([PYTHON, "-m", "pipdoctor", "install", "--no-index", "--find-links", sandbox.wheelhouse(),
                        "colorama"], env=env, separate_stderr=True)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert list(target.glob("lib/python*/site-packages/colorama/__init__.py")), done.stdout.decode()
    assert done.stderr.decode().splitlines()[0] == (f"pipdoctor: running {users_bin}/pip, not pipdoctor's own pip "
                                                    f"in {own_bin} (it is earlier on PATH)")


def test_only_pipdoctors_own_pip_on_path_is_an_error_not_its_venv(tmp_path):
    own_bin = Path(sys.prefix) / "bin"
    with pytest.raises(InstallerNotFound, match="no pip on PATH but pipdoctor's own"):
        pip_command(None, {"PATH": f"{own_bin}:{tmp_path}"})
    activated = {"PATH": f"{own_bin}:{tmp_path}", "VIRTUAL_ENV": sys.prefix}
    assert pip_command(None, activated) == [f"{own_bin}/pip"]  # the venv the user activated: its pip is meant
