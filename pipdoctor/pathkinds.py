"""Pure: what a path in pip's output is (pip's cache, a temp dir, the install target, or something else).

The path decides the diagnosis, not pip's hint: pip says "Consider using the `--user` option or check the
permissions" for a cache path too, and following that hint is how root-owned caches are made.
"""

from __future__ import annotations

import enum
import functools
from typing import Iterable, Optional

from pipdoctor.lazyre import lazy_compile


class PathKind(str, enum.Enum):
    CACHE = "cache"
    TEMP = "temp"
    TARGET = "target"
    OTHER = "other"


# pip's platform defaults (pip/_internal/utils/appdirs.py user_cache_dir) and its cache layout, which gives
# away a --cache-dir anywhere, /tmp included: pip/_internal/cache.py _get_cache_path_parts puts a wheel in
# wheels/ab/cd/ef/<rest of the hash> (so wheels/ab is one of its buckets), cachecontrol's FileCache an HTTP
# response in http/a/b/c/d/e/<hash> (http-v2/ from 23.3), and nothing else makes such dirs.
_CACHE = lazy_compile(
    r"/\.cache/pip(?:/|$)|/library/caches/pip(?:/|$)|/appdata/local/pip/cache(?:/|$)"
    r"|(?:^|/)pip/(?:wheels|http|http-v2|selfcheck)(?:/|$)|/wheels/[0-9a-f]{2}(?:/|$)"
    r"|/http(?:-v2)?/[0-9a-f]/[0-9a-f](?:/|$)"
)
# pip's own temp directories (pip/_internal/utils/temp_dir.py kinds); pip 6-9's tempfile.mkdtemp('-build',
# 'pip-') names, whose random part is 6 characters on Python 2 and 8 on Python 3; pip 1.x-6's fixed
# <tmp>/pip_build_<user> (1.5.6 locations.py _get_build_prefix).
_UNINSTALL_STASH = lazy_compile(r"(?:^|/)pip-uninstall-[^/]*/|(?:^|/)pip-[^/]*-uninstall/")
_PIP_TEMP = lazy_compile(
    r"(?:^|/)pip-(?:unpack|req-build|build|build-env|build-tracker|req-tracker|install|record|wheel|"
    r"ephem-wheel-cache|target|modern-metadata|metadata|download|standalone-pip|unpacked-wheel|"
    r"[a-z0-9_]{6,8}-(?:build|record|unpack))[-_/]|(?:^|/)pip-[a-z0-9_]{8}(?:/|$)|(?:^|/)pip_build_[^/]+"
)
# Where pip installs: site-packages and the scheme dirs around it, a dist-info (an installed one: a source
# checkout's <name>.egg-info is setuptools' build output, not an install), and the user scheme's dirs
# (`~/.local/lib|bin|include`, sysconfig posix_user) that "Defaulting to user installation" writes.
_TARGET = lazy_compile(
    r"/(?:site|dist)-packages(?:/|$)|/lib/python\d[\d.]*/|\.dist-info(?:/|$)|/scripts/[^/]+$"
    r"|/library/python/|/python\.framework/|/(?:usr|opt|usr/local|\.?venv|env|envs/[^/]+)/bin/"
    r"|/bin/[^/]+$|/include/python|/\.local/(?:lib|bin|include)(?:/|$)"
)
_TEMP = lazy_compile(r"^/tmp/|^/var/tmp/|/appdata/local/temp/|^[a-z]:/(?:windows/)?temp/")


def normalize(path: str) -> str:
    """One spelling for matching: forward slashes, lower case (Windows and macOS are case-insensitive)."""
    return path.replace("\\", "/").lower()


def path_kind(path: Optional[str], cache_roots: Iterable[str] = ()) -> PathKind:
    """Classify a path; `cache_roots` are cache dirs known from elsewhere (a warning, --cache-dir, live)."""
    if not path:
        return PathKind.OTHER
    plain = normalize(path)
    roots, under = _plain_roots(tuple(cache_roots))
    if plain in roots or plain.startswith(under):
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


@functools.lru_cache(maxsize=16)
def _plain_roots(cache_roots: tuple) -> tuple[frozenset, tuple]:
    """The roots normalized, and the prefixes of what lies under them: path_kind is asked about every path of
    a log against the same roots (explain on a log of many users' runs: dozens of roots, thousands of paths)."""
    roots = [root for root in (normalize(root).rstrip("/") for root in cache_roots) if root]
    return frozenset(roots), tuple(root + "/" for root in roots)


_CACHE_ROOT = lazy_compile(
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
