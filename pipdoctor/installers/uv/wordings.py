"""Pure: uv's error chains (`error:` then `Caused by:`/`cause:` lines) -> the OS errors and cache roots they name.

uv prints an anyhow/miette chain: the context first, then one line per cause, innermost last. Read from the
recordings in tests/data/logs/uv-* (scripts/record-logs), uv 0.4.30 to 0.13.9:

    error: failed to open file `<cache>/sdists-v5/.git`            (0.4.30: the failing call is the context)
      Caused by: Permission denied (os error 13)
    error: Failed to initialize cache at `.cache/uv`                  (0.9.30: relative to the working dir)
      Caused by: failed to open file `<cache>/sdists-v9/.git`: Permission denied (os error 13)
    error: Could not acquire lock                                     (0.13.9: `cause:` in place of `Caused by:`)
      cause: Could not create temporary file
      cause: Read-only file system (os error 30) at path "<cache>/.tmpAbC123"

An OS error is `(os error N)` (Rust's io::Error Display); the path it is about is on its own line (in
backticks, or `at path "P"` from the tempfile crate's PathError) or else on the nearest line above it in the
chain. Parsed into the same OSErrorReport records pip's errors become, with tool "uv".
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from pipdoctor.lazyre import lazy_compile
from pipdoctor.logtext import Line
from pipdoctor.oserrors import OSErrorReport, errno_kind

TOOL = "uv"

# Bytes triggers for the scanner: a chain's cause lines, any OS error uv prints, and the `error:` context
# lines that name a path (the path a cause line without one is about). Rust build backends under pip print
# chains like these too: they become uv reports only in the shape below (at column 0, context then causes).
TRIGGERS = (
    rb"\(os error \d+\)",
    rb"^ {0,2}(?:Caused by|cause): ",
    # (?:failed|Failed), not [Ff] nor `^error: .*`: the scanner's gate then starts at f or F, which pip's own
    # triggers use already, not at the o of "error" (a frequent byte: classifier._gate).
    rb"^error: (?:failed|Failed) to .*`",
    rb"^error: Could not acquire lock",
)
# The environment `uv pip` installs into: a capture (classifier.LogScanner), not a trigger. uv prints it on
# every run, so as a trigger it would make every healthy run a log to diagnose (scripts/bench uv-overhead).
# No ^: a capture that starts with a plain letter is searched by the C loop of one byte (classifier's
# _one_byte_prefix); `environments` then keeps only the lines it begins.
ENVIRONMENT_CAPTURE = rb"Using Python \S+ environment at:? ?([^\r\n]+)"

_CONTEXT = lazy_compile(r"^error: ")
# Two spaces at most: pip >= 22 indents a build's own output by six ("[N lines of output]"), so a Rust
# backend's `Caused by:` under pip is not taken for uv's.
_CAUSE = lazy_compile(r"^ {0,2}(?:Caused by|cause): ")
_OS_ERROR = lazy_compile(r"\(os error (\d+)\)")
# The tempfile crate's PathError: `<io error> at path "<path>"` (Debug-quoted: \" and \\ escaped).
_AT_PATH = lazy_compile(r'\(os error \d+\) at path "((?:[^"\\]|\\.)*)"')
_BACKTICKED = lazy_compile(r"`([^`]+)`")
# uv-cache's Cache::init, wrapped by the CLI from 0.9 (0.4.30 prints the failing call alone).
_CACHE_INIT = lazy_compile(r"Failed to initialize cache at `([^`]+)`")
# Where a uv cache path's root ends: the default `~/.cache/uv` (etcetera's XDG base, uv-dirs), or the dir
# holding one of uv's versioned buckets (uv-cache/src/lib.rs CacheBucket: sdists-v11, wheels-v8, archive-v0,
# ...; built-wheels-vN before sdists). Only these names: `project-v2/.venv` is not a cache.
_DEFAULT_ROOT = lazy_compile(r"^(.*?/\.cache/uv)(?:/|$)|^(.*?)/(?:sdists|wheels|archive|interpreter|builds|simple|git"
                           r"|flat-index|environments|python|binaries|built-wheels)-v\d+(?:/|$)")
# The environment `uv pip` installs into (uv-python: "Using Python 3.11.2 environment at: <root>"; 0.4 has
# no colon): its install target, which a root run leaves root-owned files in (its `.lock` first).
_ENVIRONMENT = lazy_compile(r"^Using Python \S+ environment at:? (.+)$")
# A name the tempfile crate makes (".tmp" and six alphanumerics): refused, it never existed, so the error
# is about the dir it was to be made in.
_TEMPFILE_NAME = lazy_compile(r"/\.tmp[A-Za-z0-9]{6}$")


def chains(lines: Sequence[Line]) -> list[tuple[Line, ...]]:
    """uv's error chains among the kept lines: an `error:` line (or a first cause line whose context was not
    kept) and the cause lines right under it; a lone `error:` line only when it names an OS error itself."""
    found: list[list[Line]] = []
    for line in lines:
        cause = _CAUSE.match(line.text)
        if cause and found and found[-1][-1].number == line.number - 1:
            found[-1].append(line)
        elif cause or _CONTEXT.match(line.text):
            found.append([line])
    return [tuple(chain) for chain in found
            if len(chain) > 1 or _OS_ERROR.search(chain[0].text)]


def os_errors(chain: Sequence[Line]) -> list[OSErrorReport]:
    """The OS errors of one chain, each with the path it is about (see the module docstring)."""
    reports = []
    for index, line in enumerate(chain):
        match = _OS_ERROR.search(line.text)
        kind = errno_kind(int(match.group(1))) if match else None
        if kind is None:
            continue
        path = _path_on(line.text) or next(
            (p for above in reversed(chain[:index]) for p in [_path_on(above.text)] if p), None)
        if path and _TEMPFILE_NAME.search(path):
            path = path[: path.rindex("/")]
        reports.append(OSErrorReport(line, kind, int(match.group(1)), path, tool=TOOL))
    return reports


def _path_on(text: str) -> Optional[str]:
    at = _AT_PATH.search(text)
    if at:
        return at.group(1).replace('\\"', '"').replace("\\\\", "\\")
    named = _BACKTICKED.findall(text)
    return named[-1] if named else None


def cache_roots(chain_list: Iterable[Sequence[Line]], reports: Iterable[OSErrorReport]) -> list[str]:
    """uv's cache roots a log names: each `Failed to initialize cache at` (made absolute from a path of its
    chain when uv printed it relative to its working dir), then the root of each path the reports name that
    lies in a uv cache by its shape. Shortest first, as pip's disabled_cache_dirs."""
    roots = []
    for chain in chain_list:
        named = [p for line in chain for p in _BACKTICKED.findall(line.text) + _AT_PATH.findall(line.text)]
        for line in chain:
            init = _CACHE_INIT.search(line.text)
            if init:
                roots.append(_absolute(init.group(1), named))
    for report in reports:
        root = root_of(report.path) if report.path else None
        if root:
            roots.append(root)
    return sorted(dict.fromkeys(roots), key=len)


def environments(lines: Iterable[Line]) -> list[str]:
    """The environments `uv pip` said it installs into."""
    return list(dict.fromkeys(m.group(1) for line in lines for m in [_ENVIRONMENT.match(line.text)] if m))


def root_of(path: str) -> Optional[str]:
    """The uv cache root a path lies in by its shape alone, or None."""
    match = _DEFAULT_ROOT.search(path)
    if not match:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2) or None


def _absolute(root: str, named: Iterable[str]) -> str:
    """A relative cache root as the absolute path a sibling line spells it (`.cache/uv` -> `/home/u/.cache/uv`);
    uv prints the cache relative to its working dir when it lies below it (uv-fs Simplified::user_display)."""
    if root.startswith("/"):
        return root
    for path in named:
        at = (path + "/").find("/" + root.rstrip("/") + "/")
        if path.startswith("/") and at >= 0:
            return path[: at + 1 + len(root.rstrip("/"))]
    return root
