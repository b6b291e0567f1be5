"""PD101 cache-permission-denied: pip was refused a write inside its cache (Errno 13/1, WinError 5).

The named path usually does not exist: the broken directory is its nearest existing ancestor, most often
`wheels/` or a `wheels/xx/yy` bucket left root-owned by a `sudo pip` run without `-H`. pip's own hint
("Consider using the `--user` option") is wrong here: the cure is the cache, never sudo or --user.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.pip.wordings import CACHE_DISABLED_TRIGGER
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind
from pipdoctor.rules._cachedirs import broken_dir, describe
from pipdoctor.rules._common import errors_on, evidence, unique_paths

CODE = "PD101"
NAME = "cache-permission-denied"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, CACHE_DISABLED_TRIGGER)


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.CACHE)
    if not reports:
        return []
    paths = unique_paths(reports)
    broken = [b for b in (broken_dir(facts, p) for p in paths) if b is not None]
    broken = list({b.path: b for b in broken}.values())
    if broken:
        message = "pip cannot write to its cache: " + describe(broken[0], facts.identity)
    else:
        message = f"pip was denied a write in its cache: {paths[0] if paths else 'a cache entry'}."
    return [Finding(
        CODE, NAME, SEVERITY,
        message=message,
        why=("A directory inside pip's cache belongs to another user, usually root after `sudo pip` ran "
             "without -H; pip can read the cache but cannot add the wheel it just built."),
        paths=tuple(dict.fromkeys([b.path for b in broken] + list(paths))),
        evidence=evidence(r.line for r in reports),
        facts={"broken": broken},
    )]
