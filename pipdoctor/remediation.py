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
        # Debian's system users have /nonexistent on purpose: pointing pip elsewhere is the fix there.
        if home and not home.startswith(("/nonexistent", "/dev/null")):
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
        if first:
            fixes = [Fix(f"rm -- {shlex.quote(first)}", "Remove only the damaged wheel; pip builds it again.", True)]
        elif finding.facts.get("http_cache"):
            fixes = [Fix('rm -rf "$(pip cache dir)/http" "$(pip cache dir)/http-v2"',
                         "Drop the HTTP cache only (downloads); built wheels stay.", True)]
        else:
            fixes = [Fix("pip cache list", "Find the damaged wheel among the cached ones.", True)]
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


# --- pipdoctor check: fixes for the checker's findings (checker.py), from the live facts ---------------


def shell_quote(path: str) -> str:
    """shlex.quote, and bash's $'...' for a name that is not UTF-8 (its bytes as \\xNN), so it stays exact."""
    import os

    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "$'" + "".join(chr(b) if 32 <= b < 127 and chr(b) not in "'\\" else f"\\x{b:02x}" for b in raw) + "'"
    return shlex.quote(path)


def _sudo(facts) -> str:
    """`sudo ` for commands that need root, unless the check already runs in a root shell (no sudo there)."""
    account = facts.account
    if account.is_self and account.uid == 0 and (facts.launch is None or facts.launch.sudo_uid is None):
        return ""
    return "sudo "


def _as_user(facts) -> str:
    """Prefix for commands the account itself may run: none when it runs the check, sudo for --user."""
    return "" if facts.account.is_self and facts.account.uid == facts.cache_owner_uid else _sudo(facts)


def _cache_args(facts) -> list:
    """--cache-dir for `pip cache ...` when the cache is not where pip looks by default."""
    source = getattr(facts, "cache_source", "") or ""
    if facts.cache_path and source not in ("platform default", "default"):
        return ["--cache-dir", facts.cache_path]
    return []


def _blocker_fixes(facts, kinds) -> list:
    """The cure for each thing chown cannot fix, from the checker's blockers(): exact path, flagged unsafe."""
    from pipdoctor.checker import blockers

    sudo = _sudo(facts)
    user = facts.account.user or str(facts.account.uid)
    fixes = []
    for kind, path, _ in blockers(facts):
        if kind not in kinds:
            continue
        quoted = shell_quote(path)
        if kind == "immutable":
            fixes.append(Fix(f"{sudo}chattr -i {quoted}", f"Clear the immutable flag on {path} (someone set it "
                             "on purpose: check why first).", False))
        elif kind == "append-only":
            fixes.append(Fix(f"{sudo}chattr -a {quoted}", f"Clear the append-only flag on {path}.", False))
        elif kind == "acl":
            who = f"u:{facts.account.user}" if facts.account.user else f"u:{facts.account.uid}"
            fixes.append(Fix(f"{sudo}setfacl -m {who}:rwx {quoted}", f"Let {user} write {path} despite the ACL "
                             "entry that denies it (or remove that entry: setfacl -x).", False))
        elif kind == "untraversable":
            who = f"u:{facts.account.user}" if facts.account.user else f"u:{facts.account.uid}"
            fixes.append(Fix(f"{sudo}setfacl -m {who}:x {quoted}", f"Let {user} pass through {path} (x only: "
                             "it still cannot list or change it).", False))
        elif kind == "read-only" and path:
            fixes.append(Fix(f"{sudo}mount -o remount,rw {quoted}", f"Make {path} writable again, if it is not "
                             "read-only on purpose (a container's read-only root, a full or failing disk).", False))
        elif kind == "nfs" and facts.mount is not None and ":" in (facts.mount.device or ""):
            server, export = facts.mount.device.split(":", 1)
            inside = facts.cache_path[len(facts.mount.mountpoint.rstrip("/")):] if facts.cache_path else ""
            fixes.append(Fix(f"ssh {shlex.quote(server)} sudo chown -R {facts.cache_owner_uid}:"
                             f"{facts.cache_owner_gid} {shell_quote(export.rstrip('/') + inside)}",
                             "Run the chown on the NFS server, where root is not squashed (uids must match "
                             "the server's).", False))
    return fixes


