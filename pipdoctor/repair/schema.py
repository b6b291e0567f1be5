"""The journal's one record format: the builders apply writes with and the validator undo reads with (pure)."""

from __future__ import annotations

import json
import re
import stat
from typing import Optional, Union

from pipdoctor.records import record
from pipdoctor.repair.fs import plain_absolute

VERSION = 2
# The longest line the writer makes is WRITE_LINE (it splits a chunk to stay below it); the reader refuses
# lines past MAX_LINE without holding them, so a forged or damaged journal costs a few MB of memory at most.
WRITE_LINE = 1 << 20
MAX_LINE = 4 << 20
# A chown record's fields besides its entries take fewer characters than this (numbers of at most 20 digits).
_CHOWN_FIELDS = 256
# The deepest record is a chown chunk: {"entries": [[name, ...], ...]}. Anything deeper is refused before
# json.loads sees it (its C scanner recurses per level: a line of 100,000 '[' is a RecursionError).
MAX_DEPTH = 3
# uid_t and gid_t are 32-bit; (uid_t)-1 means "leave unchanged" to chown(2), so 2^32-2 is the largest owner.
MAX_ID = 2 ** 32 - 2
_MAX_U64 = 2 ** 64 - 1
_MAX_NAME = 255  # NAME_MAX, limits.h
_MAX_PATH = 4096  # PATH_MAX, limits.h: the cache root is a path the plan was given


class BadRecord(ValueError):
    """A line that is no valid record of this schema; the message says what is wrong with it."""


@record
class Header:
    cache_root: str
    dev: int
    ino: int
    uid: int  # the cache owner: the only owner a chown of this fix can have set
    gid: int
    user: Optional[str]
    started_ns: int
    # Whose cache it is: the fix re-checks that the root still looks like that installer's cache before it
    # undoes anything. Journals written before uv came have none: they are pip's.
    tool: str = "pip"


# The installers a journal may name (installers/: PIP, UV).
TOOLS = ("pip", "uv")


@record
class Entry:
    rel: str  # relative to the cache root; '' is the root itself
    ino: int
    uid: int  # the owner before the fix
    gid: int
    mode: int


@record
class Chown:
    n: int
    dev: int
    started_ns: int  # written and synced before the first change: nothing born later was changed by it
    entries: tuple


@record
class Rename:
    n: int
    parent: str
    old: str
    new: str
    dev: int
    ino: int  # the entry is found again by device and inode at its new name
    mode: int


@record
class Done:
    n: int
    at_ns: int  # the chunk's changes were made by then


@record
class End:
    pass


@record
class Undone:
    at: str


Record = Union[Chown, Rename, Done, End, Undone]


# --- writing ----------------------------------------------------------------------------------------------


def dumps(obj: dict) -> str:
    # ensure_ascii: a name that is not UTF-8 (surrogate-escaped) is stored as \udcXX and read back exactly.
    return json.dumps(obj, separators=(",", ":"))


def header_line(header: Header, extra: dict) -> str:
    return dumps({"t": "header", "version": VERSION, **extra, **header._asdict()})


def entries_json(entries: list) -> list:
    """A chunk's entries ([rel, ino, old uid, old gid, old mode]) as JSON arrays, halved until each fits a
    line below WRITE_LINE with its record's other fields. One json.dumps per chunk (C): the journal must not
    be the cost (and a worker encodes its own chunks: parallel.py)."""
    text = json.dumps(entries, separators=(",", ":"))
    if len(text) <= WRITE_LINE - _CHOWN_FIELDS or len(entries) == 1:
        return [text]
    half = len(entries) // 2
    return entries_json(entries[:half]) + entries_json(entries[half:])


def chown_lines(first_n: int, dev: int, new_uid: int, new_gid: int, started_ns: int, parts: list) -> list:
    """The chunk records (numbered from first_n) for entries encoded by entries_json: each exactly the line
    dumps() makes of the whole record, its entries last."""
    return [dumps({"t": "planned", "n": first_n + index, "op": "chown", "dev": dev, "new_uid": new_uid,
                   "new_gid": new_gid, "started_ns": started_ns})[:-1] + ',"entries":' + part + "}"
            for index, part in enumerate(parts)]


def rename_line(rename: Rename) -> str:
    return dumps({"t": "planned", "op": "rename", **rename._asdict()})


def done_line(n: int, at_ns: int) -> str:
    return dumps({"t": "done", "n": n, "at_ns": at_ns})


def end_line(at: str) -> str:
    return dumps({"t": "end", "at": at})


def undone_line(at: str, restored: int, skipped: int) -> str:
    return dumps({"t": "undone", "at": at, "restored": restored, "skipped": skipped})


# --- reading ----------------------------------------------------------------------------------------------

# A JSON string (escapes included), then the innermost [...] or {...}: stripping the innermost pair MAX_DEPTH
# times leaves no bracket in a line nested no deeper; C-speed regexes, no recursion.
# The closing quote is optional: an unterminated string (a line cut by kill -9 or a full disk) is taken in one
# linear pass, not retried from every escaped quote in it (quadratic: a 4 MB line of \" took hours).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')
_INNERMOST = re.compile(rb"[\[{][^\[\]{}]*[\]}]")


