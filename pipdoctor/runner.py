"""Runs the user's real installer (pip, uv), its output passed through live and unchanged: a pty on a terminal,
else pipes. Which pip or uv that is: pip_command here, installers/uv/command.py for uv, by one rule (users_tool_on_path)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator, Mapping, Sequence

from pipdoctor.exitcodes import from_wait_status
from pipdoctor.terminal import stream_name, write_all

# Start-up is on every `pipdoctor install` (scripts/bench overhead: +30 ms at most over pip): this module
# imports neither subprocess, dataclasses, typing nor shutil, and pipdoctor loads its rules while pip starts.

_CHUNK = 64 * 1024  # a Linux pipe's whole buffer: heavy output costs one read and one write per 64 KiB

# Under a pty the installer has a session of its own, so nothing sent to pipdoctor reaches it unless relayed; the
# pty's line discipline delivers Ctrl-C and Ctrl-\ typed into our raw terminal (they arrive as bytes).
_PTY_RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# With pipes the installer is in our process group, so the terminal delivers Ctrl-C and Ctrl-\ to it as well as
# to us: we only survive them. Relaying too would interrupt pip's own KeyboardInterrupt handling (and uv's).
_PIPE_RELAYED = (signal.SIGTERM, signal.SIGHUP)
_PIPE_SURVIVED = (signal.SIGINT, signal.SIGQUIT)

_SignalHandler = Callable[[int, object], None]


class InstallerNotFound(Exception):
    """The pip or uv to run does not exist or cannot be executed (the CLI prints it as a one-line error)."""


class InstallerRun:
    """What was run (`installer`: the part that runs pip or uv, `command`: with the installer's arguments), its
    exit status as a shell reports it (128+N when it died of signal N), and `lost`: why some of its output could
    not be passed on ("standard output: No space left on device"), None when all of it was or its reader left."""

    __slots__ = ("installer", "command", "returncode", "lost")

    def __init__(self, installer: tuple[str, ...], command: tuple[str, ...], returncode: int, lost: str | None = None):
        self.installer = installer
        self.command = command
        self.returncode = returncode
        self.lost = lost


def pip_command(python: str | None, environ: Mapping[str, str],
                notice: Callable[[str], None] | None = None) -> list[str]:
    """The pip the user would get: --python PATH / PIPDOCTOR_PYTHON -> [PATH, "-m", "pip"];
    else the first `pip` on environ["PATH"] that is not pipdoctor's own -> [that path];
    else [sys.executable, "-m", "pip"]. `notice` hears, in one line, that pipdoctor's own pip was passed over."""
    if python:
        return [explicit_executable(python, f"--python {python}"), "-m", "pip"]
    python = environ.get("PIPDOCTOR_PYTHON")
    if python:
        return [explicit_executable(python, f"PIPDOCTOR_PYTHON={python}"), "-m", "pip"]
    pip = users_tool_on_path("pip", environ, notice, instead="name the Python whose pip to run with --python PATH")
    return [pip] if pip else [sys.executable, "-m", "pip"]


def explicit_executable(path: str, source: str) -> str:
    """`path`, named by the user (`source`: "--uv PATH", ...), if it is an executable file; else the one line
    that says why not."""
    if not os.path.exists(path):
        raise InstallerNotFound(f"{source}: no such file")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise InstallerNotFound(f"{source}: not an executable file")
    return path


def users_tool_on_path(name: str, environ: Mapping[str, str], notice: Callable[[str], None] | None = None, *,
                       instead: str) -> str | None:
    """The first `name` (pip, uv) on environ["PATH"] that is not in pipdoctor's own venv, or None when PATH has
    none at all. Only pipdoctor's own: InstallerNotFound, whose line ends with `instead` (the option that names
    one). `notice` hears, in one line, that pipdoctor's own was passed over because it came first on PATH."""
    path = environ.get("PATH", os.defpath)
    own = _own_bin_dir(environ)
    found = _first_on_path(name, path, skip=own)
    if own is not None and _first_on_path(name, path) != found:
        if found is None:
            raise InstallerNotFound(f"no {name} on PATH but pipdoctor's own, in {own}; {instead}")
        if notice is not None:
            notice(f"pipdoctor: running {found}, not pipdoctor's own {name} in {own} (it is earlier on PATH)")
    return found


def users_pip_on_path(environ: Mapping[str, str]) -> str | None:
    """The first `pip` on environ["PATH"] that is not pipdoctor's own: the one `pipdoctor install` runs and
    `check` models. A missing PATH searches the same default as execvp(3) and the shell."""
    return _first_on_path("pip", environ.get("PATH", os.defpath), skip=_own_bin_dir(environ))


def _own_bin_dir(environ: Mapping[str, str]) -> str | None:
    """The bin dir of the venv pipdoctor runs from (README: `~/.pipdoctor/bin` on PATH), or None: its pip
    would install into pipdoctor's own venv, and a uv there came with pipdoctor, not from the user. Not when
    pipdoctor runs from the system Python (its bin dir is everyone's) nor from the venv the user activated
    (VIRTUAL_ENV: that pip is the one they mean)."""
    if sys.prefix == sys.base_prefix:
        return None
    active = environ.get("VIRTUAL_ENV")
    if active and os.path.realpath(active) == os.path.realpath(sys.prefix):
        return None
    return os.path.join(sys.prefix, "bin")


def _first_on_path(name: str, path: str, skip: str | None = None) -> str | None:
    """shutil.which(name, path=path) on POSIX, without importing shutil (bz2, lzma, fnmatch: 4 ms), passing
    over the directory `skip` (the same directory by device and inode, however PATH spells it)."""
    skipped = _identity(skip) if skip else None
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate) and os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            if skipped is not None and _identity(directory or ".") == skipped:
                continue
            return candidate
    return None


