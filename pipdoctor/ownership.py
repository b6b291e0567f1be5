"""The filesystem reader: owners, modes and writability of the paths pip named, as a plain Facts value."""

from __future__ import annotations

import errno
import os
import stat
from typing import Mapping, Optional

from pipdoctor.records import record
from pipdoctor.safety import MOVED_ASIDE, under


@record
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


@record
class Identity:
    """Who runs pip: the effective uid/gid, the name, and the HOME pip will expand `~` with."""

    uid: int
    gid: int
    user: Optional[str]
    home: Optional[str]
    home_exists: bool
    home_owner: Optional[Owner]


@record
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


@record
class Facts:
    identity: Identity
    paths: Mapping[str, PathFacts]
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


# --- the live check: whose cache, what is on disk, what the filesystem allows ------------------------
#
# Everything below reads and never writes: no test file is created, no lock taken, no flag changed.

# Samples kept per kind of problem: enough to act on, bounded whatever the cache's size (STYLE: report
# foreign subtrees, not every path).
SAMPLES = 5
# The subdirectories pip writes into (pip/_internal/cache.py, network/cache.py, self_outdated_check.py):
# http/ before 23.3, http-v2/ since, selfcheck/ since 20.0 (a selfcheck.json file at the root before).
PIP_WRITES = ("wheels", "http-v2", "http", "selfcheck")
_ALWAYS_WRITTEN = ("wheels", "http-v2")
# linux/fs.h: FS_IOC_GETFLAGS = _IOR('f', 1, long); the kernel writes an int. FS_IMMUTABLE_FL, FS_APPEND_FL.
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL = 0x10
_FS_APPEND_FL = 0x20
# linux/posix_acl_xattr.h: header u32 version 2, then (u16 tag, u16 perm, u32 id) per entry.
_ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = 1, 2, 4, 8, 0x10, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF
# Shells that mean "this account never logs in" (Debian's adduser --system, passwd(5)).
_NO_LOGIN_SHELLS = ("nologin", "false", "sync", "halt", "shutdown")
# Login shells of the uids pip runs as in sysadmin modes: UID_MIN from /etc/login.defs, Debian's default.
_UID_MIN_DEFAULT = 1000
_NOBODY = 65534


def display_path(path) -> str:
    """A path as text for a report: file names that are not UTF-8 show their bytes as \\xNN, never crash."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def owner_of_ids(uid: int, gid: int) -> Owner:
    import grp
    import pwd

    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = None
    return Owner(uid, gid, user, group)


@record
class Account:
    """Whom the check judges: the user pip runs as, with the environment pip would see.

    `is_self` is True when the check runs as that user, so the kernel's own answer (os.access) is used;
    with --user, root reads the facts and the user's rights are worked out from modes and ACLs.
    """

    uid: int
    gid: int
    groups: tuple
    user: Optional[str]
    passwd_home: Optional[str]
    shell: Optional[str]
    environ: Mapping[str, str]
    is_self: bool = True

    @property
    def label(self) -> str:
        name = self.user if self.user is not None else "(no passwd entry)"
        return f"{name} {self.uid}:{self.gid}"


def _passwd(uid: int):
    import pwd

    try:
        return pwd.getpwuid(uid)
    except KeyError:
        return None


def self_account(environ: Mapping[str, str]) -> Account:
    """The user running this process, with its own environment."""
    uid, gid = os.geteuid(), os.getegid()
    entry = _passwd(uid)
    groups = tuple(sorted(set(os.getgroups()) | {gid}))
    return Account(uid, gid, groups, entry.pw_name if entry else None, entry.pw_dir if entry else None,
                   entry.pw_shell if entry else None, dict(environ), True)


def account_environ(entry, environ: Mapping[str, str]) -> dict:
    """The environment `entry`'s own login would give pip: its HOME, no XDG_* or PIP_* of the caller.

    PATH, LANG and TMPDIR-free: a login (su -, sudo -iu, cron) sets HOME, USER, LOGNAME and SHELL from
    passwd and does not inherit the caller's variables.
    """
    env = {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name,
           "SHELL": entry.pw_shell or "/bin/sh", "PATH": environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    # PIPDOCTOR_PYTHON is pipdoctor's own setting (which pip to model), not the caller's environment.
    for name in ("LANG", "LC_ALL", "PIPDOCTOR_PYTHON"):
        if name in environ:
            env[name] = environ[name]
    return env


def named_account(name: str, environ: Mapping[str, str]) -> Optional[Account]:
    """The passwd account NAME (or a numeric uid that has an entry), as its own login would run pip."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = _passwd(int(name)) if name.isascii() and name.isdigit() else None
    if entry is None:
        return None
    return _account_from_entry(entry, environ)


def _account_from_entry(entry, environ: Mapping[str, str]) -> Account:
    try:
        groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    except OSError:
        groups = (entry.pw_gid,)
    is_self = entry.pw_uid == os.geteuid() and entry.pw_uid != 0 or (entry.pw_uid == 0 == os.geteuid())
    return Account(entry.pw_uid, entry.pw_gid, groups, entry.pw_name, entry.pw_dir, entry.pw_shell,
                   account_environ(entry, environ), is_self)


def _uid_min() -> int:
    try:
        with open("/etc/login.defs", encoding="utf-8", errors="replace") as defs:
            for line in defs:
                parts = line.split()
                if len(parts) == 2 and parts[0] == "UID_MIN" and parts[1].isascii() and parts[1].isdigit():
                    return int(parts[1])
    except OSError:
        pass
    return _UID_MIN_DEFAULT


