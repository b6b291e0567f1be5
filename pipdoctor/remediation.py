"""Cures: the exact commands that fix each finding, with real paths, uids and names (pure)."""

from __future__ import annotations

import shlex
from typing import Optional, Sequence

from pipdoctor.findings import Finding, Fix
from pipdoctor.ownership import Facts
from pipdoctor.pathkinds import cache_root_of

# Placeholder for "the pip command the user ran" when only a log is known (explain).
_UNKNOWN_ARGS = ("install", "...")


def pip_line(pip_args: Optional[Sequence[str]], *extra: str, raw_tail: str = "") -> str:
    """The user's own pip command with options added: what to type instead of what failed."""
    args = list(pip_args) if pip_args else list(_UNKNOWN_ARGS)
    words = ["pip"] + [a if a == "..." else shlex.quote(a) for a in args] + [shlex.quote(e) for e in extra]
    return " ".join(words + ([raw_tail] if raw_tail else []))


def _no_root_alternatives(facts: Optional[Facts], pip_args) -> list[Fix]:
    alternate = facts.alternate_cache if facts is not None else None
    if alternate:
        fixes = [Fix(pip_line(pip_args, "--cache-dir", alternate),
                     f"No root needed: use a fresh cache in {alternate}, a dir you can write.", True)]
    else:
        fixes = [Fix(pip_line(pip_args, raw_tail='--cache-dir "$(mktemp -d)"'),
                     "No root needed: use a fresh, private cache for this run.", True)]
    fixes.append(Fix(pip_line(pip_args, "--no-cache-dir"),
                     "No root needed: run this once without a cache (slower; nothing is cached).", True))
    return fixes


def _ownership_fixes(finding: Finding, facts: Optional[Facts], pip_args) -> list[Fix]:
    broken = finding.facts.get("broken") or []
    if facts is None or not broken:
        root = next((cache_root_of(p) for p in finding.paths if cache_root_of(p)), None)
        if root is None:
            return []
        return [Fix(f'sudo chown -R "$(id -u):$(id -g)" {shlex.quote(root)}',
                    "Run as the user who runs pip: gives the whole cache back to that user.", True)]
    identity = facts.identity
    fixes = []
    for dir_ in broken:
        quoted = shlex.quote(dir_.path)
        if not dir_.foreign:
            fixes.append(Fix(f"chmod u+rwx {quoted}", f"Make {dir_.path} writable for its owner, you.", True))
        elif identity.uid == 0:
            continue  # root must not take a user's cache: the no-root alternatives below apply
        elif facts.cache_dir and not (dir_.path + "/").startswith(facts.cache_dir.rstrip("/") + "/"):
            fixes.append(Fix(f"sudo chown {identity.uid}:{identity.gid} {quoted}",
                             f"Give {dir_.path} (above the cache) back to you, without -R: other programs' "
                             "files below it keep their owners.", True))
        else:
            fixes.append(Fix(f"sudo chown -R {identity.uid}:{identity.gid} {quoted}",
                             f"Give {dir_.path} and everything in it back to you; nothing outside the cache "
                             "changes.", True))
    return fixes


def _fresh_venv(pip_args) -> Fix:
    return Fix(f"python3 -m venv .venv && .venv/{pip_line(pip_args).replace('pip ', 'bin/pip ', 1)}",
               "Install into a virtual environment you own instead (not --user, not sudo).", True)


def suggest(finding: Finding, facts: Optional[Facts] = None, pip_args: Optional[Sequence[str]] = None) -> Finding:
    """The finding with its fixes: least invasive first, never `sudo pip` or `--user` for a cache problem."""
    code = finding.code
    first = finding.paths[0] if finding.paths else None
    fixes: list[Fix]
    if code in ("PD101", "PD102"):
        fixes = _ownership_fixes(finding, facts, pip_args) + _no_root_alternatives(facts, pip_args)
    elif code == "PD201":
        fixes = _no_root_alternatives(facts, pip_args)
        home = facts.identity.home if facts is not None else None
        if home:
            fixes.insert(0, Fix(f"sudo mkdir -p {shlex.quote(home)} && sudo chown "
                                f"{facts.identity.uid}:{facts.identity.gid} {shlex.quote(home)}",
                                "Create the missing HOME for this user.", True))
    elif code == "PD105":
        target = shlex.quote(first) if first else "."
        fixes = [Fix(f"df -h {target} && df -i {target}", "See which filesystem is full (space or inodes).", True),
                 Fix(pip_line(pip_args, "--no-cache-dir"), "Retry without writing to the cache.", True)]
    elif code == "PD106":
        fixes = _no_root_alternatives(facts, pip_args) if first and cache_root_of(first) else [_fresh_venv(pip_args)]
    elif code == "PD107":
        fixes = [Fix(f"rm -- {shlex.quote(first)}", "Remove only the damaged wheel; pip builds it again.", True)] \
            if first else [Fix("pip cache list", "Find the damaged wheel among the cached ones.", True)]
        fixes.append(Fix(pip_line(pip_args, "--no-cache-dir"), "Retry once without the cache.", True))
    elif code == "PD108":
        fixes = [Fix(f"pip cache remove {shlex.quote(name)}", f"Rebuild {name} on the next install.", True)
                 for name in finding.facts.get("packages", ())]
    elif code in ("PD301", "PD302"):
        fixes = [_fresh_venv(pip_args)]
    elif code == "PD303":
        fixes = [Fix('mkdir -p "$HOME/tmp" && TMPDIR="$HOME/tmp" ' + pip_line(pip_args),
                     "Build in a temp dir you own, on a filesystem that allows executing.", True)]
    elif code == "PD304":
        fixes = [Fix(pip_line(pip_args, "--verbose"), "Show the build's full output; its first error is the cause.",
                     True)]
    else:
        fixes = []
    return finding.but(fixes=tuple(fixes))