def _identity(directory: str) -> tuple[int, int] | None:
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def run_installer(
    command: Sequence[str],
    args: Sequence[str],
    *,
    on_output: Callable[[bytes], None],
    on_started: Callable[[], None] | None = None,
    stdout_to_stderr: bool = False,
    env: Mapping[str, str] | None = None,
) -> InstallerRun:
    """Runs `command` (pip's or uv's, from pip_command or uv_command) with `args` as if the user had typed it,
    handing every chunk it writes to `on_output` as well. Nothing here depends on which installer it is.

    `on_started` is called once the installer is running and before its output is read: work done there
    overlaps its own start-up (pipdoctor loads its rules there), and output waits in the pipe or pty meanwhile.

    The pty is chosen by the fd the output goes to, not always fd 1: with `stdout_to_stderr` (--json, stdout
    carries only JSON) a terminal on fd 2 still gets pip's (or uv's) progress bars, and a log file on fd 2
    gets no escape codes even when fd 1 is a terminal.
    """
    argv = [*command, *args]
    sink = 2 if stdout_to_stderr else 1
    run = _run_in_pty if os.isatty(sink) else _run_with_pipes
    hooks = _Hooks(on_output, on_started)
    status = run(argv, sink, hooks, env)
    return InstallerRun(tuple(command), tuple(argv), from_wait_status(status), hooks.lost)


class _Hooks:
    """The caller's callbacks, passed down together, and what the copy loop found it could not pass on."""

    __slots__ = ("on_output", "on_started", "lost")

    def __init__(self, on_output: Callable[[bytes], None], on_started: Callable[[], None] | None):
        self.on_output = on_output
        self.on_started = on_started
        self.lost: str | None = None


def _run_with_pipes(argv: list[str], sink: int, hooks: _Hooks, env: Mapping[str, str] | None) -> int:
    """pip inherits our stdin, its stdout goes to `sink` and its stderr to fd 2."""
    with contextlib.ExitStack() as cleanup:
        # All four ends are >= 3 (cli.console holds fds 0-2 from the start: terminal.hold_standard_fds), so no
        # dup2 of _spawn's overwrites another end before it is copied.
        (out, out_w), (err, err_w) = os.pipe(), os.pipe()
        for fd in (out, err):
            cleanup.callback(os.close, fd)
        try:
            proc = cleanup.enter_context(_spawn(argv, env, {1: out_w, 2: err_w}))
        finally:
            os.close(out_w)  # pip has its own copies; ours would keep the pipes from ever reading EOF
            os.close(err_w)
        # Only now: SIG_IGN set before the spawn would be inherited, and pip would ignore Ctrl-C too.
        survived = dict.fromkeys(_PIPE_SURVIVED, signal.SIG_IGN)
        cleanup.enter_context(_handling_signals({**_relaying(proc, _PIPE_RELAYED, group=False), **survived}))
        return _supervise(proc, {out: sink, err: 2}, {}, hooks)


