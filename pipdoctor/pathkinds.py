"""Pure: what a path in pip's output is (pip's cache, a temp dir, the install target, or something else).

The path decides the diagnosis, not pip's hint: pip says "Consider using the `--user` option or check the
permissions" for a cache path too, and following that hint is how root-owned caches are made.
"""

from __future__ import annotations

import enum
import re
from typing import Iterable, Optional


class PathKind(str, enum.Enum):
    CACHE = "cache"
    TEMP = "temp"
    TARGET = "target"
    OTHER = "other"


# pip's platform defaults (pip/_internal/utils/appdirs.py user_cache_dir) and its cache layout
# (pip/_internal/cache.py: wheels/ab/cd/ef/<rest of hash>, http/ and http-v2/ (23.3+), selfcheck/).
_CACHE = re.compile(
    r"/\.cache/pip(?:/|$)|/library/caches/pip(?:/|$)|/appdata/local/pip/cache(?:/|$)"
    r"|(?:^|/)pip/(?:wheels|http|http-v2|selfcheck)(?:/|$)|/wheels/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/"
)
# pip's own temp directories (pip/_internal/utils/temp_dir.py kinds and older "pip-xxxx-build" names).
_UNINSTALL_STASH = re.compile(r"(?:^|/)pip-uninstall-[^/]*/|(?:^|/)pip-[^/]*-uninstall/")
_PIP_TEMP = re.compile(
    r"(?:^|/)pip-(?:unpack|req-build|build|build-env|build-tracker|req-tracker|install|record|wheel|"
    r"ephem-wheel-cache|target|modern-metadata|metadata|download|standalone-pip|unpacked-wheel|"
    r"[a-z0-9_]{8}-build|[a-z0-9_]{8}-record)[-_/]|(?:^|/)pip-[a-z0-9_]{8}(?:/|$)"
)
_TARGET = re.compile(
    r"/(?:site|dist)-packages(?:/|$)|/lib/python\d[\d.]*/|\.(?:dist|egg)-info(?:/|$)|/scripts/[^/]+$"
    r"|/library/python/|/python\.framework/|/(?:usr|opt|usr/local|\.?venv|env|envs/[^/]+)/bin/"
    r"|/bin/[^/]+$|/include/python"
)
_TEMP = re.compile(r"^/tmp/|^/var/tmp/|/appdata/local/temp/|^[a-z]:/(?:windows/)?temp/")


def normalize(path: str) -> str:
    """One spelling for matching: forward slashes, lower case (Windows and macOS are case-insensitive)."""
    return path.replace("\\", "/").lower()


def path_kind(path: Optional[str], cache_roots: Iterable[str] = ()) -> PathKind:
    """Classify a path; `cache_roots` are cache dirs known from elsewhere (a warning, --cache-dir, live)."""
    if not path:
        return PathKind.OTHER
    plain = normalize(path)
    for root in cache_roots:
        root = normalize(root).rstrip("/")
        if root and (plain == root or plain.startswith(root + "/")):
            return PathKind.CACHE
    if _CACHE.search(plain):
        return PathKind.CACHE
    # A pip-uninstall stash holds files moved out of site-packages: failing there is the install target.
    if _UNINSTALL_STASH.search(plain):
        return PathKind.TARGET
    if _PIP_TEMP.search(plain):
        return PathKind.TEMP
    if _TARGET.search(plain):
        return PathKind.TARGET
    if _TEMP.search(plain):
        return PathKind.TEMP
    return PathKind.OTHER


_CACHE_ROOT = re.compile(
    r"^(.*?/(?:\.cache/pip|library/caches/pip|appdata/local/pip/cache))(?:/|$)"
    r"|^(.*?)/(?:wheels|http|http-v2|selfcheck)(?:/|$)"
)


def cache_root_of(path: str, cache_roots: Iterable[str] = ()) -> Optional[str]:
    """The cache dir a cache path lies in, in the path's own spelling (`.../.cache/pip` for `.../wheels/b1`)."""
    plain = normalize(path)
    for root in cache_roots:
        low = normalize(root).rstrip("/")
        if plain == low or plain.startswith(low + "/"):
            return path[: len(low)]
    match = _CACHE_ROOT.search(plain)
    if not match:
        return None
    end = match.end(1) if match.group(1) is not None else match.end(2)
    return path[:end] or None
