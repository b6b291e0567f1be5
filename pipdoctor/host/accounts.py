"""Whose files these are and who runs the installer: passwd accounts, the HOME `~` expands to, how root was reached
(sudo, su, a container)."""

from __future__ import annotations

import os
import stat
from typing import Mapping, Optional

from pipdoctor.records import record
from pipdoctor.safety import under


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


def passwd_entry(uid: int):
    import pwd

    try:
        return pwd.getpwuid(uid)
    except KeyError:
        return None


def self_account(environ: Mapping[str, str]) -> Account:
    """The user running this process, with its own environment."""
    uid, gid = os.geteuid(), os.getegid()
    entry = passwd_entry(uid)
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
        entry = passwd_entry(int(name)) if name.isascii() and name.isdigit() else None
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
            entry = passwd_entry(owner.uid)
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
        entry = passwd_entry(sudo_uid)
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
        try:
            st = os.lstat(current)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return current
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
            entry = passwd_entry(owner)
            if entry is not None and os.path.normpath(entry.pw_dir or "/") == current:
                return current
        current = os.path.dirname(current)
    return None


def passwd_home(uid: Optional[int] = None) -> Optional[str]:
    """The passwd entry's home dir, which os.path.expanduser falls back to when HOME is unset."""
    try:
        import pwd
    except ImportError:  # Windows
        return None
    try:
        return pwd.getpwuid(os.getuid() if uid is None else uid).pw_dir
    except KeyError:
        return None