def all_accounts(environ: Mapping[str, str]) -> list[Account]:
    """Every account that can run pip with a cache of its own, for --all-users.

    An account counts when its passwd home is an existing directory other than `/`, and it is root, a
    regular user (UID_MIN <= uid < 65534, any shell: cron and systemd units run as nologin users too), or a
    system account with a login shell (jenkins, gitlab-runner). One entry per uid, the first name wins.
    """
    import pwd

    uid_min = _uid_min()
    seen, accounts = set(), []
    for entry in pwd.getpwall():
        if entry.pw_uid in seen or entry.pw_uid == _NOBODY:
            continue
        home = entry.pw_dir or ""
        if not home.startswith("/") or os.path.normpath(home) == "/" or not os.path.isdir(home):
            continue
        shell = os.path.basename(entry.pw_shell or "")
        regular = entry.pw_uid == 0 or entry.pw_uid >= uid_min
        if not regular and (not shell or shell in _NO_LOGIN_SHELLS):
            continue
        seen.add(entry.pw_uid)
        accounts.append(_account_from_entry(entry, environ))
    return sorted(accounts, key=lambda a: a.uid)


@record
class HomeFacts:
    """HOME as pip's `~` expands it: the variable, else the passwd home (Python's os.path.expanduser)."""

    env: Optional[str]  # HOME in the environment (None: unset; "" counts as set, as Python treats it)
    path: Optional[str]  # what `~` becomes; None when HOME is unset and there is no passwd entry
    exists: bool
    is_dir: bool
    owner: Optional[Owner]
    mode: Optional[int]
    # Who owns the dir HOME names, if that is another account's passwd home (HOME=/home/bob as alice).
    home_of: Optional[str]


@record
class Launch:
    """How this process came to run as root, as far as the process tree and sudo's variables tell."""

    sudo_user: Optional[str]
    sudo_uid: Optional[int]
    sudo_gid: Optional[int]
    sudo_home: Optional[str]  # the invoking user's passwd home
    chain: tuple  # process names from the parent upward, e.g. ("bash", "sudo", "bash", "sshd")
    via: Optional[str]  # "sudo", "su", "doas", "pkexec" (the nearest such ancestor) or None
    container: Optional[str]  # "docker", "podman", "kubernetes", "lxc", ... or None


def home_facts(account: Account) -> HomeFacts:
    env = account.environ.get("HOME")
    path = env if env is not None else account.passwd_home
    exists = is_dir = False
    owner = mode = None
    home_of = None
    if path:
        try:
            st = os.stat(path)
            exists, is_dir = True, stat.S_ISDIR(st.st_mode)
            owner, mode = owner_of(st), stat.S_IMODE(st.st_mode)
        except (OSError, ValueError):  # ValueError: a NUL byte in HOME names no file
            pass
        if owner is not None and owner.uid != account.uid:
            entry = _passwd(owner.uid)
            if entry is not None and os.path.normpath(entry.pw_dir) == os.path.normpath(path):
                home_of = entry.pw_name
    return HomeFacts(env, path or None, exists, is_dir, owner, mode, home_of)


def _container_kind() -> Optional[str]:
    # systemd's detect-virt markers: /.dockerenv, /run/.containerenv (podman), $container (lxc, systemd-nspawn),
    # and the cgroup path of pid 1 (kubepods, docker, containerd).
    if os.path.exists("/.dockerenv"):
        return "docker"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    try:
        with open("/proc/1/environ", "rb") as env:
            for item in env.read().split(b"\0"):
                if item.startswith(b"container="):
                    return item.split(b"=", 1)[1].decode("ascii", "replace") or "container"
    except OSError:
        pass
    try:
        with open("/proc/1/cgroup", "rb") as cgroup:
            text = cgroup.read()
        for marker, kind in ((b"kubepods", "kubernetes"), (b"docker", "docker"), (b"containerd", "containerd"),
                             (b"lxc", "lxc")):
            if marker in text:
                return kind
    except OSError:
        pass
    return None


def launch_facts(environ: Mapping[str, str]) -> Launch:
    """sudo's variables (sudo(8) sets SUDO_USER/UID/GID) and the process tree (psutil), read as they are."""
    sudo_user = environ.get("SUDO_USER") or None
    sudo_uid = _int_or_none(environ.get("SUDO_UID"))
    sudo_gid = _int_or_none(environ.get("SUDO_GID"))
    sudo_home = None
    if sudo_uid is not None:
        entry = _passwd(sudo_uid)
        sudo_home = entry.pw_dir if entry else None
    elif sudo_user:
        import pwd

        try:
            sudo_home = pwd.getpwnam(sudo_user).pw_dir
        except KeyError:
            pass
    chain: list = []
    try:
        if os.geteuid() != 0 and sudo_uid is None:
            raise LookupError  # the chain only tells root's launchers (sudo, su, a container) apart
        import psutil

        for process in psutil.Process().parents():
            try:
                chain.append(process.name())
            except (psutil.Error, OSError):
                chain.append("?")
            if len(chain) >= 12:
                break
    except Exception:  # noqa: BLE001 - psutil missing, /proc hidden, not root: the chain is only evidence
        pass
    via = next((name for name in chain if name in ("sudo", "su", "doas", "pkexec", "run0")), None)
    return Launch(sudo_user, sudo_uid, sudo_gid, sudo_home, tuple(chain), via, _container_kind())


def _int_or_none(text: Optional[str]) -> Optional[int]:
    return int(text) if text and text.isascii() and text.isdigit() else None


# --- permissions as the kernel decides them (inode_permission + posix_acl_permission) ------------------