def _check_alternatives(facts) -> list:
    fixes = _no_root_alternatives(facts, None)
    if facts.alternate_cache:
        fixes.insert(1, Fix(f"export PIP_CACHE_DIR={shell_quote(facts.alternate_cache)}",
                            "No root needed: make every pip run in this shell use that cache "
                            "(add it to your shell profile to keep it).", True))
    return fixes


def suggest_check(finding: Finding, facts) -> Finding:
    """The checker's finding with its fixes (facts: ownership.CheckFacts). Least invasive first within
    what cures the cause; never `sudo pip` or `--user` for a cache problem."""
    import os

    code, data = finding.code, finding.facts
    sudo = _sudo(facts)
    account = facts.account
    ids = f"{facts.cache_owner_uid}:{facts.cache_owner_gid}"
    fixes: list = []
    if code == "PD103":
        kinds = set(data.get("blockers", ()))
        fixes += _blocker_fixes(facts, kinds)
        if not kinds & {"read-only", "nfs"}:
            targets = " ".join(shell_quote(t) for t in data.get("chown", ()))
            shared = data.get("shared", False)
            note = ("Give the foreign entries back to the cache's user; -R stays inside the cache."
                    if not shared else "This cache is not in the user's home: others may share it. Review first.")
            if kinds:
                note += " Only after the fix above: chown alone does not cure it."
            fixes.append(Fix(f"{sudo}chown -R {ids} {targets}", note, not shared and not kinds))
        fixes += _check_alternatives(facts)
    elif code == "PD104":
        kinds = set(data.get("blockers", ()))
        fixes += _blocker_fixes(facts, kinds)
        user_sudo = _as_user(facts)
        for kind, path in data.get("problems", ()):
            quoted = shell_quote(path)
            if kind in ("mode", "unreadable"):
                fixes.append(Fix(f"{user_sudo}chmod u+rwx {quoted}", f"Let the owner, {account.user or account.uid}, "
                                 f"list and write {path} again.", True))
            elif kind == "foreign-parent":
                if facts.home.path and (path + "/").startswith(facts.home.path.rstrip("/") + "/"):
                    fixes.append(Fix(f"{sudo}chown {ids} {quoted}", f"Give {path} back to its user, without -R: "
                                     "other programs' files below it keep their owners.", True))
                elif facts.cache_path:
                    cache = shell_quote(facts.cache_path)
                    fixes.append(Fix(f"{sudo}mkdir -p {cache} && {sudo}chown {ids} {cache}",
                                     "Create the cache dir for its user (the dirs above it stay as they are).",
                                     False))
            elif kind == "shared":
                who = f"u:{account.user}" if account.user else f"u:{account.uid}"
                fixes.append(Fix(f"{sudo}setfacl -m {who}:rwx {quoted}", f"Let {account.user or account.uid} "
                                 f"write the shared cache dir {path} (or add the user to its group).", False))
            elif kind == "not-a-dir":
                fixes.append(Fix(f"mv -- {quoted} {shell_quote(path + '.not-a-dir')}",
                                 f"Move the {path} that is in pip's way aside (look at it first); pip then "
                                 "creates the directory.", False))
        fixes += _check_alternatives(facts)
    elif code == "PD105":
        target = shell_quote(data.get("mountpoint") or facts.cache_path or ".")
        fixes.append(Fix(f"df -h {target} && df -i {target}", "See what fills the filesystem (space or inodes).",
                         True))
        if facts.walk is not None and facts.walk.size:
            fixes.append(Fix(pip_line(["cache", "purge", *_cache_args(facts)]),
                             "Free the space pip's own cache takes (pip rebuilds what it needs).", True))
        fixes.append(Fix(pip_line(None, "--no-cache-dir"), "Install without writing to the cache.", True))
    elif code == "PD106":
        fixes += _check_alternatives(facts)
        fixes += _blocker_fixes(facts, {"read-only"})
    elif code == "PD201":
        home = data.get("home")
        passwd_home = account.passwd_home
        if home and facts.home.env is not None and passwd_home and passwd_home != home and os.path.isdir(passwd_home):
            fixes.append(Fix(f"export HOME={shell_quote(passwd_home)}", "Point HOME at the account's own home.",
                             True))
        if home:
            fixes.append(Fix(f"{sudo}mkdir -p {shell_quote(home)} && {sudo}chown {account.uid}:{account.gid} "
                             f"{shell_quote(home)}", f"Create the missing HOME for {account.label}.", True))
        else:
            fixes.append(Fix('export HOME="$(mktemp -d)"', "Give this shell a private HOME (also a cache dir).",
                             True))
        fixes += _check_alternatives(facts)
    elif code == "PD202":
        home = data.get("home")
        passwd_home = account.passwd_home
        if data.get("home_of") and passwd_home and os.path.isdir(passwd_home):
            fixes.append(Fix(f"export HOME={shell_quote(passwd_home)}",
                             f"HOME is {data['home_of']}'s home: use {account.user or account.uid}'s own.", True))
        elif home:
            fixes.append(Fix(f"{sudo}chown {account.uid}:{account.gid} {shell_quote(home)}",
                             f"Give HOME itself (not -R) to {account.label}.", home == passwd_home))
    elif code == "PD203":
        if facts.home.path is None or not facts.home.exists:
            fixes.append(Fix('export HOME="$(mktemp -d)"', "Give this uid a private, writable HOME.", True))
        home = facts.home.path if facts.home.exists else "/home/pipuser"
        fixes.append(Fix(f"{sudo}useradd --uid {account.uid} --no-create-home --home-dir {shell_quote(home)} "
                         f"pipuser{account.uid}", "Give the uid a passwd entry (in a container: in the image).",
                         False))
    elif code == "PD204":
        fixes.append(Fix("sudo visudo -f /etc/sudoers.d/always_set_home",
                         "Add the line `Defaults always_set_home` (and drop HOME from any env_keep): sudo then "
                         "sets HOME=/root and root's pip stops writing in the user's cache.", False))
        fixes.append(Fix(_fresh_venv(None).command, "Better: do not run pip as root at all; install into a "
                         "virtual environment you own (run it as the user, without sudo).", True))
    elif code == "PD102":
        setting = data.get("setting")
        if setting:
            name = setting.split("=", 1)[0].strip()
            if name.startswith("PIP_"):
                fixes.append(Fix(f"unset {name}", f"Turn the cache back on (and remove {name} from the shell "
                                 "profile or CI config that sets it).", True))
            elif " in " in setting:
                path = setting.rsplit(" in ", 1)[1].split(" [", 1)[0]
                fixes.append(Fix(f"${{EDITOR:-vi}} {shell_quote(path)}", f"Delete the line `{setting.split(' in ')[0]}`"
                                 " there: any value turns the cache off.", True))
        else:
            fixes += _check_alternatives(facts)
    elif code == "PD303":
        home = facts.home.path
        if home and facts.home.exists:
            tmp = shell_quote(os.path.join(home, "tmp"))
            fixes.append(Fix(f"mkdir -p {tmp} && export TMPDIR={tmp}", "Build in a temp dir you own, on the "
                             "home filesystem (writable, executable).", True))
        fixes.append(Fix("unset TMPDIR", "Or let Python use /tmp.", True))
    elif code == "PD109":
        fixes.append(Fix(pip_line(["cache", "purge", *_cache_args(facts)]),
                         "Empty the cache; the next installs download and build again.", True))
    return finding.but(fixes=tuple(fixes))
