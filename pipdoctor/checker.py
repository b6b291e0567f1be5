"""Pure: the facts `pipdoctor check` read (checkfacts.CheckFacts) -> findings, root cause first."""

from __future__ import annotations

from typing import Optional

from pipdoctor.cachewalk import SAMPLES
from pipdoctor.checkfacts import CheckFacts
from pipdoctor.findings import Evidence, Finding, Severity
from pipdoctor.host.accounts import Owner, display_path
from pipdoctor.safety import CHMOD, CHOWN, CHOWN_SKIPPING, CHOWN_TREE, under

# The codes the checker emits, in precedence order (the first finding is the root cause): a read-only or
# full filesystem explains everything under it, a missing or foreign HOME explains the cache under it,
# and a cache pip cannot use explains the silently disabled cache (PD102). Names and severities match the
# log side's where a code has both (rules/pd102..., pd105..., pd106..., pd201..., pd303...).
CODES = (
    ("PD206", "account-unreadable", Severity.ERROR),
    ("PD205", "pip-config-unusable", Severity.ERROR),
    ("PD106", "read-only-filesystem", Severity.ERROR),
    ("PD105", "disk-full", Severity.ERROR),
    ("PD201", "home-missing", Severity.ERROR),
    ("PD203", "no-passwd-entry", Severity.WARNING),
    ("PD204", "sudo-keeps-home", Severity.WARNING),
    ("PD202", "home-foreign-owned", Severity.WARNING),
    ("PD103", "cache-foreign-owned", Severity.ERROR),
    ("PD104", "cache-unwritable", Severity.ERROR),
    ("PD102", "cache-disabled", Severity.WARNING),
    ("PD303", "temp-dir-problem", Severity.ERROR),
    ("PD109", "cache-large", Severity.INFO),
    ("PD110", "moved-aside-copies", Severity.INFO),
)
_NAME = {code: name for code, name, _ in CODES}
_SEVERITY = {code: severity for code, _, severity in CODES}
ORDER = {code: index for index, (code, _, _) in enumerate(CODES)}

# A filesystem with less than this free (for the user) fails pip's next wheel or HTTP response.
FULL_BYTES = 1 << 20
FULL_INODES = 64
# pip's cache grows without bound (it never evicts); past this the check says so (info only).
LARGE_BYTES = 5 << 30
# The values pip's strtobool accepts as "false" (pip/_internal/cli/parser.py): with PIP_NO_CACHE_DIR or
# no-cache-dir in a config file they still turn the cache off (pip >= 19.0, pip issue #5735).
_FALSE_WORDS = ("false", "0", "no", "off", "n", "f")


def _finding(code: str, message: str, why: str = "", paths=(), evidence=(), **facts) -> Finding:
    return Finding(code, _NAME[code], _SEVERITY[code], message=message, why=why,
                   paths=tuple(dict.fromkeys(p for p in paths if p)),
                   evidence=tuple(Evidence(text) for text in evidence if text), facts=facts)


def _why(facts: CheckFacts, falls_back: str, stops: str) -> str:
    """The why of a finding, for an installer that runs on without a cache it cannot write (pip) or one that
    stops (uv: installers/uv/cache.py FALLS_BACK_WITHOUT_CACHE)."""
    return falls_back if facts.installer.falls_back else stops


