"""PD102 cache-disabled: pip found its cache dir not owned by (or not writable for) the current user and
ran without a cache.

pip checks the cache root, or its nearest existing ancestor, before using it
(pip/_internal/utils/filesystem.py check_path_owner): as root that dir must be owned by root, as anyone
else it must be writable. Every run is then slower and nothing is cached until the owner is fixed.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.pip.wordings import CACHE_DISABLED, CACHE_DISABLED_TRIGGER
from pipdoctor.rules._cachedirs import broken_dir, describe
from pipdoctor.rules._common import disabled_cache_dirs, evidence

CODE = "PD102"
NAME = "cache-disabled"
SEVERITY = Severity.WARNING
TRIGGERS = (CACHE_DISABLED_TRIGGER,)


def match(log, facts=None):
    hits = log.matching(CACHE_DISABLED)
    if not hits:
        return []
    dirs = disabled_cache_dirs(log)
    root = dirs[0]
    broken = broken_dir(facts, root)
    if broken is not None:
        message = "pip disabled its cache: " + describe(broken, facts.identity)
    else:
        message = f"pip disabled its cache: {root} (or its parent) is not owned by or writable for the user."
    return [Finding(
        CODE, NAME, SEVERITY,
        message=message,
        why=("pip refuses a cache dir that the running user does not own; as root it refuses one that root "
             "does not own, which is what `sudo pip` without -H meets in the invoking user's HOME."),
        paths=tuple(dict.fromkeys(([broken.path] if broken else []) + dirs)),
        evidence=evidence(line for line, _ in hits),
        facts={"broken": [broken] if broken else []},
    )]