def _run_in_pty(argv: list[str], sink: int, hooks: _Hooks, env: Mapping[str, str] | None) -> int:
    """pip's stdout and stderr are one pty, copied to `sink`. A terminal stdin goes raw and its keystrokes
    are copied into the pty; any other stdin (a pipe, a file) is pip's own, untouched, as without us."""
    keyboard = os.isatty(0)
    with contextlib.ExitStack() as cleanup:
        master, slave = os.openpty()
        cleanup.callback(os.close, master)
        try:
            # Like script(1), pip's terminal gets the user's settings (`stty intr`, erase, ...).
            settings = termios.tcgetattr(0 if keyboard else sink)
            if not keyboard:
                # Our terminal stays cooked and turns \n into \r\n itself: pip's must not do it twice.
                settings[1] &= ~termios.OPOST
            termios.tcsetattr(slave, termios.TCSANOW, settings)
            if keyboard:
                cleanup.enter_context(_raw_mode(0))  # before pip starts, so no Ctrl-C can slip past it
            _copy_window_size(sink, master)
            # In a session of its own, pip opens the pty by name: the first terminal a session leader opens
            # becomes its controlling terminal, whose line discipline sends it SIGINT for a Ctrl-C byte and
            # SIGWINCH for a resize.
            fds = {0: 1} if keyboard else {}
            proc = cleanup.enter_context(_spawn(argv, env, {1: 1, 2: 1, **fds}, terminal=os.ttyname(slave)))
        finally:
            os.close(slave)  # the terminal stays set while pip has it open; ours would keep the master from EOF

        def resize(signum: int, frame: object) -> None:
            _copy_window_size(sink, master)  # the kernel then sends SIGWINCH to pip (tty_ioctl(4))

        handlers = {**_relaying(proc, _PTY_RELAYED, group=True), signal.SIGWINCH: resize}
        cleanup.enter_context(_handling_signals(handlers))
        keys = {0: _suspending_on_ctrl_z(proc, master, cooked=settings)} if keyboard else {}
        return _supervise(proc, {master: sink}, {0: master} if keyboard else {}, hooks, keys)


def _suspending_on_ctrl_z(proc: _Child, master: int, cooked: list) -> Callable[[bytes], bytes]:
    """The keystroke filter of a raw terminal: the suspend key (Ctrl-Z, `stty susp`) cannot reach pip as a
    signal, since pip's session is an orphaned process group whose SIGTSTP the kernel drops (POSIX
    2.4.3), so do what a shell would: stop pip, give the terminal back cooked, stop pipdoctor; on `fg`,
    take the terminal back raw and continue pip. Every other key goes to pip unchanged."""
    suspend = cooked[6][termios.VSUSP]

    def keys(data: bytes) -> bytes:
        if not suspend or suspend == b"\0" or suspend not in data:
            return data
        *before, after = data.split(suspend)
        for part in before:
            write_all(master, part)
            os.killpg(proc.pid, signal.SIGSTOP)
            # As a shell waits for its job to stop (without reaping it: WNOWAIT), so that pip prints
            # nothing more once the terminal is the shell's again.
            try:
                os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                pass
            raw = termios.tcgetattr(0)
            termios.tcsetattr(0, termios.TCSADRAIN, cooked)
            os.kill(os.getpid(), signal.SIGSTOP)  # returns on SIGCONT: the user typed `fg`
            termios.tcsetattr(0, termios.TCSADRAIN, raw)
            os.killpg(proc.pid, signal.SIGCONT)
        return after

    return keys


class _Child:
    """The running installer (pip, uv): its pid, and its status once reaped (negative for a signal, as subprocess says)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def __enter__(self) -> _Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wait()  # never leave pip unreaped, whatever happened while it ran


def _spawn(argv: list[str], env: Mapping[str, str] | None, fds: Mapping[int, int], terminal: str | None = None) -> _Child:
    """Starts pip with os.posix_spawnp (subprocess would cost every run ~10 ms of imports). `fds` maps each of
    pip's fds to the fd it is a copy of: ours, or with `terminal`, pip's fd 1, the terminal it opens first in
    a session of its own. pip gets SIGPIPE's default back (Python ignores it), as subprocess does."""
    actions: list = []
    if terminal is not None:
        actions.append((os.POSIX_SPAWN_OPEN, 1, terminal, os.O_RDWR, 0))
    actions += [(os.POSIX_SPAWN_DUP2, ours, theirs) for theirs, ours in fds.items() if terminal is None or theirs != 1]
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ if env is None else env, file_actions=actions,
                              setsid=terminal is not None, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as error:
        if error.errno not in (errno.ENOENT, errno.EACCES, errno.ENOEXEC):
            raise
        raise InstallerNotFound(f"cannot run {argv[0]}: {error.strerror}") from error
    return _Child(pid)


