"""The live facts a run's log is classified with: owners, modes and writability of the paths the installer named."""

from __future__ import annotations

import os
import stat
from typing import Mapping, Optional

from pipdoctor.host.accounts import Identity, Owner, current_identity, owner_of
from pipdoctor.host.dirs import nearest_existing
from pipdoctor.installers.base import Installer
from pipdoctor.records import record


@record
class PathFacts:
    """What is really on disk for a path the installer named: it often does not exist, its nearest ancestor does."""

    path: str
    existing: str
    owner: Owner
    mode: int
    is_dir: bool
    writable: bool
    # The topmost entry from `within` down to `existing` that the user does not own, or None.
    foreign_top: Optional[str]
    foreign_owner: Optional[Owner]
    foreign_mode: Optional[int]


@record
class Facts:
    installer: Installer  # the one that ran
    identity: Identity
    paths: Mapping[str, PathFacts]
    cache_dir: Optional[str] = None  # the cache this run used, as resolved on this machine
    alternate_cache: Optional[str] = None  # a dir the user can write, for a `--cache-dir` fix


def describe_path(path: str, within: Optional[str], uid: int) -> Optional[PathFacts]:
    """Facts about `path`; `within` is the cache root, where the search for a foreign owner starts."""
    try:
        existing, st = nearest_existing(path)
    except OSError:
        return None
    foreign_top = foreign_owner = foreign_mode = None
    start = os.path.abspath(within) if within else existing
    if existing == start or existing.startswith(start.rstrip("/") + "/"):
        probe = start
        rest = os.path.relpath(existing, start).split(os.sep) if existing != start else []
        for part in [""] + rest:
            probe = os.path.join(probe, part) if part else probe
            try:
                probe_st = os.lstat(probe)
            except OSError:
                break
            if probe_st.st_uid != uid:
                foreign_top, foreign_owner = probe, owner_of(probe_st)
                foreign_mode = stat.S_IMODE(probe_st.st_mode)
                break
    writable = stat.S_ISDIR(st.st_mode) and os.access(existing, os.W_OK | os.X_OK, effective_ids=True)
    return PathFacts(path, existing, owner_of(st), stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode),
                     writable, foreign_top, foreign_owner, foreign_mode)


def collect_facts(installer: Installer, paths: Mapping[str, Optional[str]], environ: Mapping[str, str]) -> Facts:
    """Facts for each path the installer named, mapped to the cache root it lies in (None when unknown)."""
    identity = current_identity(environ)
    described = {}
    for path, root in paths.items():
        facts = describe_path(path, root, identity.uid)
        if facts is not None:
            described[path] = facts
    return Facts(installer, identity, described)


def pick_alternate_cache(installer: Installer, identity: Identity, environ: Mapping[str, str]) -> Optional[str]:
    """A fresh cache dir the user can create and own (for `--cache-dir`), beside the broken one if possible
    (pip-fresh: named after the installer)."""
    base = environ.get("XDG_CACHE_HOME") or (os.path.join(identity.home, ".cache") if identity.home else None)
    if not base or not os.path.isabs(base):
        return None
    candidate = os.path.join(base, f"{installer.name}-fresh")
    try:
        existing, st = nearest_existing(candidate)
    except OSError:
        return None
    if st.st_uid != identity.uid or not os.access(existing, os.W_OK | os.X_OK, effective_ids=True):
        return None
    return candidate
