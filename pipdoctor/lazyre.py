"""Regexes compiled on their first use. The rules' patterns (and the wordings and path kinds they read) are needed
only once a line was kept, which a healthy run never has: compiling them all at import cost every short run
(`pipdoctor uv ...`, whose uv takes a few ms) more than its whole scan (scripts/bench uv-overhead)."""

from __future__ import annotations

import re


class LazyPattern:
    """Stands for re.compile(pattern, flags): every attribute (search, match, finditer, pattern, ...) is the
    compiled pattern's, compiled when one is first asked for."""

    __slots__ = ("_source", "_flags", "_compiled")

    def __init__(self, pattern, flags: int = 0):
        self._source, self._flags, self._compiled = pattern, flags, None

    def __getattr__(self, name: str):
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source, self._flags)
        return getattr(compiled, name)


def lazy_compile(pattern, flags: int = 0) -> LazyPattern:
    return LazyPattern(pattern, flags)