@record
class AclEntry:
    tag: int
    perm: int
    id: Optional[int]

    def text(self) -> str:
        """getfacl's spelling: user::rwx, user:alice:r-x, group::r-x, mask::rwx, other::---."""
        kind = {_ACL_USER_OBJ: "user", _ACL_USER: "user", _ACL_GROUP_OBJ: "group", _ACL_GROUP: "group",
                _ACL_MASK: "mask", _ACL_OTHER: "other"}.get(self.tag, "?")
        who = ""
        if self.tag == _ACL_USER and self.id is not None:
            who = owner_of_ids(self.id, -1).user or str(self.id)
        elif self.tag == _ACL_GROUP and self.id is not None:
            who = owner_of_ids(-1, self.id).group or str(self.id)
        bits = "".join(c if self.perm & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        return f"{kind}:{who}:{bits}"


def decode_acl(raw: bytes) -> Optional[tuple]:
    """The entries of a system.posix_acl_access value, or None if it is not the version-2 format."""
    import struct

    if len(raw) < 4 or (len(raw) - 4) % 8 or struct.unpack_from("<I", raw)[0] != 2:
        return None
    entries = []
    for offset in range(4, len(raw), 8):
        tag, perm, ident = struct.unpack_from("<HHI", raw, offset)
        entries.append(AclEntry(tag, perm, None if ident == _ACL_UNDEFINED_ID else ident))
    return tuple(entries)


def read_acl(path: str) -> Optional[tuple]:
    """The access ACL of path (no symlink followed), or None when it has none beyond its mode bits."""
    try:
        raw = os.getxattr(path, _ACL_XATTR, follow_symlinks=False)
    except (OSError, AttributeError):
        return None
    return decode_acl(raw)


def class_bits(owner: int, group: int, mode: int, uid: int, groups) -> int:
    """The rwx bits (in the low 3) that apply to uid: owner's, else group's, else other's (chmod(1))."""
    if owner == uid:
        return mode >> 6
    if group in groups:
        return mode >> 3
    return mode


def permits(st: os.stat_result, acl: Optional[tuple], uid: int, groups, want: int) -> tuple[bool, Optional[str]]:
    """Whether uid (with groups) gets `want` (rwx bits, 4/2/1) on an inode; and the ACL entry that decided,
    when an ACL did. Mirrors the kernel's posix_acl_permission(); root bypasses (CAP_DAC_OVERRIDE)."""
    if uid == 0:
        return True, None
    mode = st.st_mode
    if not acl:
        return (class_bits(st.st_uid, st.st_gid, mode, uid, groups) & want) == want, None
    mask = next((e.perm for e in acl if e.tag == _ACL_MASK), 7)
    for entry in acl:
        if entry.tag == _ACL_USER_OBJ and st.st_uid == uid:
            return (entry.perm & want) == want, None
    for entry in acl:
        if entry.tag == _ACL_USER and entry.id == uid:
            return (entry.perm & mask & want) == want, entry.text()
    matched = None
    for entry in acl:
        if (entry.tag == _ACL_GROUP_OBJ and st.st_gid in groups) or (entry.tag == _ACL_GROUP and entry.id in groups):
            if (entry.perm & mask & want) == want:
                return True, None
            matched = matched or entry
    if matched is not None:
        return False, matched.text()
    other = next((e.perm for e in acl if e.tag == _ACL_OTHER), 0)
    return (other & want) == want, None


def inode_flags(path: str) -> Optional[int]:
    """The ext2-style inode flags (chattr) of path, read with FS_IOC_GETFLAGS on an O_NOFOLLOW fd."""
    import fcntl
    import struct

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, b"\0" * 8)
        return struct.unpack_from("<i", buf)[0]
    except OSError:
        return None  # tmpfs before 6.0, procfs, NFS: no such flags
    finally:
        os.close(fd)


# --- mounts and free space ----------------------------------------------------------------------------


@record
class MountFacts:
    """The filesystem a path lies on: its mount (the mount table) and statvfs, as the user sees it."""

    path: str
    mountpoint: Optional[str]
    device: Optional[str]
    fstype: Optional[str]
    options: tuple
    read_only: bool
    noexec: bool
    free_bytes: Optional[int]  # what the user may still use (f_bavail; f_bfree for root)
    total_bytes: Optional[int]
    free_inodes: Optional[int]
    total_inodes: Optional[int]


