"""The filesystem reader: owners, modes and writability of the paths pip named, as a plain Facts value."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Mapping, Optional


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int
    user: Optional[str]
    group: Optional[str]

    @property
    def label(self) -> str:
        """`root 0:0`, as the report names an owner (name, then uid:gid)."""
        name = self.user if self.user is not None else "(no passwd entry)"
        return f"{name} {self.uid}:{self.gid}"


@dataclass(frozen=True)
class Identity:
    """Who runs pip: the effective uid/gid, the name, and the HOME pip will expand `~` with."""

    uid: int
    gid: int
    user: Optional[str]
    home: Optional[str]
    home_exists: bool
    home_owner: Optional[Owner]


@dataclass(frozen=True)
class PathFacts:
    """What is really on disk for a path pip named: it often does not exist, its nearest ancestor does."""

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


@dataclass(frozen=True)
class Facts:
    identity: Identity
    paths: Mapping[str, PathFacts] = field(default_factory=dict)
    cache_dir: Optional[str] = None  # the cache this pip run used, as resolved on this machine
    alternate_cache: Optional[str] = None  # a dir the user can write, for a `--cache-dir` fix


def owner_of(st: os.stat_result) -> Owner:
    import grp
    import pwd

    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = None
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = None
    return Owner(st.st_uid, st.st_gid, user, group)


def current_identity(environ: Mapping[str, str]) -> Identity:
    import pwd

    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    home = environ.get("HOME") or None
    home_owner = None
    home_exists = False
    if home:
        try:
            st = os.stat(home)
            home_exists = stat.S_ISDIR(st.st_mode)
            home_owner = owner_of(st)
        except OSError:
            pass
    return Identity(uid, gid, user, home, home_exists, home_owner)


def nearest_existing(path: str) -> tuple[str, os.stat_result]:
    """The path itself if it exists, else its closest existing ancestor (lstat: a link is not followed)."""
    current = os.path.abspath(path)
    while True:
        try:
            return current, os.lstat(current)
        except OSError:
            parent = os.path.dirname(current)
            if parent == current:
                raise
            current = parent


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


def collect_facts(paths: Mapping[str, Optional[str]], environ: Mapping[str, str]) -> Facts:
    """Facts for each path pip named, mapped to the cache root it lies in (None when unknown)."""
    identity = current_identity(environ)
    described = {}
    for path, root in paths.items():
        facts = describe_path(path, root, identity.uid)
        if facts is not None:
            described[path] = facts
    return Facts(identity, described)


def pick_alternate_cache(identity: Identity, environ: Mapping[str, str]) -> Optional[str]:
    """A fresh cache dir the user can create and own (for `--cache-dir`), beside the broken one if possible."""
    base = environ.get("XDG_CACHE_HOME") or (os.path.join(identity.home, ".cache") if identity.home else None)
    if not base or not os.path.isabs(base):
        return None
    candidate = os.path.join(base, "pip-fresh")
    try:
        existing, st = nearest_existing(candidate)
    except OSError:
        return None
    if st.st_uid != identity.uid or not os.access(existing, os.W_OK | os.X_OK, effective_ids=True):
        return None
    return candidate
