"""PD101 cache-permission-denied: pip was refused a write inside its cache (Errno 13/1, WinError 5).

The named path usually does not exist: the broken directory is its nearest existing ancestor, most often
`wheels/` or a `wheels/xx/yy` bucket left root-owned by a `sudo pip` run without `-H`. pip's own hint
("Consider using the `--user` option") is wrong here: the cure is the cache, never sudo or --user.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.pip.wordings import CACHE_DISABLED_TRIGGER
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind
from pipdoctor.rules._cachedirs import broken_dir, describe
from pipdoctor.rules._common import errors_on, evidence, tool_of, unique_paths

CODE = "PD101"
NAME = "cache-permission-denied"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, CACHE_DISABLED_TRIGGER, *UV_TRIGGERS)


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.CACHE)
    if not reports:
        return []
    paths = unique_paths(reports)
    tool = tool_of(reports)
    broken = [b for b in (broken_dir(facts, p) for p in paths) if b is not None]
    broken = list({b.path: b for b in broken}.values())
    if broken:
        message = f"{tool} cannot write to its cache: " + describe(broken[0], facts.identity, tool)
    else:
        message = f"{tool} cannot write to its cache: denied {paths[0] if paths else 'a cache entry'}."
    return [Finding(
        CODE, NAME, SEVERITY,
        message=message,
        why=_WHY[tool],
        paths=tuple(dict.fromkeys([b.path for b in broken] + list(paths))),
        evidence=evidence(r.line for r in reports),
        facts={"broken": broken},
        tool=tool,
    )]


_WHY = {
    "pip": ("A directory inside pip's cache belongs to another user, usually root after `sudo pip` ran "
            "without -H; pip can read the cache but cannot add the wheel it just built."),
    # uv has no rule for root and no fallback: a `sudo uv` run writes root-owned buckets into the user's cache,
    # and uv stops at the first one it must write (its cache init writes <cache>/sdists-vN/.git).
    "uv": ("A directory inside uv's cache belongs to another user, usually root after `sudo uv` ran with the "
           "user's HOME; uv does not run without its cache: it stops."),
}