def _unescape_mount(text: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as \040 \011 \012 \134 (fstab(5)).
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


_PARTITIONS: list = []


def _partitions() -> list:
    """The mount table, read once per process (a check asks for several paths): (device, mountpoint,
    fstype, opts) rows. On Linux straight from /proc/self/mounts, which is what psutil.disk_partitions(all=True)
    parses too, without psutil's import cost (~15 ms of a 100 ms budget); psutil elsewhere."""
    if not _PARTITIONS:
        rows: list = []
        try:
            with open("/proc/self/mounts", "rb") as table:
                for line in table.read().decode("utf-8", "surrogateescape").splitlines():
                    fields = line.split()
                    if len(fields) >= 4:
                        rows.append((fields[0], fields[1], fields[2], fields[3]))
        except OSError:
            try:
                import psutil

                rows = [(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(all=True)]
            except Exception:  # noqa: BLE001 - no mount table: statvfs still answers for ro and free space
                rows = []
        _PARTITIONS.append(rows)
    return _PARTITIONS[0]


def mounts_below(root: str) -> frozenset:
    """(st_dev, st_ino) of every mount whose mount point lies strictly below root (a real path), from
    /proc/self/mountinfo (proc(5)). A bind mount of a directory of the same filesystem keeps st_dev, so a
    walk that compares devices alone would enter it; comparing inodes too still finds it after an ancestor
    was renamed. A mount point that cannot be read is not in the set (its dev/ino are unknown)."""
    prefix = root.rstrip("/") + "/"
    found = set()
    try:
        with open("/proc/self/mountinfo", "rb") as table:
            lines = table.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = _unescape_mount(fields[4])
        if not point.startswith(prefix):
            continue
        try:
            st = os.lstat(point)
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return frozenset(found)


def mount_of(path: str, uid: int) -> MountFacts:
    """The mount holding `path` (an existing path): the longest mountpoint prefix, the last one mounted wins."""
    mountpoint = device = fstype = None
    options: tuple = ()
    partitions = _partitions()
    real = os.path.realpath(path)
    best = -1
    for part_device, part_point, part_type, part_opts in partitions:
        point = _unescape_mount(part_point)
        prefix = point.rstrip("/") + "/"
        if (real == point or real.startswith(prefix) or point == "/") and len(point) >= best:
            best = len(point)
            mountpoint, device, fstype = point, _unescape_mount(part_device), part_type
            options = tuple(part_opts.split(",")) if part_opts else ()
    free = total = ffree = ftotal = None
    read_only = "ro" in options
    noexec = "noexec" in options
    try:
        sv = os.statvfs(real)
        free = (sv.f_bfree if uid == 0 else sv.f_bavail) * sv.f_frsize
        total = sv.f_blocks * sv.f_frsize
        ffree = sv.f_ffree if uid == 0 else sv.f_favail
        ftotal = sv.f_files
        read_only = read_only or bool(sv.f_flag & os.ST_RDONLY)
        noexec = noexec or bool(sv.f_flag & getattr(os, "ST_NOEXEC", 8))
    except OSError:
        pass
    return MountFacts(real, mountpoint, device, fstype, options, read_only, noexec, free, total, ffree, ftotal)


# --- one directory pip will write -------------------------------------------------------------------


@record
class DirFacts:
    """A directory pip writes (the cache root, wheels/, http-v2/...) or, if it does not exist yet, the
    nearest existing ancestor pip would have to create it in, as the user sees it."""

    path: str  # the directory pip writes
    existing: Optional[str]  # the deepest path of it the user can reach (path itself when it exists)
    kind: str  # of `existing`: "dir", "file", "symlink", "other", "missing"
    owner: Optional[Owner]
    mode: Optional[int]
    writable: bool  # the user can create entries in `existing` (w and x), all causes included
    mode_writable: bool  # what owner and mode bits alone say
    acl: tuple  # the ACL's entries as getfacl prints them, when it has one
    acl_denies: Optional[str]  # the ACL entry that refuses the write, when the ACL is the cause
    immutable: bool
    append_only: bool
    blocked_at: Optional[str]  # an ancestor the user cannot traverse (x), when one stops the path


def _lstat(path: str):
    try:
        return os.lstat(path), None
    except OSError as error:
        return None, error


def _kind(st) -> str:
    if st is None:
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISREG(st.st_mode):
        return "file"
    return "other"


def _reach(path: str, account: Account) -> tuple[Optional[str], Optional[os.stat_result], Optional[str]]:
    """Walk down from / to `path` as the user would: the deepest existing prefix, its lstat, and the
    ancestor the user cannot traverse (no x) if one stops the way."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    st, _ = _lstat(current)
    if st is None:
        return None, None, None
    for part in parts:
        acl = read_acl(current) if not account.is_self else None
        if account.is_self:
            traversable = os.access(current, os.X_OK)
        else:
            traversable, _ = permits(os.stat(current), acl, account.uid, account.groups, 1)
        if not traversable:
            return current, st, current
        child = os.path.join(current, part)
        child_st, error = _lstat(child)
        if child_st is None:
            return current, st, None
        if stat.S_ISLNK(child_st.st_mode):
            # A link inside the path is followed by the kernel; pip resolved the path with realpath first,
            # so only a dangling or looping link is left here, and pip stops at it (os.path.lexists).
            return child, child_st, None
        current, st = child, child_st
    return current, st, None


def dir_facts(path: str, account: Account, mount: Optional[MountFacts] = None) -> DirFacts:
    existing, st, blocked_at = _reach(path, account)
    kind = _kind(st)
    owner = owner_of(st) if st is not None else None
    mode = stat.S_IMODE(st.st_mode) if st is not None else None
    acl_entries: tuple = ()
    acl_denies = None
    immutable = append_only = False
    mode_writable = writable = False
    if st is not None and kind == "dir":
        flags = inode_flags(existing)
        if flags is not None:
            immutable, append_only = bool(flags & _FS_IMMUTABLE_FL), bool(flags & _FS_APPEND_FL)
        acl = read_acl(existing)
        if acl:
            acl_entries = tuple(e.text() for e in acl)
        mode_writable, _ = permits(st, None, account.uid, account.groups, 3)
        if account.is_self:
            writable = os.access(existing, os.W_OK | os.X_OK)
            if acl and not writable:
                _, acl_denies = permits(st, acl, account.uid, account.groups, 3)
        else:
            allowed, acl_denies = permits(st, acl, account.uid, account.groups, 3)
            read_only = mount.read_only if mount is not None else False
            writable = allowed and not immutable and not read_only
        if acl_denies is not None and mode_writable is False and not acl:
            acl_denies = None
    elif st is not None and kind == "file":
        # pip's own test on a non-directory is access(W_OK) on it (then makedirs fails): keep that answer
        mode_writable, _ = permits(st, read_acl(existing), account.uid, account.groups, 2)
    return DirFacts(path, existing, kind, owner, mode, writable and blocked_at is None, mode_writable,
                    acl_entries, acl_denies, immutable, append_only, blocked_at)


def pip_keeps_cache(root: DirFacts, account: Account) -> bool:
    """pip's own test before it uses a cache (pip/_internal/utils/filesystem.py check_path_owner):
    the nearest existing path must be owned by uid 0 (opened O_NOFOLLOW) as root, writable otherwise."""
    if root.existing is None:
        return False
    if account.uid == 0:
        return root.kind != "symlink" and root.owner is not None and root.owner.uid == 0
    if account.is_self:
        return os.access(root.existing, os.W_OK)
    if root.kind == "symlink":
        return True  # access() follows the link; its target decides, which a dangling link never passes
    return root.writable or (root.kind != "dir" and root.mode_writable)


# --- the walk over the whole cache ------------------------------------------------------------------


@record
class Subtree:
    """A foreign-owned entry and everything below it that is foreign too: one line in the report. The hazard
    counts cover every entry below it, whoever owns it: what a `chown -R` of it would also reach."""

    path: str
    owner: Owner
    mode: int
    is_dir: bool
    entries: int
    size: int
    mount_points: int = 0
    hard_links: int = 0
    specials: int = 0


@record
class CacheWalk:
    """Counts over every entry below the cache root (lstat only: a symlink is counted, never followed)."""

    root: str
    entries: int
    dirs: int
    files: int
    symlinks: int
    size: int
    foreign_entries: int  # owned by another uid than the cache's user
    foreign_size: int
    foreign_dirs_unwritable: int  # of those, directories the user cannot write into
    foreign_owners: tuple  # ((Owner, entries), ...) most entries first
    foreign_areas: tuple  # (("wheels", entries, size), ...): per top-level subdirectory
    foreign_subtrees: tuple  # Subtree samples, the first SAMPLES met
    foreign_subtree_count: int
    group_only_entries: int  # the user's own uid, but a group the user is not in
    unwritable_own: tuple  # the user's own directories it cannot write into (mode): samples
    unwritable_own_count: int
    unreadable: tuple  # (path, Owner or None): directories the walk could not list (EACCES): samples
    unreadable_count: int
    other_mounts: tuple  # mount points (another filesystem, or a bind mount), not entered (as find -xdev)
    errors: int  # entries not reached for another reason than EACCES (vanished, ELOOP, EMFILE...)
    # What a `chown -R` or `rm -rf` would cross or reach beyond the cache, anywhere below the root: mount points
    # (directories or files, bind mounts included), non-directories with other names (st_nlink > 1), and
    # devices, FIFOs and sockets (pip makes none of them).
    mount_points: int = 0
    hard_links: int = 0
    specials: int = 0
    hazards: tuple = ()  # (path, "mount point" | "hard link" | "special file"): samples
    # Entries the walk could not reach, and why: ((errno name, count), ...) most first, EACCES included; and
    # (path, errno name) samples. Nothing below them is counted.
    not_reached: tuple = ()
    not_reached_samples: tuple = ()
    # Top-level entries named like `pipdoctor fix`'s moved-aside copies (wheels.pipdoctor-<time>): pip never reads
    # them, so they are not counted; a `chown -R` or `rm -rf` of the root still reaches into them, and their
    # names are the user's to choose, so the gate must not call such a command safe on these counts.
    moved_aside_skipped: int = 0

    @property
    def not_reached_count(self) -> int:
        return sum(count for _, count in self.not_reached)


# linux/limits.h PATH_MAX 4096 (with its NUL), less NAME_MAX 255 for a child's name and its slash.
_NEAR_PATH_MAX = 4096 - 1 - 256
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class _DeepOpener:
    """Opens a directory whose path is longer than PATH_MAX (where opendir() fails with ENAMETOOLONG) one
    component at a time with openat(O_NOFOLLOW), from the last one it opened when it lies below (a depth-first
    walk then pays one open per directory), else from the root; the result must be the inode the walk saw."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") or "/"
        self.path: Optional[str] = None
        self.fd: Optional[int] = None

    def open(self, path: str, seen: os.stat_result) -> int:
        if self.path is not None and path.startswith(self.path + "/"):
            base, fd = self.path, self.fd
        else:
            base, fd = self.root, os.open(self.root, _O_DIR)
        try:
            for part in path[len(base) + 1:].split("/"):
                child = os.open(part, _O_DIR, dir_fd=fd)
                if fd != self.fd:
                    os.close(fd)
                fd = child
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino):
                raise OSError(errno.ESTALE, "replaced while walked", path)
        except OSError:
            if fd != self.fd:
                os.close(fd)
            raise
        self.close()
        self.path, self.fd = path, fd
        return fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.path = self.fd = None


