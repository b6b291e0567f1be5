"""PD108 cached-local-wheel (info): pip installed a wheel it built earlier from an sdist and kept in its cache.

That is pip working as designed, but a wheel built on this machine keeps the compiler flags, library
versions and environment of the day it was built. When a package misbehaves only here, or was built
with other flags, remove that one wheel (`pip cache remove NAME`) so pip builds it again.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.lazyre import lazy_compile
from pipdoctor.rules._common import evidence

CODE = "PD108"
NAME = "cached-local-wheel"
SEVERITY = Severity.INFO
TRIGGERS = (rb"Using cached \S+\.whl\s*$", rb"Processing \S*wheels/\S+\.whl")

# pip 20.3+: "Using cached NAME-VER-TAGS.whl" with no size for a wheel from the wheel cache (a download
# from the HTTP cache says "Using cached X.whl (62 kB)"); older pips: "Processing <cache>/wheels/.../X.whl".
_USING_CACHED = lazy_compile(r"Using cached (([A-Za-z0-9_.]+)-[^-\s]+-[^\s]*\.whl)\s*$")
_PROCESSING = lazy_compile(r"Processing (\S*wheels/\S*?(([A-Za-z0-9_.]+)-[^-/\s]+-[^/\s]*\.whl))")


def match(log, facts=None):
    hits = [(line, m.group(2)) for line, m in log.matching(_USING_CACHED)]
    hits += [(line, m.group(3)) for line, m in log.matching(_PROCESSING)]
    if not hits:
        return []
    names = list(dict.fromkeys(name for _, name in hits))
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"pip reused a wheel it built earlier on this machine for: {', '.join(names)}.",
        why="A locally built wheel keeps the flags and libraries of its build; it is reused until removed.",
        evidence=evidence(line for line, _ in hits),
        facts={"packages": names},
    )]