def decode_line(line: Optional[bytes]) -> dict:
    """A JSON object from one line (None: a line longer than MAX_LINE, already dropped), bounded in depth."""
    if line is None:
        raise BadRecord(f"longer than {MAX_LINE} bytes")
    rest = _STRING.sub(b'""', line)
    for _ in range(MAX_DEPTH):
        rest, found = _INNERMOST.subn(b"0", rest)
        if not found:
            break
    if b"[" in rest or b"{" in rest:
        raise BadRecord(f"nested deeper than {MAX_DEPTH} levels or unbalanced")
    try:
        obj = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRecord(f"not JSON ({str(error)[:60]})") from None
    if not isinstance(obj, dict):
        raise BadRecord("not a JSON object")
    return obj


def _int(obj: dict, key: str, low: int, high: int):
    value = obj.get(key)
    if type(value) is not int or not low <= value <= high:  # noqa: E721 (a bool is no int here)
        raise BadRecord(f"{key} is not an integer in {low}..{high}")
    return value


def _id(obj: dict, key: str) -> int:
    return _int(obj, key, 0, MAX_ID)


def _u64(obj: dict, key: str) -> int:
    return _int(obj, key, 0, _MAX_U64)


def plain_name(name) -> bool:
    """One directory entry's name: not empty, '.', '..', no '/' or NUL, encodable back to the bytes it was."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        return False
    try:
        return len(name.encode("utf-8", "surrogateescape")) <= _MAX_NAME
    except UnicodeEncodeError:
        return False


def plain_rel(rel, allow_root: bool = False) -> bool:
    """A path below the cache root made of plain names ('' is the root itself when allow_root). No length
    limit beyond the line's: the walk goes by fd, and reaches entries deeper than PATH_MAX."""
    if rel == "" and allow_root:
        return True
    return isinstance(rel, str) and all(plain_name(p) for p in rel.split("/"))


def parse_header(obj: dict) -> Header:
    if obj.get("t") != "header" or obj.get("version") != VERSION:
        raise BadRecord(f"not a pipdoctor journal header (version {VERSION})")
    root = obj.get("cache_root")
    if not isinstance(root, str) or len(root) > _MAX_PATH or not plain_absolute(root) or root == "/":
        raise BadRecord("cache_root is not an absolute, normalized path")
    user = obj.get("user")
    if user is not None and not (isinstance(user, str) and len(user) <= 256):
        raise BadRecord("user is not a name")
    tool = obj.get("tool", "pip")
    if tool not in TOOLS:
        raise BadRecord(f"tool is not one of {', '.join(TOOLS)}")
    return Header(root, _u64(obj, "dev"), _u64(obj, "ino"), _id(obj, "uid"), _id(obj, "gid"), user,
                  _int(obj, "started_ns", 0, 2 ** 63 - 1), tool)


def _entry(item) -> Entry:
    if not (isinstance(item, list) and len(item) == 5):
        raise BadRecord("an entry is not [name, inode, uid, gid, mode]")
    rel, ino, uid, gid, mode = item
    if not plain_rel(rel, allow_root=True):
        raise BadRecord(f"entry {str(rel)[:80]!r} is not a plain path below the cache")
    fields = {"ino": ino, "uid": uid, "gid": gid, "mode": mode}
    _u64(fields, "ino"), _id(fields, "uid"), _id(fields, "gid"), _int(fields, "mode", 0, 0o177777)
    if stat.S_IFMT(mode) not in (stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK):
        raise BadRecord(f"entry {rel!r} is not a directory, file or symlink")
    return Entry(rel, ino, uid, gid, mode)


def parse_record(obj: dict, header: Header) -> Record:
    """A validated record. A chown can only have given entries to the header's cache owner: any other new
    owner is not one this fix made, and undo must never act on it."""
    kind = obj.get("t")
    if kind == "planned":
        op, n = obj.get("op"), _int(obj, "n", 1, _MAX_U64)
        if op == "chown":
            started = _int(obj, "started_ns", 0, 2 ** 63 - 1)
            if (_id(obj, "new_uid"), _id(obj, "new_gid")) != (header.uid, header.gid):
                raise BadRecord(f"new owner {obj['new_uid']}:{obj['new_gid']} is not the cache owner "
                                f"{header.uid}:{header.gid} this fix gave entries to")
            entries = obj.get("entries")
            if not isinstance(entries, list):
                raise BadRecord("entries is not a list")
            return Chown(n, _u64(obj, "dev"), started, tuple(_entry(item) for item in entries))
        if op == "rename":
            parent, old, new = obj.get("parent"), obj.get("old"), obj.get("new")
            if not (plain_rel(parent, allow_root=True) and plain_name(old) and plain_name(new)):
                raise BadRecord("a rename with a name that is not plain")
            _int(obj, "mode", 0, 0o177777)
            return Rename(n, parent, old, new, _u64(obj, "dev"), _u64(obj, "ino"), obj["mode"])
        raise BadRecord(f"unknown operation {str(op)[:40]!r}")
    if kind == "done":
        return Done(_int(obj, "n", 1, _MAX_U64), _int(obj, "at_ns", 0, 2 ** 63 - 1))
    if kind == "end":
        return End()
    if kind == "undone":
        at = obj.get("at")
        return Undone(at if isinstance(at, str) and len(at) <= 64 else "?")
    raise BadRecord(f"unknown record type {str(kind)[:40]!r}")