def walk_cache(root: str, uid: int, groups, *, check_modes: bool = True, skip_moved_aside: bool = True) -> CacheWalk:
    """One pass over the cache with os.scandir and an explicit stack (no recursion, no os.walk).

    Every entry costs one lstat, which find(1) also pays for `! -uid N`; nothing is followed. Memory stays
    flat: counters, and at most SAMPLES paths per kind of problem. A directory past PATH_MAX is listed through
    a dir fd (_DeepOpener), so no entry goes uncounted: it is counted, or reported as not reached.
    """
    groups = frozenset(groups)
    check_modes = check_modes and uid != 0
    try:
        root_dev = os.lstat(root).st_dev
    except OSError:
        root_dev = None
    n_entries = n_dirs = n_files = n_links = total = 0
    foreign = foreign_size = foreign_unwritable = group_only = errors = moved_aside_skipped = 0
    owners: dict = {}
    areas: dict = {}
    # [path, uid, gid, mode, is_dir, entries, size, mount points, hard links, specials]
    subtrees: list = []
    subtree_count = 0
    unwritable: list = []
    unwritable_count = 0
    unreadable: list = []
    unreadable_count = 0
    other_mounts: list = []
    hazard_counts = [0, 0, 0]  # mount points, hard links, specials (the indexes 7, 8, 9 of a subtree sample)
    hazards: list = []
    reasons: dict = {}
    reason_samples: list = []
    deep = _DeepOpener(root)

    def not_reached(path: str, error: OSError) -> None:
        name = errno.errorcode.get(error.errno, "error") if error.errno else "error"
        reasons[name] = reasons.get(name, 0) + 1
        if len(reason_samples) < SAMPLES:
            reason_samples.append((path, name))

    def hazard(path: str, kind: int, top: int) -> None:
        hazard_counts[kind] += 1
        if top >= 0:
            subtrees[top][7 + kind] += 1
        if len(hazards) < SAMPLES:
            hazards.append((path, ("mount point", "hard link", "special file")[kind]))

    # Bind mounts below the root (same device): not entered either. Their inodes, for a cheap test per directory.
    mounts = mounts_below(os.path.realpath(root)) if root_dev is not None else frozenset()
    mount_inos = frozenset(ino for dev, ino in mounts if dev == root_dev)
    # (path, area name, subtree index: -1 none, -2 foreign but not sampled, >= 0 into `subtrees`, its lstat)
    stack = [(root, None, -1, None)]
    pop, push = stack.pop, stack.append
    S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
    try:
        while stack:
            path, area, top, seen = pop()
            try:
                # Near PATH_MAX a child's path would not fit (DirEntry.stat() stats by path): list by dir fd.
                if seen is not None and (len(path) > _NEAR_PATH_MAX or not path.isascii() and
                                         len(os.fsencode(path)) > _NEAR_PATH_MAX):
                    iterator = os.scandir(deep.open(path, seen))
                else:
                    iterator = os.scandir(path)
            except PermissionError as error:
                unreadable_count += 1
                not_reached(path, error)
                if len(unreadable) < SAMPLES:
                    try:
                        denied = os.lstat(path)
                        unreadable.append((path, owner_of_ids(denied.st_uid, denied.st_gid)))
                    except OSError:
                        unreadable.append((path, None))
                continue
            except OSError as error:
                try:
                    if error.errno != errno.ENAMETOOLONG or seen is None:
                        raise
                    iterator = os.scandir(deep.open(path, seen))
                except OSError as error:
                    errors += 1
                    not_reached(path, error)
                    continue
            prefix = path.rstrip("/") + "/"
            with iterator:
                for entry in iterator:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError as error:
                        errors += 1
                        not_reached(prefix + entry.name, error)
                        continue
                    if skip_moved_aside and area is None and MOVED_ASIDE in entry.name:
                        moved_aside_skipped += 1
                        continue  # moved aside by `pipdoctor fix` (wheels.pipdoctor-<time>): pip never reads it
                    n_entries += 1
                    mode = st.st_mode
                    fmt = mode & S_IFMT
                    size = st.st_size
                    total += size
                    entry_area = area if area is not None else entry.name
                    entry_top = top
                    if st.st_uid != uid:
                        foreign += 1
                        foreign_size += size
                        key = (st.st_uid, st.st_gid)
                        owners[key] = owners.get(key, 0) + 1
                        counts = areas.get(entry_area)
                        if counts is None:
                            areas[entry_area] = [1, size]
                        else:
                            counts[0] += 1
                            counts[1] += size
                        if top == -1:
                            subtree_count += 1
                            if len(subtrees) < SAMPLES:
                                subtrees.append([prefix + entry.name, st.st_uid, st.st_gid, mode & 0o7777,
                                                 fmt == S_IFDIR, 1, size, 0, 0, 0])
                                entry_top = len(subtrees) - 1
                            else:
                                entry_top = -2
                        elif top >= 0:
                            sample = subtrees[top]
                            sample[5] += 1
                            sample[6] += size
                    elif check_modes and st.st_gid not in groups:
                        group_only += 1
                    if fmt == S_IFDIR:
                        n_dirs += 1
                        if st.st_dev != root_dev or st.st_ino in mount_inos:
                            if len(other_mounts) < SAMPLES:
                                other_mounts.append(prefix + entry.name)
                            hazard(prefix + entry.name, 0, entry_top)
                            continue
                        if check_modes:
                            if class_bits(st.st_uid, st.st_gid, mode, uid, groups) & 3 != 3:
                                if st.st_uid == uid:
                                    unwritable_count += 1
                                    if len(unwritable) < SAMPLES:
                                        unwritable.append(prefix + entry.name)
                                else:
                                    foreign_unwritable += 1
                        push((prefix + entry.name, entry_area, entry_top, st))
                        continue
                    if fmt == S_IFREG:
                        n_files += 1
                    elif fmt == S_IFLNK:
                        n_links += 1
                    else:
                        hazard(prefix + entry.name, 2, entry_top)
                    if st.st_nlink > 1:
                        hazard(prefix + entry.name, 1, entry_top)
                    if st.st_dev != root_dev or (mount_inos and st.st_ino in mount_inos):
                        hazard(prefix + entry.name, 0, entry_top)  # a file bind-mounted onto a cache entry
    finally:
        deep.close()
    owner_list = sorted(owners.items(), key=lambda item: -item[1])
    merged: dict = {}
    for (o_uid, o_gid), count in owner_list:
        merged[(o_uid, o_gid)] = (owner_of_ids(o_uid, o_gid), count)
    return CacheWalk(
        root, n_entries, n_dirs, n_files, n_links, total, foreign, foreign_size, foreign_unwritable,
        tuple(merged.values()),
        tuple((name, c[0], c[1]) for name, c in sorted(areas.items(), key=lambda item: -item[1][0])),
        tuple(Subtree(p, owner_of_ids(u, g), m, d, n, s, mp, hl, sp) for p, u, g, m, d, n, s, mp, hl, sp in subtrees),
        subtree_count, group_only, tuple(unwritable), unwritable_count, tuple(unreadable), unreadable_count,
        tuple(other_mounts), errors, hazard_counts[0], hazard_counts[1], hazard_counts[2], tuple(hazards),
        tuple(sorted(reasons.items(), key=lambda item: -item[1])), tuple(reason_samples), moved_aside_skipped,
    )


