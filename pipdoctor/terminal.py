"""What reaches the user's terminal: the standard fds held from the start, control characters escaped, and the
one function that writes output."""

from __future__ import annotations

import os

from pipdoctor.errors import OutputError

# Loaded by `pipdoctor --version` and `--help` too (scripts/bench: within 40 ms): builtin modules only.

_STREAM_NAMES = {1: "standard output", 2: "standard error"}


def stream_name(fd: int) -> str:
    return _STREAM_NAMES.get(fd, f"file descriptor {fd}")


def hold_standard_fds() -> None:
    """Give each of fds 0, 1 and 2 that is closed (`pipdoctor ... >&-`) a placeholder: /dev/null opened the
    way that fails, read-only for an output and write-only for stdin. A pipe made later can then never land
    on a standard fd (pip's output piped into what we take for our stderr), and using the fd still fails
    with EBADF as the closed fd did, so a closed stdout is reported, not silently swallowed. subprocess meets
    the same hazard in its child (_posixsubprocess.c child_exec, bpo-12607: pipe ends that landed on 0, 1 or 2
    are dup()ed away before the dup2 calls); runner._spawn's dup2 actions need the ends off 0-2 to begin with."""
    for fd, flags in ((0, os.O_WRONLY), (1, os.O_RDONLY), (2, os.O_RDONLY)):
        try:
            os.fstat(fd)
        except OSError:
            # open(2) returns the lowest free fd: this one, since every fd below it is open by now. Inherited,
            # so pip finds its standard fds as the user left them: there, and failing if used.
            os.set_inheritable(os.open(os.devnull, flags), True)


def terminal_safe(text: str) -> str:
    """`text` with every character that is not printable shown as a backslash escape, the way Python's repr
    shows it (\\n, \\x1b, \\u202e), and a byte that is not UTF-8 (os.fsdecode keeps it as a surrogate, PEP 383)
    as \\xff, the way `ls -b` does: so a file name or a log line cannot forge a report line, move the cursor or
    recolor the screen. Printable text is returned unchanged, so an already shell-quoted command ($'a\\nb') is
    not escaped twice; a literal backslash stays as it is (JSON keeps every name exact)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return repr(char)[1:-1]


class TerminalText(str):
    """Rendered text whose every control character is pipdoctor's own (line breaks, colors), made by report's
    renderers or from pipdoctor's own constant text: write() sends it as it is. A str added to it is a
    message, escaped first (as_terminal_text)."""

    def __add__(self, other: str) -> TerminalText:
        return TerminalText(str.__add__(self, as_terminal_text(other)))

    def __radd__(self, other: str) -> TerminalText:
        return TerminalText(str.__add__(as_terminal_text(other), self))


def as_terminal_text(text: str) -> TerminalText:
    """TerminalText as it is; any other str is a message (`pipdoctor fix: NOTE`): its leading and trailing line
    breaks stay and everything between is terminal_safe, a newline inside a name included, so a message
    stays the one line it was meant to be however it was built."""
    if isinstance(text, TerminalText):
        return text
    body = text.strip("\n")
    if not body:
        return TerminalText(text)
    start = text.index(body)
    return TerminalText(text[:start] + terminal_safe(body) + text[start + len(body):])


def write(fd: int, text: str) -> None:
    """Write straight to a file descriptor, as pip's bytes are: nothing buffers between pip and the report. A
    str that is not TerminalText is escaped first (as_terminal_text), whoever made it.

    A reader that stopped reading (EPIPE: `pipdoctor explain LOG | head`) is not an error: the rest is dropped
    and the command keeps its exit status. Any other failure (stdout closed or full) raises OutputError."""
    try:
        write_all(fd, as_terminal_text(text).encode("utf-8", "replace"))
    except BrokenPipeError:
        return
    except OSError as error:
        raise OutputError(f"cannot write to {stream_name(fd)}: {error.strerror}") from None


def tell(text: str) -> None:
    """Write to stderr; when stderr itself is closed or full there is no one left to tell."""
    try:
        write(2, text)
    except OutputError:
        pass


def write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked, and a terminal another program left O_NONBLOCK says EAGAIN."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            import select  # only for a stdout another program left O_NONBLOCK

            select.select([], [fd], [])


def read_line(fd: int, limit: int = 4096) -> str:
    """One answer typed at a prompt, read from the fd itself (sys.stdin is None when fd 0 was closed at start):
    at most `limit` bytes; EOF, a closed or failing fd read as an empty answer."""
    data = b""
    while len(data) < limit and not data.endswith(b"\n"):
        try:
            chunk = os.read(fd, 1)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")
