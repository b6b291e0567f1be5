"""PD201 home-missing: HOME is unset or names a directory that does not exist, so pip's default cache
(`~/.cache/pip`) cannot be created and pip runs without one.

Typical in chroots, `docker run --user UID` with a uid the image does not know, and service accounts whose
passwd home is `/nonexistent`. Creating HOME (or pointing pip at a writable `--cache-dir`) cures it.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.pip.wordings import CACHE_DISABLED, CACHE_DISABLED_TRIGGER
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.lazyre import lazy_compile
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind, cache_root_of
from pipdoctor.rules._common import disabled_cache_dirs, errors_on, evidence, tool_of

CODE = "PD201"
NAME = "home-missing"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, *UV_TRIGGERS, CACHE_DISABLED_TRIGGER, rb"could not determine the home directory",
            rb"Stored in directory: \S*/~/")

# Homes that never exist: Debian's `nobody` and system users; and `~` left unexpanded (no HOME, no passwd
# entry), which pip 20+ make absolute, `<cwd>/~/.cache/pip` (cli/base_command.py normalize_path): a `~` dir
# inside an absolute path. A leading `~/...` is not evidence: it is how people abbreviate their home when
# they paste a log (`~/Library/Caches/pip/...`).
_NO_HOME = lazy_compile(r"^(?:/nonexistent|/dev/null)(?:[/\\]|$)|^[/\\].*?[/\\]~(?:[/\\]|$)")
# pip 26.3's platformdirs (_xdg.py) when it cannot expand `~` at all.
_NO_HOME_ERROR = lazy_compile(r"could not determine the home directory")
# pip 7-26 after building a wheel into its cache (wheel_builder.py): with `~` unexpanded, pip succeeds
# into a stray `~/.cache/pip` under the working directory, which a run from elsewhere never finds.
_STORED = lazy_compile(r"Stored in directory: (\S*[/\\]~[/\\]\S*)")


def _under(path: str, home: str) -> bool:
    return path == home or path.startswith(home.rstrip("/") + "/")


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.CACHE)
    stored = [(line, cache_root_of(m.group(1)) or m.group(1)) for line, m in log.matching(_STORED)
              if _NO_HOME.match(m.group(1))]
    paths = disabled_cache_dirs(log) + [r.path for r in reports if r.path]
    refused = log.matching(_NO_HOME_ERROR)
    if refused:
        return [Finding(
            CODE, NAME, SEVERITY,
            message="pip stopped: HOME is not set and this user has no home in the passwd database.",
            why="pip needs a home directory to find its cache and config; it cannot expand `~`.",
            evidence=evidence(line for line, _ in refused),
        )]
    if not paths and not stored:
        return []
    identity = getattr(facts, "identity", None)
    if identity is not None and not identity.home_exists:
        missing = [p for p in paths if identity.home is None or _under(p, identity.home)]
        home = identity.home
    else:
        missing = [p for p in paths if _NO_HOME.match(p)]
        home = missing[0].split("/.cache")[0] if missing else None
    missing += [root for _, root in stored]
    if not missing:
        return []
    lines = [line for line, _ in log.matching(CACHE_DISABLED)] + [r.line for r in reports]
    if home is None or home.endswith("~"):
        what = "HOME is not set (and `~` has no passwd entry to expand to)"
    else:
        what = f"HOME ({home}) does not exist"
    if not lines:  # pip worked, into a stray cache it will not find again from another directory
        return [Finding(
            CODE, NAME, Severity.WARNING,
            message=f"{what}, so pip keeps its cache in a directory literally named `~`: {missing[0]}.",
            why="With `~` unexpanded pip makes its cache relative to the working directory: each directory "
                "pip runs from gets its own stray `~/.cache/pip`, and no run finds another's wheels.",
            paths=tuple(dict.fromkeys(missing)),
            evidence=evidence(line for line, _ in stored),
        )]
    tool = tool_of(reports)
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"{what}, so {tool} cannot create its cache at {missing[0]}.",
        why=_WHY[tool],
        paths=tuple(dict.fromkeys(missing)),
        evidence=evidence(lines + [line for line, _ in stored]),
        tool=tool,
    )]


_WHY = {
    "pip": "pip keeps its cache under HOME; with no HOME directory it has nowhere to write and runs uncached.",
    "uv": "uv keeps its cache under HOME (or XDG_CACHE_HOME); with no HOME directory it cannot create it, and "
          "uv does not run without its cache: it stops.",
}