# --- the temp dir ------------------------------------------------------------------------------------


@record
class TempDirFacts:
    path: str
    source: str  # "TMPDIR", "TEMP", "TMP", "default"
    exists: bool
    is_dir: bool
    writable: bool
    owner: Optional[Owner]
    mode: Optional[int]
    mount: Optional[MountFacts]


@record
class TempFacts:
    """Python's tempfile candidates (TMPDIR, TEMP, TMP, then /tmp, /var/tmp, /usr/tmp) as the user sees
    them; `chosen` is the first usable one, the dir pip and its build backends will unpack into."""

    candidates: tuple  # TempDirFacts, in tempfile's order (the environment's first)
    chosen: Optional[TempDirFacts]


def temp_facts(account: Account) -> TempFacts:
    # tempfile._candidate_tempdir_list(): TMPDIR, TEMP, TMP, then /tmp, /var/tmp, /usr/tmp (then the cwd).
    env = account.environ
    seen, candidates = set(), []
    for source, path in [(n, env.get(n)) for n in ("TMPDIR", "TEMP", "TMP")] + [
            ("default", p) for p in ("/tmp", "/var/tmp", "/usr/tmp")]:
        if not path or path in seen:
            continue
        seen.add(path)
        try:
            absolute = os.path.abspath(path)  # a relative TMPDIR in a deleted cwd: os.getcwd() fails
            st = os.stat(absolute)
        except (OSError, ValueError):
            absolute, st = path, None
        if st is None and source == "default":
            continue
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        writable = False
        mount = None
        if is_dir:
            mount = mount_of(absolute, account.uid)
            if account.is_self:
                writable = os.access(absolute, os.W_OK | os.X_OK)
            else:
                writable, _ = permits(st, read_acl(absolute), account.uid, account.groups, 3)
                writable = writable and not mount.read_only
        candidates.append(TempDirFacts(absolute, source, st is not None, is_dir, writable,
                                       owner_of(st) if st is not None else None,
                                       stat.S_IMODE(st.st_mode) if st is not None else None, mount))
    chosen = next((c for c in candidates if c.writable), None)
    return TempFacts(tuple(candidates), chosen)


