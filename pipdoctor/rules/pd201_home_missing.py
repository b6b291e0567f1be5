"""PD201 home-missing: HOME is unset or names a directory that does not exist, so pip's default cache
(`~/.cache/pip`) cannot be created and pip runs without one.

Typical in chroots, `docker run --user UID` with a uid the image does not know, and service accounts whose
passwd home is `/nonexistent`. Creating HOME (or pointing pip at a writable `--cache-dir`) cures it.
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind
from pipdoctor.rules._common import (CACHE_DISABLED, CACHE_DISABLED_TRIGGER, disabled_cache_dirs, errors_on,
                                     evidence)

CODE = "PD201"
NAME = "home-missing"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, CACHE_DISABLED_TRIGGER, rb"could not determine the home directory")

# Homes that never exist: Debian's `nobody` and system users; and `~` left unexpanded (no HOME, no passwd
# entry): pip 6-19 print `~/.cache/pip`, pip 20+ make it absolute, `<cwd>/~/.cache/pip` (cli/base_command.py
# normalize_path).
_NO_HOME = re.compile(r"^(?:/nonexistent|/dev/null)(?:[/\\]|$)|(?:^|[/\\])~[/\\]")
# pip 26.3's platformdirs (_xdg.py) when it cannot expand `~` at all.
_NO_HOME_ERROR = re.compile(r"could not determine the home directory")


def _under(path: str, home: str) -> bool:
    return path == home or path.startswith(home.rstrip("/") + "/")


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.CACHE)
    paths = disabled_cache_dirs(log) + [r.path for r in reports if r.path]
    refused = log.matching(_NO_HOME_ERROR)
    if refused:
        return [Finding(
            CODE, NAME, SEVERITY,
            message="pip stopped: HOME is not set and this user has no home in the passwd database.",
            why="pip needs a home directory to find its cache and config; it cannot expand `~`.",
            evidence=evidence(line for line, _ in refused),
        )]
    if not paths:
        return []
    identity = getattr(facts, "identity", None)
    if identity is not None and not identity.home_exists:
        missing = [p for p in paths if identity.home is None or _under(p, identity.home)]
        home = identity.home
    else:
        missing = [p for p in paths if _NO_HOME.match(p)]
        home = missing[0].split("/.cache")[0] if missing else None
    if not missing:
        return []
    lines = [line for line, _ in log.matching(CACHE_DISABLED)] + [r.line for r in reports]
    what = "HOME is not set" if identity is not None and home is None else f"HOME ({home}) does not exist"
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"{what}, so pip cannot create its cache at {missing[0]}.",
        why="pip keeps its cache under HOME; with no HOME directory it has nowhere to write and runs uncached.",
        paths=tuple(dict.fromkeys(missing)),
        evidence=evidence(lines),
    )]
