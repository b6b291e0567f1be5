"""Pure helpers the rules share: OS errors in the kept lines, the cache roots a log names, evidence."""

from __future__ import annotations

import functools
from typing import Iterable, Optional

from pipdoctor.findings import Evidence
from pipdoctor.installers.pip.wordings import CACHE_DISABLED
from pipdoctor.logtext import Line, Log
from pipdoctor.oserrors import ErrorKind, OSErrorReport, os_errors_in
from pipdoctor.pathkinds import PathKind, path_kind

# Evidence quotes at most this many lines per finding.
MAX_EVIDENCE = 6


def os_errors(log: Log, *kinds: ErrorKind) -> list[OSErrorReport]:
    return [r for r in _os_errors_of(log) if not kinds or r.kind in kinds]


@functools.lru_cache(maxsize=1)
def _os_errors_of(log: Log) -> tuple[OSErrorReport, ...]:
    """Eight rules ask for the OS errors of the same log: parse its kept lines once, not once per rule
    (a third of `explain`'s time on a 100 MB log, scripts/bench explain)."""
    return tuple(report for line in log.lines for report in os_errors_in(line))


def disabled_cache_dirs(log: Log) -> list[str]:
    """The dirs named by pip's cache-disabled warnings, shortest (the cache root) first."""
    dirs = {match.group(1).replace("\\\\", "\\") for _, match in log.matching(CACHE_DISABLED)}
    return sorted(dirs, key=len)


def known_cache_roots(log: Log, facts) -> list[str]:
    """Cache dirs known for this run: those pip's warnings name, and the one resolved on this machine."""
    roots = disabled_cache_dirs(log)
    live = getattr(facts, "cache_dir", None)
    if live:
        roots.append(live)
    return roots


def errors_on(log: Log, facts, kinds: Iterable[ErrorKind], where: PathKind) -> list[OSErrorReport]:
    roots = known_cache_roots(log, facts)
    return [r for r in os_errors(log, *kinds) if path_kind(r.path, roots) is where]


def evidence(lines: Iterable[Line]) -> tuple[Evidence, ...]:
    unique = {line.number: line for line in lines}
    return tuple(Evidence(line.text.strip(), line.number) for _, line in sorted(unique.items())[:MAX_EVIDENCE])


def unique_paths(reports: Iterable[OSErrorReport]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.path for r in reports if r.path))


def first_path(reports: Iterable[OSErrorReport]) -> Optional[str]:
    return next((r.path for r in reports if r.path), None)


def cache_paths_named(log: Log) -> dict:
    """Each cache path the log names, mapped to its cache root: what the live check must look at."""
    from pipdoctor.pathkinds import cache_root_of

    roots = disabled_cache_dirs(log)
    named = {}
    if roots:
        named[roots[0]] = roots[0]
    for report in os_errors(log):
        if report.path and path_kind(report.path, roots) is PathKind.CACHE:
            named[report.path] = cache_root_of(report.path, roots)
    return named