# --- all the facts for one account ---------------------------------------------------------------------


@record
class CheckFacts:
    """Everything `pipdoctor check` knows about one account's pip cache: the input of checker.check()."""

    account: Account
    home: HomeFacts
    launch: Optional[Launch]  # only for the user running the check (sudo's variables are its own)
    cache_path: Optional[str]  # as pip uses it (realpath), None when the cache is off
    # as configured, when a symlink on it (the root itself, or a dir between HOME and the root) makes it
    # differ from cache_path; a HOME reached through a symlink does not count (symlink_below_home)
    cache_configured: Optional[str]
    cache_disabled: bool
    cache_source: str
    root: Optional[DirFacts]
    subdirs: tuple  # DirFacts of wheels/, http-v2/ (and http/, selfcheck/ when they exist)
    pip_keeps_cache: bool  # pip's own check_path_owner() verdict
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


@record
class MovedAside:
    """A copy `pipdoctor fix` moved out of pip's sight (wheels.pipdoctor-<stamp> in the cache, pip.pipdoctor-<stamp>
    beside it): pip never reads it again, and when its entries are root's only root can delete it."""

    path: str
    owner: Owner
    walk: Optional[CacheWalk]  # its entries, size and what an rm -rf would cross; None for a file


def moved_aside_copies(cache: str, uid: int, groups) -> tuple:
    """The moved-aside copies at the top of the cache and beside it (named after the cache), the first SAMPLES
    by name; each walked like the cache (lstat only, never followed, mount points not entered). A symlink
    with such a name is not pipdoctor's and is left out."""
    parent, name = os.path.split(cache.rstrip("/"))
    found = []
    for where, wanted in ((cache, None), (parent or "/", name + MOVED_ASIDE)):
        try:
            names = os.listdir(where)
        except OSError:
            continue
        for entry in names:
            if (MOVED_ASIDE in entry) if wanted is None else entry.startswith(wanted):
                found.append(os.path.join(where, entry))
    copies = []
    for path in sorted(found)[:SAMPLES]:
        st, _ = _lstat(path)
        if st is None or stat.S_ISLNK(st.st_mode):
            continue
        # every name inside a copy is walked: its hazards decide whether its `rm -rf` may be called safe
        walked = (walk_cache(path, uid, groups, check_modes=False, skip_moved_aside=False)
                  if stat.S_ISDIR(st.st_mode) else None)
        copies.append(MovedAside(path, owner_of(st), walked))
    return tuple(copies)


def sudo_keeps_home(account: Account, home: HomeFacts, launch: Optional[Launch]) -> bool:
    """Root, started by sudo (SUDO_UID set), with HOME still the invoking user's home."""
    if account.uid != 0 or launch is None or launch.sudo_uid in (None, 0) or not home.path:
        return False
    if launch.sudo_home and os.path.normpath(launch.sudo_home) == os.path.normpath(home.path):
        return True
    return home.owner is not None and home.owner.uid == launch.sudo_uid


def symlink_below_home(path: str, homes) -> Optional[str]:
    """The first symlink on the absolute, normalized `path` as configured (lstat of each component from /,
    nothing followed), leaving out the components of the HOME it lies in: a HOME reached through a symlink
    (/home/u -> /data/u) is how the machine is set up; a link below it (~/.cache/pip -> elsewhere), or on a
    cache outside every HOME, points the cache at a directory pip's user does not own as a cache."""
    tops = [os.path.normpath(h) for h in homes if h and os.path.isabs(h) and os.path.normpath(h) != "/"]
    skip = max((len(top) for top in tops if under(path, top)), default=0)
    current = ""
    for part in [p for p in path.split("/") if p]:
        current += "/" + part
        if len(current) <= skip:
            continue
        st, _ = _lstat(current)
        if st is None:
            return None
        if stat.S_ISLNK(st.st_mode):
            return current
    return None