def _supervise(
    proc: _Child,
    outputs: dict[int, int],
    inputs: dict[int, int],
    hooks: _Hooks,
    filters: Mapping[int, Callable[[bytes], bytes]] | None = None,
) -> int:
    try:
        if hooks.on_started is not None:
            hooks.on_started()
        _copy_until_closed(outputs, inputs, hooks, filters or {})
    except BaseException:
        proc.kill()  # as subprocess.run does when communicate() fails: pip never runs on unwatched
        raise
    return proc.wait()


def _copy_until_closed(
    outputs: dict[int, int],
    inputs: dict[int, int],
    hooks: _Hooks,
    filters: Mapping[int, Callable[[bytes], bytes]],
) -> None:
    """Copies each of pip's outputs to its fd and to `hooks.on_output`, and each input (through its filter,
    if any) into pip, until pip has closed every output. One poll loop serves all directions, so none can
    stall another; nothing is kept. A destination that fails is given up and pip's output still drained and
    scanned, so pip never blocks and its status stands: silently when the reader left (EPIPE, `| head`) or
    the terminal hung up (EIO), else noted in `hooks.lost` (a closed or full stdout)."""
    routes = {**inputs, **outputs}
    open_outputs = set(outputs)
    gone: set[int] = set()  # destinations whose reader left (`| head`) or whose terminal hung up
    poller = select.poll()
    for fd in routes:
        poller.register(fd, select.POLLIN)
    ready = poller.poll
    if len(routes) == 1:  # a pty and no keyboard: read blocks as a plain loop's does, no poll(2) per chunk
        [only] = routes

        def ready() -> list:
            return [(only, select.POLLIN)]

    while open_outputs:
        for fd, _event in ready():
            data = _read(fd)
            if not data:
                poller.unregister(fd)
                open_outputs.discard(fd)
                continue
            destination = routes[fd]
            if fd in filters:
                data = filters[fd](data)
            if destination not in gone:
                try:
                    write_all(destination, data)
                except OSError as error:
                    gone.add(destination)  # keep draining: pip must not block, on_output still wants it
                    if fd in outputs and error.errno not in (errno.EPIPE, errno.EIO) and hooks.lost is None:
                        hooks.lost = f"{stream_name(destination)}: {error.strerror}"
            if fd in outputs:
                hooks.on_output(data)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _CHUNK)
    except OSError as error:
        # Linux reports the end of a pty (pip's side all closed, or our terminal hung up) as EIO.
        if error.errno == errno.EIO:
            return b""
        raise


@contextlib.contextmanager
def _raw_mode(fd: int) -> Iterator[None]:
    """Every keystroke, Ctrl-C included, reaches pip's pty as a byte; the pty echoes it and signals pip."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: keep what the user typed ahead (an answer to a prompt)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):  # the terminal hung up: there is nothing left to restore
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _copy_window_size(source: int, pty_master: int) -> None:
    with contextlib.suppress(OSError):  # a terminal that hung up has no size left to copy
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, bytes(8))
        fcntl.ioctl(pty_master, termios.TIOCSWINSZ, size)


@contextlib.contextmanager
def _handling_signals(handlers: Mapping[int, _SignalHandler | int]) -> Iterator[None]:
    """Installs `handlers` while pip runs, then restores the previous ones. A signal the user left ignored
    (nohup, a script's background job) stays ignored: pip inherited that, and so do we."""
    previous = {}
    for signum, handler in handlers.items():
        if signal.getsignal(signum) != signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back; the default is closest.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _relaying(proc: _Child, signums: Sequence[int], *, group: bool) -> dict[int, _SignalHandler]:
    """Handlers that pass each signal on to pip: to its process group when it has one of its own."""

    def relay(signum: int, frame: object) -> None:
        if proc.returncode is not None:  # reaped: its pid may already be someone else's
            return
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(proc.pid, signum)

    return dict.fromkeys(signums, relay)
