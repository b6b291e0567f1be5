"""Pure helpers the rules share: OS errors in the kept lines, the cache roots a log names, evidence."""

from __future__ import annotations

import functools
from typing import Callable, Iterable, Optional

from pipdoctor.findings import Evidence
from pipdoctor.installers.pip.wordings import CACHE_DISABLED
from pipdoctor.installers.uv import wordings as uv_wordings
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
    (a third of `explain`'s time on a 100 MB log, scripts/bench explain). The lines of uv's error chains are
    uv's (tool "uv"); every other line is read as pip's, as before uv came."""
    chain_lines = {line.number for chain in _uv_chains(log) for line in chain}
    pip = [report for line in log.lines if line.number not in chain_lines for report in os_errors_in(line)]
    uv = [report for chain in _uv_chains(log) for report in uv_wordings.os_errors(chain)]
    return tuple(sorted(pip + uv, key=lambda report: report.line.number)) if uv else tuple(pip)


@functools.lru_cache(maxsize=1)
def _uv_chains(log: Log) -> tuple:
    return tuple(uv_wordings.chains(log.lines))


def uv_cache_roots(log: Log) -> list[str]:
    """uv's cache roots this log names (its chains), shortest first."""
    return uv_wordings.cache_roots(_uv_chains(log), [r for r in os_errors(log) if r.tool == "uv"])


def disabled_cache_dirs(log: Log) -> list[str]:
    """The dirs named by pip's cache-disabled warnings, shortest (the cache root) first."""
    dirs = {match.group(1).replace("\\\\", "\\") for _, match in log.matching(CACHE_DISABLED)}
    return sorted(dirs, key=lambda path: (len(path), path))


def known_cache_roots(log: Log, facts) -> list[str]:
    """Cache dirs known for this run: those pip's warnings name, and the one resolved on this machine."""
    roots = disabled_cache_dirs(log)
    live = getattr(facts, "cache_dir", None)
    if live:
        roots.append(live)
    return roots


def errors_on(log: Log, facts, kinds: Iterable[ErrorKind], where: PathKind) -> list[OSErrorReport]:
    """The errors of these kinds on paths of this kind (see path_kinds)."""
    kind_of = path_kinds(log, facts)
    return [r for r in os_errors(log, *kinds) if kind_of(r) is where]


def path_kinds(log: Log, facts) -> Callable[[OSErrorReport], PathKind]:
    """report -> the kind of its path. A cache is per installer: a pip error is judged by pip's cache roots, a
    uv error by uv's, so that one installer's error never reads as the other's cache; a uv error inside the
    environment uv said it installs into is its install target."""
    pip_roots = known_cache_roots(log, facts)
    if not any(r.tool == "uv" for r in os_errors(log)):
        return lambda report: path_kind(report.path, pip_roots)
    uv_roots = uv_cache_roots(log)
    targets = [env.rstrip("/") + "/" for env in uv_wordings.environments(log.captured)]

    def kind_of(report: OSErrorReport) -> PathKind:
        if report.tool == "pip":
            return path_kind(report.path, pip_roots)
        if report.path and any((report.path + "/").startswith(target) for target in targets):
            return PathKind.TARGET
        return path_kind(report.path, uv_roots)
    return kind_of


def tool_of(reports: Iterable[OSErrorReport]) -> str:
    """The installer that printed the first report (pip when none did)."""
    return next((r.tool for r in reports), "pip")


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
    uv_roots = uv_cache_roots(log)
    named = {}
    if roots:
        named[roots[0]] = roots[0]
    for report in os_errors(log):
        if not report.path:
            continue
        if report.tool == "pip" and path_kind(report.path, roots) is PathKind.CACHE:
            named[report.path] = cache_root_of(report.path, roots)
        elif report.tool == "uv":  # uv's chains name its cache root (made absolute): the path's is the longest
            root = max((r for r in uv_roots if r == report.path or report.path.startswith(r.rstrip("/") + "/")),
                       key=len, default=None)
            if root is not None:
                named[report.path] = root
    return named