def alternate_cache_for(account: Account, home: HomeFacts, cache_path: Optional[str]) -> Optional[str]:
    """A fresh cache dir the user could create (for a `--cache-dir` fix): beside the cache, else in HOME."""
    candidates = []
    xdg = account.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        candidates.append(os.path.join(xdg, "pip-fresh"))
    if home.path and os.path.isabs(home.path):
        candidates += [os.path.join(home.path, ".cache", "pip-fresh"), os.path.join(home.path, "pip-cache")]
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


def other_home_holding(path: str, uid: int) -> Optional[str]:
    """The passwd home of an account other than uid that is path or one of its ancestors (below /): each
    existing one is asked whose it is (its owner's passwd entry), so no account list is read (LDAP can be huge)."""
    current = os.path.normpath(path)
    while current != "/":
        try:
            owner = os.lstat(current).st_uid
        except OSError:
            owner = None
        if owner is not None and owner != uid:
            entry = _passwd(owner)
            if entry is not None and os.path.normpath(entry.pw_dir or "/") == current:
                return current
        current = os.path.dirname(current)
    return None


def collect_check_facts(account: Account, cache_path: Optional[str], disabled: bool, source: str, *,
                        walk: bool = True, pip_version: Optional[str] = None,
                        pip_error: Optional[str] = None, configured: Optional[str] = None) -> CheckFacts:
    """Read everything the checker judges, for `account` and the cache dir pip would use (`configured`:
    that dir before symlinks were resolved)."""
    home = home_facts(account)
    launch = launch_facts(account.environ) if account.is_self else None
    owner_uid, owner_gid = account.uid, account.gid
    if sudo_keeps_home(account, home, launch):
        owner_uid = launch.sudo_uid
        owner_gid = launch.sudo_gid if launch.sudo_gid is not None else (home.owner.gid if home.owner else 0)
    temp = temp_facts(account)
    if disabled or not cache_path:
        return CheckFacts(account, home, launch, None, None, True, source, None, (), False, None, None, temp,
                          None, owner_uid, owner_gid, False, pip_version, pip_error)
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
        for name in PIP_WRITES:
            sub = os.path.join(real, name)
            if name in _ALWAYS_WRITTEN or os.path.lexists(sub):
                sub_facts = dir_facts(sub, account, mount)
                if sub_facts.existing != root.existing:
                    subdirs.append(sub_facts)
    if mount is not None and not mount.read_only:
        # A read-only mount below the root (a bind mount on wheels/, same device): pip's writes meet it first.
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
            entry = _passwd(owner_uid)
            try:
                scan_groups = os.getgrouplist(entry.pw_name, owner_gid) if entry else [owner_gid]
            except OSError:
                scan_groups = [owner_gid]
        if root.kind == "dir" and root.existing == real:
            scan = walk_cache(real, owner_uid, scan_groups, check_modes=owner_uid != 0)
        # Also when the cache itself was moved aside and pip has not made a new one yet.
        aside = moved_aside_copies(real, owner_uid, scan_groups)
    nfs = bool(mount and mount.fstype and mount.fstype.startswith("nfs"))
    parent = dir_facts(os.path.dirname(real), account) if real != "/" else None
    return CheckFacts(account, home, launch, real, configured if configured != real else None, False, source,
                      root, tuple(subdirs), pip_keeps_cache(root, account), mount, scan, temp,
                      alternate_cache_for(account, home, real), owner_uid, owner_gid, nfs, pip_version, pip_error,
                      other_home_holding(real, owner_uid), parent, aside)


# --- which pip the user would run ----------------------------------------------------------------------


@record
class InstalledPip:
    """The pip a user would run (runner.pip_command's choice): its Python's prefix and pip's version."""

    command: str
    prefix: Optional[str]  # sys.prefix of its Python: where its site pip.conf lives
    version: Optional[str]


def _shebang_python(script: str) -> Optional[str]:
    from pipdoctor.userfiles import read_head

    first = read_head(script, 512).split(b"\n", 1)[0]  # a FIFO named pip on PATH must not hang the check
    if not first.startswith(b"#!"):
        return None
    words = first[2:].strip().split()
    if not words:
        return None
    if os.path.basename(words[0]) == b"env" and len(words) > 1:
        return None  # `#!/usr/bin/env python3`: PATH decides, leave it to the caller's prefix guess
    return os.fsdecode(words[0]) if b"python" in os.path.basename(words[0]) else None


def installed_pip(environ: Mapping[str, str]) -> Optional[InstalledPip]:
    """Find the user's pip without running it (a Python start-up costs more than this whole check):
    the prefix from the interpreter's path, the version from pip's .dist-info directory name."""
    import glob

    python = environ.get("PIPDOCTOR_PYTHON")
    command = python
    if not python:
        from pipdoctor.runner import users_pip_on_path

        pip = users_pip_on_path(environ)
        if not pip:
            return None
        command = pip
        python = _shebang_python(pip) or os.path.join(os.path.dirname(pip), "python")
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    version = None
    patterns = [os.path.join(prefix, "lib", "python3*", "site-packages", "pip-*.dist-info"),
                os.path.join(prefix, "lib", "python3*", "dist-packages", "pip-*.dist-info"),
                os.path.join(prefix, "lib", "python3", "dist-packages", "pip-*.dist-info")]
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            version = os.path.basename(found[-1])[len("pip-"):-len(".dist-info")]
            break
    from pipdoctor.usersite import user_site_pip_version

    version = user_site_pip_version(python, prefix, environ) or version  # `pip install --user pip` runs first
    return InstalledPip(command, prefix, version)
