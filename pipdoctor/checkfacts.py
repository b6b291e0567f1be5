"""Everything `pipdoctor check` reads for one account's cache, as a plain CheckFacts value: no judgement (checker.py
judges). Reads and never writes: no test file is created, no lock taken, no flag changed."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

from pipdoctor.cachewalk import CacheWalk, moved_aside_copies, walk_cache
from pipdoctor.host.accounts import (Account, HomeFacts, Launch, home_facts, launch_facts, other_home_holding,
                                     passwd_entry, sudo_keeps_home, symlink_below_home)
from pipdoctor.host.dirs import DirFacts, dir_facts
from pipdoctor.host.mounts import MountFacts, mount_of
from pipdoctor.host.tempdirs import TempFacts, temp_facts
from pipdoctor.installers.base import Installer
from pipdoctor.records import record
from pipdoctor.safety import under

if TYPE_CHECKING:  # the type only: the check's own imports stay as they were
    from pipdoctor.progress import Progress


@record
class CheckFacts:
    """Everything `pipdoctor check` knows about one account's cache of one installer: the input of
    checker.check()."""

    installer: Installer  # whose cache this is
    account: Account
    home: HomeFacts
    launch: Optional[Launch]  # only for the user running the check (sudo's variables are its own)
    cache_path: Optional[str]  # as the installer uses it (realpath), None when the cache is off
    # as configured, when a symlink on it (the root itself, or a dir between HOME and the root) makes it
    # differ from cache_path; a HOME reached through a symlink does not count (symlink_below_home)
    cache_configured: Optional[str]
    cache_disabled: bool
    cache_source: str
    root: Optional[DirFacts]
    subdirs: tuple  # DirFacts of what it always writes (pip: wheels/, http-v2/) and of the rest that exists
    keeps_cache: bool  # the installer's own verdict: its root rule (pip's check_path_owner), else True
    mount: Optional[MountFacts]
    walk: Optional[CacheWalk]
    temp: TempFacts
    alternate_cache: Optional[str]
    # Whose files the cache should hold: the user's, or under `sudo` with the invoking user's HOME, that
    # user's (root's files there are what breaks the next unprivileged run).
    cache_owner_uid: int
    cache_owner_gid: int
    nfs_root_squash_possible: bool = False
    pip_version: Optional[str] = None  # of the pip the user would run, when known
    pip_error: Optional[str] = None  # pip would stop before using any cache (e.g. no HOME at all, pip >= 26.3)
    # Another account's passwd home that is the cache or holds it (PIP_CACHE_DIR=/home/bob as alice), or None:
    # no command for this account may touch it.
    other_home: Optional[str] = None
    parent: Optional[DirFacts] = None  # the directory holding the cache root (a rename of the whole cache)
    moved_aside: tuple = ()  # MovedAside copies `pipdoctor fix` left, in the cache and beside it
    temp_locks: object = None  # the installer's lock files in its temp dir that the account cannot use (uv)


def alternate_cache_for(installer: Installer, account: Account, home: HomeFacts,
                        cache_path: Optional[str]) -> Optional[str]:
    """A fresh cache dir the user could create (for a `--cache-dir` fix): beside the cache, else in HOME
    (pip-fresh, pip-cache: named after the installer)."""
    fresh, spare = f"{installer.name}-fresh", f"{installer.name}-cache"
    candidates = []
    xdg = account.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        candidates.append(os.path.join(xdg, fresh))
    if home.path and os.path.isabs(home.path):
        candidates += [os.path.join(home.path, ".cache", fresh), os.path.join(home.path, spare)]
    for candidate in candidates:
        if cache_path and under(candidate, cache_path):
            continue
        facts = dir_facts(candidate, account)
        if facts.kind != "dir" or not facts.writable or facts.owner is None or facts.owner.uid != account.uid:
            continue
        mount = mount_of(facts.existing, account.uid)
        if mount.read_only or (mount.free_bytes is not None and mount.free_bytes < (64 << 20)):
            continue
        return candidate
    return None


def collect_check_facts(installer: Installer, account: Account, cache_path: Optional[str], disabled: bool,
                        source: str, *, walk: bool = True, pip_version: Optional[str] = None,
                        pip_error: Optional[str] = None, configured: Optional[str] = None,
                        jobs: Optional[int] = None, progress: Optional[Progress] = None) -> CheckFacts:
    """Read everything the checker judges, for `account` and the cache dir the installer would use
    (`configured`: that dir before symlinks were resolved); `jobs`: the walk's workers (None: one per CPU);
    `progress`: the line the walks count their entries on."""
    home = home_facts(account)
    launch = launch_facts(account.environ) if account.is_self else None
    owner_uid, owner_gid = account.uid, account.gid
    if sudo_keeps_home(account, home, launch):
        owner_uid = launch.sudo_uid
        owner_gid = launch.sudo_gid if launch.sudo_gid is not None else (home.owner.gid if home.owner else 0)
    temp = temp_facts(account)
    locks = installer.temp_locks(account) if installer.temp_locks is not None else None
    if disabled or not cache_path:
        return CheckFacts(installer, account, home, launch, None, None, True, source, None, (), False, None, None,
                          temp, None, owner_uid, owner_gid, False, pip_version, pip_error, temp_locks=locks)
    real = os.path.realpath(cache_path)
    configured = configured or real
    if configured != real and symlink_below_home(configured, (home.path, account.passwd_home)) is None:
        configured = real  # only HOME itself is reached through a symlink
    root = dir_facts(real, account)
    mount = mount_of(root.existing, account.uid) if root.existing else None
    if mount is not None and not account.is_self and mount.read_only and root.writable:
        root = dir_facts(real, account, mount)
    subdirs = []
    if root.kind == "dir" and root.existing == real:
        for name in installer.writes:
            sub = os.path.join(real, name)
            if name in installer.always_written or os.path.lexists(sub):
                sub_facts = dir_facts(sub, account, mount)
                if sub_facts.existing != root.existing:
                    subdirs.append(sub_facts)
    if mount is not None and not mount.read_only:
        # A read-only mount below the root (a bind mount on wheels/, same device): the writes meet it first.
        for sub_facts in subdirs:
            if sub_facts.kind == "dir" and sub_facts.existing == sub_facts.path:
                inner = mount_of(sub_facts.path, account.uid)
                if inner.read_only and inner.mountpoint != mount.mountpoint:
                    mount = inner
                    break
    scan, aside = None, ()
    if walk:
        if owner_uid == account.uid:
            scan_groups = account.groups
        else:
            entry = passwd_entry(owner_uid)
            try:
                scan_groups = os.getgrouplist(entry.pw_name, owner_gid) if entry else [owner_gid]
            except OSError:
                scan_groups = [owner_gid]
        if root.kind == "dir" and root.existing == real:
            scan = walk_cache(real, owner_uid, scan_groups, check_modes=owner_uid != 0, jobs=jobs,
                              progress=progress.counter() if progress is not None else None)
        # Also when the cache itself was moved aside and the installer has not made a new one yet.
        aside = moved_aside_copies(real, owner_uid, scan_groups, jobs=jobs)
    nfs = bool(mount and mount.fstype and mount.fstype.startswith("nfs"))
    parent = dir_facts(os.path.dirname(real), account) if real != "/" else None
    return CheckFacts(installer, account, home, launch, real, configured if configured != real else None, False,
                      source, root, tuple(subdirs), installer.uses_cache(root, account), mount, scan, temp,
                      alternate_cache_for(installer, account, home, real), owner_uid, owner_gid, nfs, pip_version,
                      pip_error, other_home_holding(real, owner_uid), parent, aside, locks)