def size_text(size: int) -> str:
    """1.5 kB, 20.3 MB, 5.1 GB: decimal units, as `pip cache info` prints them."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _count(n: int, word: str, plural: Optional[str] = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _mode(mode: Optional[int]) -> str:
    return f"{mode:04o}" if mode is not None else "?"


def _owner_label(owner: Optional[Owner]) -> str:
    return owner.label if owner is not None else "an unknown owner"


def _mount_text(facts: CheckFacts) -> str:
    mount = facts.mount
    if mount is None or mount.mountpoint is None:
        return ""
    opts = ",".join(mount.options) if mount.options else "?"
    return f"mount: {mount.device} on {mount.mountpoint} type {mount.fstype} ({opts})"


# --- why chown will not help ---------------------------------------------------------------------------


def blockers(facts: CheckFacts) -> list[tuple[str, str, str]]:
    """What stops writes whoever owns the files: (kind, path, evidence). chown cannot cure any of them."""
    found = []
    dirs = [d for d in (facts.root, *facts.subdirs) if d is not None]
    for d in dirs:
        if d.immutable:
            found.append(("immutable", d.existing, f"{display_path(d.existing)} has the immutable flag "
                          "(chattr +i; lsattr shows 'i'): nobody, root included, can create, rename or delete "
                          "entries in it."))
        elif d.append_only:
            found.append(("append-only", d.existing, f"{display_path(d.existing)} has the append-only flag "
                          "(chattr +a): pip cannot replace or delete entries in it."))
        if d.acl_denies:
            found.append(("acl", d.existing, f"the ACL of {display_path(d.existing)} has `{d.acl_denies}`, which "
                          f"denies {facts.account.user or facts.account.uid} the write (getfacl: "
                          f"{', '.join(d.acl)})."))
        if d.blocked_at:
            found.append(("untraversable", d.blocked_at, f"{facts.account.user or facts.account.uid} cannot enter "
                          f"{display_path(d.blocked_at)} (no x permission), so nothing below it is reachable."))
    mount = facts.mount
    if mount is not None and mount.read_only:
        found.append(("read-only", mount.mountpoint or "", f"{display_path(mount.path)} is on a read-only mount: "
                      + _mount_text(facts)))
    if facts.nfs_root_squash_possible and mount is not None:
        found.append(("nfs", mount.mountpoint or "", f"the cache is on NFS ({mount.device}, {mount.fstype}): "
                      "with root_squash, the server's default, root is mapped to nobody and `chown` by root "
                      "fails; the client cannot see the export's options, run chown on the NFS server."))
    unique = {}
    for kind, path, text in found:
        unique.setdefault((kind, path), (kind, path, text))
    return list(unique.values())


# --- the findings ---------------------------------------------------------------------------------------


def check(facts: CheckFacts) -> list[Finding]:
    """Every problem the facts show, root cause first (CODES order among errors and warnings)."""
    findings: list[Finding] = []
    findings += _read_only(facts)
    findings += _disk_full(facts)
    home_missing = _home_missing(facts)
    findings += home_missing
    findings += _no_passwd(facts)
    sudo = _sudo_keeps_home(facts)
    findings += sudo
    home_foreign = _home_foreign(facts) if not sudo else []
    findings += home_foreign
    findings += _foreign_cache(facts)
    findings += _unwritable(facts, explained=bool(home_missing or home_foreign))
    findings += _cache_disabled(facts)
    findings += _temp(facts)
    findings += _temp_locks(facts)
    findings += _large(facts)
    findings += _moved_aside(facts)
    return order([f.but(tool=facts.installer.name) for f in findings])


def order(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity.rank == 2, ORDER.get(f.code, 999)))


# A run's findings that read "the user cannot write the cache": the log's guess at who is to blame.
_OWNERSHIP_GUESSES = ("PD101", "PD102", "PD103", "PD104")
# What an owner or mode change does (safety.py's ops): no cure on a read-only mount.
_OWNER_CHANGES = (CHMOD, CHOWN, CHOWN_TREE, CHOWN_SKIPPING)


def reconcile(from_log, live) -> tuple:
    """A pip run's findings (root cause first) with the live check's read-only mount (PD106) put before an
    ownership guess. pip reports a cache on a read-only mount as one it cannot write (check_path_owner's
    os.access(W_OK) fails with EROFS, pip/_internal/utils/filesystem.py) and disables it: the log then reads
    as PD102, whose chmod or chown cannot work. The mount is a fact; the guesses keep no chmod or chown."""
    mount = [f for f in live if f.code == "PD106"]
    if not mount or not from_log or from_log[0].code not in _OWNERSHIP_GUESSES:
        return tuple(from_log)
    rest = [f.but(fixes=tuple(x for x in f.fixes if not any(op in _OWNER_CHANGES for op, _ in x.touches or ())))
            if f.code in _OWNERSHIP_GUESSES else f for f in from_log if f.code != "PD106"]
    return (*mount, *rest)


def _read_only(facts: CheckFacts) -> list[Finding]:
    mount = facts.mount
    if mount is None or not mount.read_only or facts.cache_path is None:
        return []
    tool = facts.installer.name
    inner = mount.mountpoint and mount.mountpoint != facts.cache_path and under(mount.mountpoint, facts.cache_path)
    where = (f"{display_path(mount.mountpoint)}, inside {tool}'s cache, is a read-only mount ({mount.fstype})"
             if inner else f"{tool}'s cache {display_path(facts.cache_path)} is on a read-only filesystem "
             f"({mount.fstype} mounted on {display_path(mount.mountpoint or mount.path)})")
    return [_finding(
        "PD106",
        where + ".",
        why=_why(facts, "pip writes every wheel it builds and every HTTP response it downloads into its cache; on "
                 "a read-only mount each write fails (wheels: a warning; HTTP responses: silently), whoever owns "
                 "the files. chown will not help: the mount itself refuses writes.",
                 f"{tool} writes its cache's markers and lock at every start and every download, unpacked wheel "
                 f"and build into it; on a read-only mount it stops (uv 0.10.1 and later at start: `Could not "
                 f"acquire lock`, Read-only file system), whoever owns the files, and never runs on without its "
                 f"cache. chown will not help: the mount itself refuses writes."),
        paths=[facts.cache_path, mount.mountpoint],
        evidence=[_mount_text(facts), "statvfs reports the filesystem read-only (ST_RDONLY)."],
        mountpoint=mount.mountpoint,
    )]


def _disk_full(facts: CheckFacts) -> list[Finding]:
    mount = facts.mount
    if mount is None or facts.cache_path is None or mount.read_only:
        return []
    no_space = mount.free_bytes is not None and mount.free_bytes < FULL_BYTES
    no_inodes = bool(mount.total_inodes) and mount.free_inodes is not None and mount.free_inodes < FULL_INODES
    if not (no_space or no_inodes):
        return []
    what = "no space" if no_space else "no free inodes"
    evidence = [_mount_text(facts),
                f"free for {facts.account.user or facts.account.uid}: {size_text(mount.free_bytes or 0)} of "
                f"{size_text(mount.total_bytes or 0)} (statvfs f_bavail)",
                f"free inodes: {mount.free_inodes:,} of {mount.total_inodes:,}" if mount.total_inodes else ""]
    return [_finding(
        "PD105",
        f"The filesystem holding {facts.installer.name}'s cache {display_path(facts.cache_path)} has {what} left "
        f"({mount.fstype} on {display_path(mount.mountpoint or mount.path)}).",
        why=_why(facts, "pip's next wheel or HTTP response will fail with Errno 28 (No space left on device); "
                 "HTTP-cache writes fail silently, so pip just gets slower. chown will not help.",
                 f"{facts.installer.name}'s next download, unpacked wheel or build will fail with os error 28 "
                 f"(No space left on device) and stop the command. chown will not help."),
        paths=[facts.cache_path, mount.mountpoint],
        evidence=evidence,
        mountpoint=mount.mountpoint, inodes=no_inodes and not no_space,
    )]


def _home_missing(facts: CheckFacts) -> list[Finding]:
    home = facts.home
    cache = facts.cache_path
    if home.path is None and facts.pip_error:
        return [_finding(
            "PD201",
            f"HOME is not set and uid {facts.account.uid} has no passwd entry: pip {facts.pip_version or ''} stops "
            "before it uses any cache (\"could not determine the home directory\"); pip before 26.3 would use "
            "a directory literally named `~` in the current directory.".replace("pip  ", "pip "),
            why="Python expands `~` from HOME, else from the passwd entry; with neither, pip has no home at all.",
            evidence=["HOME is unset", f"getent passwd {facts.account.uid}: no entry", f"pip: {facts.pip_error}"],
        )]
    if home.path is None:
        # No HOME and no passwd entry: os.path.expanduser leaves `~` alone, and pip's cache becomes
        # <cwd>/~/.cache/pip (pip/_internal/utils/appdirs.py, normalize_path).
        if cache is None or "/~/" not in cache + "/":
            return []
        return [_finding(
            "PD201",
            f"HOME is not set and uid {facts.account.uid} has no passwd entry, so pip's cache is "
            f"{display_path(cache)}, a directory literally named `~` in the current directory.",
            why="Python expands `~` from HOME, else from the passwd entry; with neither, it stays `~`.",
            paths=[cache],
            evidence=["HOME is unset", f"getent passwd {facts.account.uid}: no entry"],
        )]
    if home.exists or not under(cache, home.path):
        return []
    set_by = "HOME" if home.env is not None else "the passwd entry (HOME is unset)"
    tool = facts.installer.name
    return [_finding(
        "PD201",
        f"HOME ({display_path(home.path)}, from {set_by}) does not exist, so {tool} cannot create its cache "
        f"{display_path(cache)} and " + ("will run without one." if facts.installer.falls_back else
                                          "stops before it does anything (`failed to create directory`)."),
        why=_why(facts, "pip keeps its cache under HOME; with no HOME directory it has nowhere to write and runs "
                 "uncached.", f"{tool} keeps its cache under HOME; with no HOME directory it has nowhere to "
                 f"write, and it never runs without its cache: every command stops (exit 2)."),
        paths=[home.path, cache],
        evidence=[f"HOME={home.env}" if home.env is not None else "HOME is unset",
                  f"passwd home of {facts.account.label}: {facts.account.passwd_home}"
                  if facts.account.passwd_home else "",
                  f"{display_path(home.path)}: No such file or directory"],
        home=home.path,
    )]


def _no_passwd(facts: CheckFacts) -> list[Finding]:
    account = facts.account
    if account.user is not None:
        return []
    evidence = [f"getent passwd {account.uid}: no entry", f"HOME={facts.home.env}" if facts.home.env is not None
                else "HOME is unset"]
    if facts.launch is not None and facts.launch.container:
        evidence.append(f"running in a container ({facts.launch.container}): `docker run --user {account.uid}` "
                        "with a uid the image does not know does this")
    return [_finding(
        "PD203",
        f"uid {account.uid} has no passwd entry: Python cannot find a home for it when HOME is unset, and "
        "tools that look up the user name (getpass, ssh, git) fail.",
        why=("Images and CI runners often start processes as a bare uid; pip then depends entirely on HOME "
             "(and PIP_CACHE_DIR) being set to a directory that uid owns."),
        evidence=evidence,
    )]


def _sudo_keeps_home(facts: CheckFacts) -> list[Finding]:
    launch, home, account = facts.launch, facts.home, facts.account
    if account.uid != 0 or launch is None or launch.sudo_uid in (None, 0) or not home.path:
        return []
    if facts.cache_owner_uid != launch.sudo_uid:
        return []
    user = launch.sudo_user or str(launch.sudo_uid)
    walk = facts.walk
    already = walk.foreign_entries if walk is not None else 0
    tool = facts.installer.name
    if facts.cache_path is not None and not facts.installer.falls_back:
        # uv: no root rule (installers/uv/cache.py HAS_ROOT_RULE), Cache::init writes at every start
        effect = (f"{tool} run as root uses {display_path(facts.cache_path)} as if it were root's and, at every "
                  f"start, writes root-owned entries there (its lock, its markers, the sdists bucket; then what it "
                  f"downloads and builds); {user}'s next {tool} run stops on them (Permission denied, exit 2), "
                  f"it never runs on without its cache.")
    elif facts.cache_path is not None and facts.keeps_cache:
        effect = (f"{tool} run as root uses {display_path(facts.cache_path)} and leaves root-owned wheels and HTTP "
                  f"responses there; {user}'s next {tool} run cannot replace them.")
    elif facts.cache_path is not None:
        effect = (f"pip run as root will disable its cache ({display_path(facts.cache_path)} is {user}'s, not "
                  "root's), and other tools run as root still leave root-owned files in that home.")
    else:
        effect = f"tools run as root leave root-owned files in {user}'s home."
    evidence = [f"euid 0, SUDO_USER={launch.sudo_user or ''} SUDO_UID={launch.sudo_uid}",
                f"HOME={home.path}, the passwd home of {user}" if launch.sudo_home == home.path
                else f"HOME={home.path}, owned by {_owner_label(home.owner)}"]
    if launch.chain:
        evidence.append("process tree (parent first): " + " <- ".join(launch.chain[:6]))
    if already:
        evidence.append(f"already {_count(already, 'entry', 'entries')} in the cache are not "
                        f"owned by {user} (see PD103)")
    return [_finding(
        "PD204",
        f"Running as root under sudo with HOME={display_path(home.path)}, {user}'s home: {effect}",
        why=_why(facts, "sudo kept the invoking user's HOME (sudo's env_keep, or a sudoers without "
                 "always_set_home); pip then treats that user's ~/.cache/pip as root's. This is how root-owned "
                 "caches are made.",
                 f"sudo kept the invoking user's HOME (sudo's env_keep, or a sudoers without always_set_home); "
                 f"{tool} then treats that user's cache as root's, and unlike pip it never checks who owns a cache "
                 f"(no root rule): every `sudo {tool}` with this HOME makes the user's cache root-owned again, and "
                 f"the user's {tool} stops on it instead of running without it."),
        paths=[home.path, facts.cache_path],
        evidence=evidence,
        sudo_user=user, sudo_uid=launch.sudo_uid,
    )]


def _home_foreign(facts: CheckFacts) -> list[Finding]:
    home, account = facts.home, facts.account
    if not home.exists or home.owner is None or home.owner.uid == account.uid:
        return []
    # For root, a HOME owned by someone else does the harm of PD204 without sudo to blame (su -m, a script).
    evidence = [f"{display_path(home.path)}: owner {home.owner.label}, mode {_mode(home.mode)}",
                f"HOME={home.env}" if home.env is not None else "HOME is unset (the passwd home is used)"]
    if home.home_of:
        evidence.append(f"{display_path(home.path)} is the passwd home of {home.home_of}; "
                        f"{account.user or account.uid}'s own is {account.passwd_home}")
    launch = facts.launch
    if launch is not None and launch.via and launch.via != "sudo":
        evidence.append(f"started by {launch.via} (process tree: {' <- '.join(launch.chain[:6])}); "
                        "`su -m`/`su -p` keep the caller's HOME")
    return [_finding(
        "PD202",
        f"HOME ({display_path(home.path)}) is owned by {home.owner.label}, not by {account.label}"
        + (": pip creates its cache under it, as that user's or not at all." if under(facts.cache_path, home.path)
           else "."),
        why=("A HOME owned by someone else is either another account's home (HOME was kept from a su or sudo) "
             "or a home created by root and never handed over; pip as root then fills it with root's files, "
             "pip as the user cannot create ~/.cache in it."),
        paths=[home.path],
        evidence=evidence,
        home=home.path, home_of=home.home_of,
    )]


def shared_cache(facts: CheckFacts) -> bool:
    """A cache dir set up for several users: outside the user's home, owned by someone else, and opened to
    others on purpose (group or other write bits, or an ACL). Its owners are by design; chown is no cure."""
    root = facts.root
    if root is None or facts.cache_path is None or root.existing != facts.cache_path or root.owner is None:
        return False
    if root.owner.uid == facts.cache_owner_uid:
        return False
    if under(facts.cache_path, facts.home.path) or under(facts.cache_path, facts.account.passwd_home):
        return False
    return bool((root.mode or 0) & 0o022) or bool(root.acl)


def _foreign_cache(facts: CheckFacts) -> list[Finding]:
    walk, root = facts.walk, facts.root
    if facts.cache_path is None or root is None or facts.cache_owner_uid == 0 or shared_cache(facts):
        return []
    expected = facts.cache_owner_uid
    root_foreign = root.existing == facts.cache_path and root.owner is not None and root.owner.uid != expected
    count = walk.foreign_entries if walk is not None else 0
    if not root_foreign and not count:
        return []
    cache = display_path(facts.cache_path)
    tool = facts.installer.name
    owner_name = facts.account.user if expected == facts.account.uid else (
        facts.launch.sudo_user if facts.launch else None)
    user = f"{owner_name or '(no passwd entry)'} {expected}:{facts.cache_owner_gid}"
    owners = [f"{o.label} ({_count(n, 'entry', 'entries')})" for o, n in (walk.foreign_owners
                                                                                          if walk else ())]
    if root_foreign and (not walk or count == walk.entries):
        message = (f"{tool}'s whole cache {cache} is owned by {root.owner.label}"
                   + (f" ({_count(count, 'entry', 'entries')}, {size_text(walk.foreign_size)})"
                      if count else "") + f", not by {user}.")
    elif root_foreign:
        message = (f"{tool}'s cache dir {cache} and {_count(count, 'entry', 'entries')} in it "
                   f"({size_text(walk.foreign_size)}) are owned by another user, not by {user}.")
    else:
        message = (f"{_count(count, 'entry', 'entries')} ({size_text(walk.foreign_size)}) in "
                   f"{tool}'s cache {cache} are owned by " + (owners[0].split(" (")[0] if len(owners) == 1 else
                                                              "other users") + f", not by {user}.")
    evidence = []
    if root_foreign:
        evidence.append(f"{cache}: owner {root.owner.label}, mode {_mode(root.mode)}")
    if owners:
        evidence.append("foreign owners: " + ", ".join(owners))
    if walk is not None and walk.foreign_areas:
        evidence.append("where: " + ", ".join(
            f"{display_path(name)}/: {_count(n, 'entry', 'entries')} ({size_text(size)})"
            for name, n, size in walk.foreign_areas[:6]))
    for sub in (walk.foreign_subtrees if walk else ()):
        kind = "dir" if sub.is_dir else "file"
        inside = (f", {_count(sub.entries, 'entry', 'entries')}, {size_text(sub.size)}" if sub.is_dir
                  else f", {size_text(sub.size)}")
        evidence.append(f"{display_path(sub.path)} ({kind}, {sub.owner.label}, mode {_mode(sub.mode)}{inside})")
    if walk is not None and walk.foreign_subtree_count > len(walk.foreign_subtrees):
        evidence.append(f"... and {walk.foreign_subtree_count - len(walk.foreign_subtrees):,} more foreign "
                        "subtrees")
    if walk is not None and (walk.mount_points or walk.hard_links or walk.specials):
        counts = [_count(n, word, plural) for n, word, plural in (
            (walk.mount_points, "mount point", None), (walk.hard_links, "file with other hard links",
                                                       "files with other hard links"),
            (walk.specials, "device, FIFO or socket", "devices, FIFOs or sockets")) if n]
        evidence.append("the cache holds " + ", ".join(counts) + ": a `chown -R` would reach through them beyond "
                        "the cache (`pipdoctor fix` skips them): "
                        + ", ".join(f"{display_path(p)} ({kind})" for p, kind in walk.hazards))
    if walk is not None and walk.foreign_dirs_unwritable:
        evidence.append(f"{_count(walk.foreign_dirs_unwritable, 'directory', 'directories')}"
                        f" of these cannot be written by {owner_name or expected}: "
                        + _why(facts, "pip cannot add wheels or HTTP responses there",
                               f"{tool} stops when it must write there"))
    if walk is not None and any(name.startswith("http") for name, _, _ in walk.foreign_areas):
        evidence.append("HTTP-cache write failures never reach pip's log (pip's SafeFileCache swallows them): "
                        "pip only gets slower")
    unreadable = [(p, o) for p, o in (walk.unreadable if walk else ()) if o is None or o.uid != expected]
    if unreadable:
        evidence.append(f"{_count(walk.unreadable_count, 'directory', 'directories')} could "
                        "not be listed (Permission denied), their contents are not counted: "
                        + ", ".join(display_path(p) for p, _ in unreadable[:SAMPLES]))
    blocking = blockers(facts)
    for _, _, text in blocking:
        evidence.append("chown will not help: " + text)
    # chown exactly the foreign subtrees when they are all known, else the whole cache; never above it.
    if root_foreign or walk is None or walk.foreign_subtree_count > len(walk.foreign_subtrees):
        targets = [facts.cache_path]
    else:
        targets = [s.path for s in walk.foreign_subtrees]
    shared = not (under(facts.cache_path, facts.home.path) or (root.owner is not None and root.owner.uid == expected)
                  or under(facts.cache_path, facts.account.passwd_home))
    return [_finding(
        "PD103",
        message,
        why=_why(facts, "These entries were written by another user, almost always root after `sudo pip` kept "
                 "HOME (PD204). pip can read them but cannot add, replace or delete entries in directories it "
                 "does not own: new wheels are not cached (a warning), HTTP responses silently not at all.",
                 f"These entries were written by another user, almost always root after `sudo {tool}` kept HOME "
                 f"(PD204): {tool} has no root rule and writes into whatever cache it is given. {tool} does not "
                 f"fall back to running without a cache: where it must write among them (at every start the "
                 f"cache's .lock and its sdists bucket's .git, then every bucket it fills) it stops with "
                 f"Permission denied (exit 2; uv 0.9 and later: `Failed to initialize cache`) until they are the "
                 f"user's again."),
        paths=[facts.cache_path] + targets,
        evidence=evidence,
        chown=targets, uid=expected, gid=facts.cache_owner_gid, shared=shared,
        blockers=[kind for kind, _, _ in blocking], **_foreign_counts(walk),
    )]


def _foreign_counts(walk) -> dict:
    """PD103's figures as fields for scripts (JSON `facts`), not only in the evidence's prose."""
    if walk is None:
        return {}
    return {"entries": walk.foreign_entries, "size": walk.foreign_size,
            "owners": tuple({"owner": owner, "entries": n} for owner, n in walk.foreign_owners),
            "areas": tuple({"name": name, "entries": n, "size": size} for name, n, size in walk.foreign_areas),
            "subtrees": walk.foreign_subtree_count}


def _unwritable(facts: CheckFacts, explained: bool) -> list[Finding]:
    """Dirs the installer writes that the user cannot write for another reason than a foreign owner, or a cache
    path that is not a directory."""
    root, cache = facts.root, facts.cache_path
    tool = facts.installer.name
    if root is None or cache is None:
        return []
    expected = facts.cache_owner_uid
    problems: list[tuple[str, str]] = []  # (kind, path)
    evidence: list[str] = []
    user = facts.account.user or str(facts.account.uid)
    if root.existing == cache and root.kind != "dir":
        what = {"file": "a file", "symlink": "a dangling or looping symlink", "other": "not a directory"}[root.kind]
        problems.append(("not-a-dir", cache))
        evidence.append(f"{display_path(cache)}: {what}, owner {_owner_label(root.owner)}, mode {_mode(root.mode)}")
    for d in (root, *facts.subdirs):
        if d.writable or d.kind == "missing":
            continue
        if d.existing == cache and d.kind != "dir":
            continue
        creating = d.existing != d.path
        if d.kind != "dir":
            problems.append(("not-a-dir", d.existing))
            evidence.append(f"{display_path(d.existing)}: not a directory ({d.kind}), {tool} needs "
                            f"{display_path(d.path)} to be one")
            continue
        foreign = d.owner is not None and d.owner.uid != expected
        other_cause = d.immutable or d.acl_denies or d.blocked_at or (facts.mount and facts.mount.read_only)
        if foreign and not creating and not other_cause and not shared_cache(facts):
            continue  # PD103 reports it, with its chown
        if creating and explained and under(d.path, facts.home.path) and not under(d.existing, cache):
            continue  # PD201/PD202 say why HOME has no cache in it
        if facts.mount and facts.mount.read_only and not (d.immutable or d.acl_denies or d.blocked_at):
            continue  # PD106
        kind = ("immutable" if d.immutable else "acl" if d.acl_denies else "untraversable" if d.blocked_at
                else "foreign-parent" if creating and foreign else "shared" if foreign else "mode")
        problems.append((kind, d.blocked_at or d.existing))
        head = (f"{tool} must create {display_path(d.path)} in {display_path(d.existing)}" if creating
                else f"{display_path(d.existing)}")
        evidence.append(f"{head}: owner {_owner_label(d.owner)}, mode {_mode(d.mode)}, not writable by {user}")
    walk = facts.walk
    if walk is not None and walk.unwritable_own_count:
        for path in walk.unwritable_own:
            problems.append(("mode", path))
        evidence.append(f"{_count(walk.unwritable_own_count, 'directory', 'directories')} "
                        f"{user} owns lack write permission: "
                        + ", ".join(display_path(p) for p in walk.unwritable_own))
    if walk is not None:
        own_unreadable = [p for p, o in walk.unreadable if o is not None and o.uid == expected]
        for path in own_unreadable:
            problems.append(("unreadable", path))
        if own_unreadable:
            evidence.append(f"{user} cannot list its own " + ", ".join(display_path(p) for p in own_unreadable)
                            + " (no read permission)")
    if not problems:
        return []
    blocking = blockers(facts)
    for _, _, text in blocking:
        if "read-only" in text and facts.mount and facts.mount.read_only:
            continue
        evidence.append("chown will not help: " + text)
    first_kind, first_path = problems[0]
    if first_kind == "not-a-dir":
        message = (f"{tool}'s cache {display_path(first_path)} is not a directory: {tool} cannot create anything "
                   "in it.")
    elif first_kind == "foreign-parent":
        message = (f"{tool} cannot create its cache {display_path(cache)}: {display_path(first_path)} is not "
                   f"writable by {user}.")
    else:
        reason = {"immutable": "it is immutable (chattr +i)", "acl": "an ACL denies it",
                  "untraversable": f"{user} cannot enter it", "mode": "its mode does not allow it",
                  "unreadable": "it cannot be listed",
                  "shared": f"this shared cache gives {user} no write permission"}[first_kind]
        message = f"{user} cannot write {display_path(first_path)}, a directory {tool} writes: {reason}."
    return [_finding(
        "PD104",
        message,
        why=_why(facts, "pip writes into the cache root, wheels/ and http-v2/ on every run.",
                 f"{tool} writes into the cache root (CACHEDIR.TAG, .gitignore, .lock) and its sdists bucket at "
                 f"every start, and stops when it cannot: it never runs on without its cache.")
        + (" The owner is right here, so the cause is the directory's mode, a flag, an ACL, or a directory above "
           "it; chown alone does not change any of those."),
        paths=[cache] + [p for _, p in problems],
        evidence=evidence,
        problems=problems, blockers=[kind for kind, _, _ in blocking],
    )]


def _cache_disabled(facts: CheckFacts) -> list[Finding]:
    if facts.cache_path is None:
        setting = _disabling_setting(facts)
        if setting is None:
            return []
        return [_finding(
            "PD102",
            f"pip's cache is off: {setting} turns it off although it reads as \"keep the cache\".",
            why=("pip (19.0 and later) treats any valid boolean in PIP_NO_CACHE_DIR or no-cache-dir, false and "
                 "0 included, as --no-cache-dir (pip issue #5735). Every install downloads and builds again."),
            evidence=[f"cache decided by: {facts.cache_source}"],
            setting=setting,
        )]
    root = facts.root
    if facts.keeps_cache or root is None:
        return []
    user = facts.account.user or str(facts.account.uid)
    target = display_path(root.existing or facts.cache_path)
    if facts.account.uid == 0:
        rule = (f"{target} is owned by {_owner_label(root.owner)}; pip run as root only uses a cache whose "
                "nearest existing directory is owned by uid 0" + (" and is not a symlink" if root.kind == "symlink"
                                                                   else ""))
    else:
        rule = f"{target} is not writable by {user}; pip only uses a cache whose nearest existing path it can write"
    return [_finding(
        "PD102",
        f"pip will disable its cache and run without one: {rule}.",
        why=("pip checks the cache dir (or its nearest existing parent) before every run "
             "(pip/_internal/utils/filesystem.py check_path_owner) and, when the check fails, warns once and "
             "carries on uncached: slower, and nothing is cached until the cause is fixed."),
        paths=[facts.cache_path, root.existing],
        evidence=[f"nearest existing path: {target} ({root.kind}, owner {_owner_label(root.owner)}, "
                  f"mode {_mode(root.mode)})"],
    )]


def _disabling_setting(facts: CheckFacts) -> Optional[str]:
    """The setting behind a disabled cache, when it is a false-looking value (the trap), else None.

    cache_source spells it `PIP_NO_CACHE_DIR=false` or `no-cache-dir = false in FILE [section]`.
    """
    source = facts.cache_source or ""
    if source.startswith("PIP_") and "=" in source:
        name, value = source.split("=", 1)
    elif " = " in source and " in " in source:
        name, value = source.split(" = ", 1)
        value = value.rsplit(" in ", 1)[0]
    else:
        return None
    if name.strip().lower().replace("_", "-") not in ("pip-no-cache-dir", "no-cache-dir"):
        return None
    return source if value.strip().lower() in _FALSE_WORDS else None


def _temp(facts: CheckFacts) -> list[Finding]:
    temp = facts.temp
    user = facts.account.user or str(facts.account.uid)
    evidence, paths = [], []
    problem = None
    for cand in temp.candidates:
        if cand.source == "default" or cand.writable:
            continue
        if not cand.exists:
            state = "does not exist"
        elif not cand.is_dir:
            state = "is not a directory"
        elif cand.mount is not None and cand.mount.read_only:
            state = "is on a read-only filesystem"
        else:
            state = f"is not writable by {user} (owner {_owner_label(cand.owner)}, mode {_mode(cand.mode)})"
        problem = problem or f"{cand.source}={display_path(cand.path)} {state}"
        evidence.append(f"{cand.source}={display_path(cand.path)} {state}")
        paths.append(cand.path)
    chosen = temp.chosen
    if chosen is None:
        problem = "no usable temporary directory: " + (problem or "/tmp, /var/tmp and /usr/tmp are not writable")
        evidence.append("Python's tempfile tries TMPDIR, TEMP, TMP, /tmp, /var/tmp, /usr/tmp: none is writable")
    else:
        if problem:
            evidence.append(_why(facts, f"Python falls back to {display_path(chosen.path)} for pip itself; "
                                 "compilers and build backends that read TMPDIR fail",
                                 f"{facts.installer.name} does not fall back (Rust's std::env::temp_dir is TMPDIR "
                                 "as set): its unpacking, builds, --no-cache cache and lock files fail there"))
        mount = chosen.mount
        if mount is not None and mount.noexec:
            problem = problem or f"{display_path(chosen.path)} is mounted noexec"
            evidence.append(f"{display_path(chosen.path)} is on a noexec mount ({mount.device} on "
                            f"{mount.mountpoint}, {','.join(mount.options)}): build scripts "
                            f"{facts.installer.name} unpacks there cannot be executed")
            paths.append(chosen.path)
        if mount is not None and mount.free_bytes is not None and mount.free_bytes < FULL_BYTES:
            problem = problem or f"{display_path(chosen.path)} is full"
            evidence.append(f"{display_path(chosen.path)}: {size_text(mount.free_bytes)} free on "
                            f"{mount.mountpoint}")
            paths.append(chosen.path)
    if problem is None:
        return []
    return [_finding(
        "PD303",
        f"{facts.installer.name}'s temporary directory is not usable: {problem}.",
        why=_why(facts, "pip unpacks and builds every sdist in the temp dir (TMPDIR, else /tmp); it must be "
                 "writable, executable and have room.",
                 f"{facts.installer.name} unpacks and builds in the temp dir (TMPDIR, else /tmp), keeps its "
                 "--no-cache cache there and locks system environments and projects there; it must be writable, "
                 "executable and have room."),
        paths=paths,
        evidence=evidence,
        chosen=chosen.path if chosen else None,
    )]


_LOCK_REFUSED = {
    "not writable": "{user} cannot write it",
    "not a file": "it is not a file uv can lock",
}


def _temp_locks(facts: CheckFacts) -> list[Finding]:
    """The installer's lock files in its temp dir that the account cannot open (uv: $TMPDIR/uv-*.lock). Made by
    whoever ran first, as its umask leaves them: one `sudo uv` leaves a lock the next user run stops on (uv
    0.4.30 makes them 0644, later uv 0666)."""
    locks = facts.temp_locks
    if locks is None or not locks.blocked_count:
        return []
    tool = facts.installer.name
    user = facts.account.user or str(facts.account.uid)
    first = locks.blocked[0]
    owners = ", ".join(dict.fromkeys(lock.owner.label for lock in locks.blocked))
    more = locks.blocked_count - len(locks.blocked)
    evidence = [f"{display_path(lock.path)} ({lock.kind}, owner {lock.owner.label}, mode {_mode(lock.mode)}): "
                + _LOCK_REFUSED[lock.why].format(user=user) for lock in locks.blocked]
    if more:
        evidence.append(f"... and {_count(more, 'more lock', 'more locks')}")
    if not locks.scanned_all:
        evidence.append(f"{display_path(locks.directory)} holds too many names to list them all: not every lock "
                        "was looked at")
    return [_finding(
        "PD303",
        (f"{tool}'s lock file {display_path(first.path)} is owned by {first.owner.label} and {user} cannot use it"
         if locks.blocked_count == 1 else
         f"{_count(locks.blocked_count, 'lock file')} of {tool} in {display_path(locks.directory)} are not "
         f"{user}'s ({owners}) and {user} cannot use them")
        + f": the {tool} commands that take {'it' if locks.blocked_count == 1 else 'them'} stop "
          "(`failed to create file`, Permission denied).",
        why=(f"{tool} locks what it installs into outside a virtual environment (`{tool} pip install --system`, "
             f"a system Python), a project's workspace (`{tool} sync`, `lock`, `run`) and source builds in "
             f"{display_path(locks.directory)}/uv-<digest>.lock (installers/uv/cache.py). Whoever runs {tool} "
             f"first creates the file: after a `sudo {tool}` it is root's, and the user's run cannot open it. "
             f"It holds nothing: once no {tool} runs, its owner (root) can delete it, or the user can point "
             f"TMPDIR at a directory of its own."),
        paths=[lock.path for lock in locks.blocked],
        evidence=evidence,
        locks=tuple({"path": lock.path, "owner": lock.owner, "mode": lock.mode, "kind": lock.kind,
                     "why": lock.why} for lock in locks.blocked),
        directory=locks.directory,
    )]


def _large(facts: CheckFacts) -> list[Finding]:
    walk = facts.walk
    if walk is None or walk.size < LARGE_BYTES:
        return []
    return [_finding(
        "PD109",
        f"{facts.installer.name}'s cache {display_path(facts.cache_path)} holds {size_text(walk.size)} in "
        f"{_count(walk.files, 'file')}: pip never evicts old wheels or HTTP responses.",
        why="Nothing is wrong; the cache only grows. Purging it costs one slower install per package.",
        paths=[facts.cache_path],
        evidence=[f"{walk.entries:,} entries, {size_text(walk.size)}"],
    )]


def _moved_aside(facts: CheckFacts) -> list[Finding]:
    """What `pipdoctor fix` moved out of pip's sight and nobody deleted: it still takes its space, and when its
    entries are root's only root can delete it. Beside the cache only in a directory the cache's owner owns
    (there nobody else can have put it)."""
    parent = facts.parent
    parent_own = parent is not None and parent.owner is not None and parent.owner.uid == facts.cache_owner_uid
    copies = [c for c in facts.moved_aside
              if under(c.path, facts.cache_path) or (parent_own and parent.existing == parent.path)]
    if not copies:
        return []
    rows, shown = [], []
    for copy in copies:
        walk = copy.walk
        entries = walk.entries if walk is not None else 0
        size = walk.size if walk is not None else 0
        foreign = copy.owner.uid != facts.cache_owner_uid or (walk is not None and walk.foreign_entries > 0)
        rows.append((copy.path, foreign))
        shown.append(f"{display_path(copy.path)}: owner {copy.owner.label}, {_count(entries, 'entry', 'entries')}"
                     f" below it, {size_text(size)}")
    total = sum(c.walk.size for c in copies if c.walk is not None)
    tool = facts.installer.name
    return [_finding(
        "PD110",
        f"{_count(len(copies), 'copy', 'copies')} that `pipdoctor fix` moved out of {tool}'s sight "
        f"{'is' if len(copies) == 1 else 'are'} still there ({size_text(total)}): {tool} never reads "
        f"{'it' if len(copies) == 1 else 'them'} again.",
        why="A fix without root renames what the user cannot change (wheels.pipdoctor-<time>, or the whole cache: "
            "pip.pipdoctor-<time>) so pip makes a fresh one; the copy stays until someone deletes it, and entries "
            "owned by another user (root) can only be deleted by root.",
        paths=[c.path for c in copies],
        evidence=shown,
        copies=tuple(rows),
    )]
