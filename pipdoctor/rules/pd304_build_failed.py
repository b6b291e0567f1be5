"""PD304 build-failed: building a package from source failed (a compiler error, a missing header or
library, a broken setup.py), not pip's cache.

The cause is in the build output above pip's summary: the first `error:` line of the backend. When the
build itself succeeded and only storing the wheel in the cache failed, that is PD101, not this code.
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.lazyre import lazy_compile
from pipdoctor.rules._common import evidence

CODE = "PD304"
NAME = "build-failed"
SEVERITY = Severity.ERROR
# "Building wheel for X failed: [Errno N]" is what _STORE_FAILED reads; its gate string is then "Errno" (rare),
# not "Building wheel for " (in every build's progress line).
TRIGGERS = (rb"Failed building wheel for", rb"Failed to build", rb"Could not build wheels for",
            rb"subprocess-exited-with-error", rb"failed with error code",
            rb"Building wheel for \S+ failed: \[(?:Errno|WinError) \d+\]", rb"legacy-install-failure",
            rb"metadata-generation-failed", rb"failed-wheel-build-for-install",
            rb"Running setup.py install for \S+ \.\.\. error", rb"fatal error:", rb"error: command '.*' failed",
            rb"Microsoft Visual C\+\+ [\d.]+ (?:or greater )?is required", rb"Command errored out with exit status",
            rb"finished with status 'error'", rb"^\s*\S*\s*(?:\xe2\x95\xb0\xe2\x94\x80>|\+->|`->)\s")

# Lines that name packages whose build failed, in pip 6 to 26 wordings.
_NAMED = [
    lazy_compile(r"Failed building wheel for ([\w.-]+)"),
    lazy_compile(r"Failed to build (?!installable wheels)([\w.-]+(?:[ ,]+[\w.-]+)*)\s*$"),
    lazy_compile(r"Failed to build '([\w.-]+)' when"),  # 25.3 exceptions.py:204
    lazy_compile(r"Could not build wheels for ([\w.-]+(?:, (?!which\b)[\w.-]+)*)"),
    lazy_compile(r"Failed to build installable wheels for some pyproject\.toml based projects \((.+?)\)"),
    lazy_compile(r"Running setup.py install for ([\w.-]+)(?: \.\.\. error|: finished with status 'error')"),
]
# 25.2+ DiagnosticPipError: "failed-wheel-build-for-install" then the names on a "╰─> a, b" context line.
_BLOCK_NAMES = lazy_compile(r"^\s*(?:╰─>|\+->|`->)\s*([\w.-]+(?:, [\w.-]+)*)\s*$")
_BLOCK_START = lazy_compile(r"failed-wheel-build-for-install|Failed to build installable wheels")
# A build that succeeded, then failed to store its wheel: an OS error, explained by another rule.
_STORE_FAILED = lazy_compile(r"Building wheel for ([\w.-]+) failed: \[(?:Errno|WinError) \d+\]")
# Failures that name no package but are the build backend's own.
_BACKEND = lazy_compile(r"subprocess-exited-with-error|failed with error code \d|legacy-install-failure|"
                      r"Command errored out with exit status|"
                      r"metadata-generation-failed|fatal error:|error: command '.*' failed|"
                      r"Microsoft Visual C\+\+ [\d.]+ (?:or greater )?is required")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def match(log, facts=None):
    store_failed = {_key(m.group(1)) for _, m in log.matching(_STORE_FAILED)}
    failed, lines = [], []
    for pattern in _NAMED:
        for line, m in log.matching(pattern):
            names = [n for n in re.split(r"[ ,]+", m.group(1)) if n and _key(n) not in store_failed]
            if names:
                failed.extend(names)
                lines.append(line)
    starts = [line.number for line, _ in log.matching(_BLOCK_START)]
    for line, m in log.matching(_BLOCK_NAMES):
        if any(0 < line.number - start <= 6 for start in starts):
            names = [n for n in m.group(1).split(", ") if _key(n) not in store_failed]
            failed.extend(names)
            lines.extend([line] if names else [])
    backend = [line for line, _ in log.matching(_BACKEND)]
    if not failed and not backend:
        return []
    names = list(dict.fromkeys(failed))
    subject = ", ".join(names) if names else "a package"
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"Building {subject} from source failed; the build's own error is in pip's output above.",
        why="The build backend (setuptools, a compiler, a missing header or system library) failed; "
            "this is not caused by pip's cache.",
        evidence=evidence(backend[:3] + lines),
        facts={"packages": names},
    )]
