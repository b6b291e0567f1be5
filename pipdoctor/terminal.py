"""What reaches the user's terminal: control characters escaped, and the one function that writes output."""

from __future__ import annotations

import os

from pipdoctor.errors import OutputError

# Loaded by `pipdoctor --version` and `--help` too (scripts/bench: within 40 ms): os and errors only.

_STREAM_NAMES = {1: "standard output", 2: "standard error"}


def stream_name(fd: int) -> str:
    return _STREAM_NAMES.get(fd, f"file descriptor {fd}")


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


def safe_lines(text: str) -> str:
    """Each line of `text` made terminal_safe; the line breaks stay. TerminalText is returned as it is."""
    if isinstance(text, TerminalText):
        return text
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


class TerminalText(str):
    """Rendered text whose every control character is pipdoctor's own (line breaks, colors): write() sends it
    as it is, and escapes any other str line by line. A str added to it is escaped first."""

    def __add__(self, other: str) -> TerminalText:
        return TerminalText(str.__add__(self, safe_lines(other)))

    def __radd__(self, other: str) -> TerminalText:
        return TerminalText(str.__add__(safe_lines(other), self))


def write(fd: int, text: str) -> None:
    """Write straight to a file descriptor, as pip's bytes are: nothing buffers between pip and the report. A
    str that is not TerminalText is escaped line by line first (safe_lines), whoever made it.

    A reader that stopped reading (EPIPE: `pipdoctor explain LOG | head`) is not an error: the rest is dropped
    and the command keeps its exit status. Any other failure (stdout closed or full) raises OutputError."""
    data = safe_lines(text).encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(fd, data):]
    except BrokenPipeError:
        return
    except OSError as error:
        raise OutputError(f"cannot write to {stream_name(fd)}: {error.strerror}") from None
