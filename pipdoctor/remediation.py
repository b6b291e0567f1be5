"""Cures (pure): the exact commands that fix each finding, with real paths, uids and names, and the plan
`pipdoctor fix` carries out (Step, Plan, make_plan; repair/ applies it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

from pipdoctor.findings import Finding, Fix, Severity
from pipdoctor.installers.base import Installer
# A log alone (explain) is taken for pip's: the rules know pip's wordings only. pip's own commands (`pip cache`,
# a venv's bin/pip) are pip's too.
from pipdoctor.installers.pip import PIP
from pipdoctor.records import record
from pipdoctor.safety import (ADMIN, CHMOD, CHOWN, CHOWN_TREE, MKDIR, MOVE, MOVED_ASIDE, PIP_CACHE, REMOVE,
                              REMOVE_TREE, Scope, gate, gate_all, shell_quote, under, unsafe_cache_root)

if TYPE_CHECKING:
    from pipdoctor.runfacts import Facts

# pathkinds (its regexes) only for a log's findings (suggest): `pipdoctor check` never needs it; the host facts
# only for the check's findings and the plan: `pipdoctor explain` never needs them.


def command_line(installer: Installer, args: Optional[Sequence[str]], *extra: str, raw_tail: str = "") -> str:
    """The user's own installer command with options added (after pip's command, before uv's: see
    Installer.options_first): what to type instead of what failed."""
    args = list(args) if args else list(installer.example_args)
    quoted = [a if a == "..." else shell_quote(a) for a in args]
    added = [shell_quote(e) for e in extra] + ([raw_tail] if raw_tail else [])
    return " ".join([installer.name, *added, *quoted] if installer.options_first else [installer.name, *quoted,
                                                                                         *added])


def _manages_the_cache(pip_args) -> bool:
    """pip's own `pip cache ...`: --no-cache-dir makes it fail ("pip cache commands can not function since
    cache is disabled", pip/_internal/commands/cache.py) and --cache-dir points it at another, empty cache, so
    neither is a retry of it."""
    command = next((a for a in pip_args or () if not a.startswith("-")), None)
    return command == "cache"


def _retry_without_cache(installer: Installer, pip_args, why: str) -> list[Fix]:
    if _manages_the_cache(pip_args):
        return []
    return [Fix(command_line(installer, pip_args, installer.no_cache_option), why, True, ())]


def _no_root_alternatives(installer: Installer, facts, pip_args) -> list[Fix]:
    """A fresh cache, or none, for the next run (facts: a run's Facts, a check's CheckFacts, or None)."""
    if _manages_the_cache(pip_args):
        return []
    alternate = facts.alternate_cache if facts is not None else None
    if alternate:
        fixes = [Fix(command_line(installer, pip_args, installer.cache_dir_option, alternate),
                     f"No root needed: use a fresh cache in {alternate}, a dir you can write.", True, ())]
    else:
        fixes = [Fix(command_line(installer, pip_args, raw_tail=f'{installer.cache_dir_option} "$(mktemp -d)"'),
                     "No root needed: use a fresh, private cache for this run.", True, ())]
    fixes.append(Fix(command_line(installer, pip_args, installer.no_cache_option),
                     "No root needed: run this once without a cache (slower; nothing is cached)."
                     + installer.no_cache_needs, True, ()))
    return fixes


def _ownership_fixes(finding: Finding, facts: Optional[Facts], pip_args, foreign_tops=()) -> list[Fix]:
    from pipdoctor.pathkinds import cache_root_of

    broken = finding.facts.get("broken") or []
    if facts is None or not broken:
        root = next((cache_root_of(p) for p in finding.paths if cache_root_of(p)), None)
        if root is None:
            return []
        return [Fix(f'sudo chown -R "$(id -u):$(id -g)" {shell_quote(root)}',
                    "Run as the user who runs pip: gives the whole cache back to that user.", True,
                    ((CHOWN_TREE, root),))]
    identity = facts.identity
    fixes = []
    for dir_ in broken:
        quoted = shell_quote(dir_.path)
        if not dir_.foreign:
            fixes.append(Fix(f"chmod u+rwx {quoted}", f"Make {dir_.path} writable for its owner, you.", True,
                             ((CHMOD, dir_.path),)))
        elif identity.uid == 0:
            continue  # root must not take a user's cache: the no-root alternatives below apply
        elif foreign_tops and any(under(dir_.path, top) or under(top, dir_.path) for top in foreign_tops):
            fixes.append(Fix(chown_command("sudo ", identity.uid, identity.gid, foreign_tops),
                             f"Give {dir_.path} and the other entries another user left in the cache back to "
                             f"you: {facts.installer.name} stops at the first one it meets. Nothing outside the cache "
                             "changes.", True, tuple((CHOWN_TREE, top) for top in foreign_tops)))
        elif facts.cache_dir and not (dir_.path + "/").startswith(facts.cache_dir.rstrip("/") + "/"):
            fixes.append(Fix(f"sudo chown -h {identity.uid}:{identity.gid} {quoted}",
                             f"Give {dir_.path} (above the cache) back to you, without -R: other programs' "
                             "files below it keep their owners.", True, ((CHOWN, dir_.path),)))
        else:
            fixes.append(Fix(f"sudo chown -R {identity.uid}:{identity.gid} {quoted}",
                             f"Give {dir_.path} and everything in it back to you; nothing outside the cache "
                             "changes.", True, ((CHOWN_TREE, dir_.path),)))
    return fixes


def _existing_dir(path: Optional[str], facts: Optional[Facts]) -> str:
    """The shell word for the directory a `df` of `path` must name: pip names the file it failed to write,
    which never came to exist (nor, often, its directory). The nearest existing directory the live facts
    found; from a log alone, the cache root, or the dir above pip's temp dirs (`pip-<kind>-XXXX`,
    pip/_internal/utils/temp_dir.py), which pip deleted when it stopped; no path: the temp dir it built in."""
    import posixpath

    from pipdoctor.pathkinds import cache_root_of

    if not path:
        return '"${TMPDIR:-/tmp}"'
    described = facts.paths.get(path) if facts is not None else None
    if described is not None:
        existing = described.existing
        return shell_quote(existing if described.is_dir else posixpath.dirname(existing))
    root = cache_root_of(path)
    if root:
        return shell_quote(root)
    parent = posixpath.dirname(path)
    while "/pip-" in parent:
        parent = parent[:parent.index("/pip-")] or "/"
    return shell_quote(parent)


def _fresh_venv(pip_args) -> Fix:
    return Fix(f"python3 -m venv .venv && .venv/{command_line(PIP, pip_args).replace('pip ', 'bin/pip ', 1)}",
               "Install into a virtual environment you own instead (not --user, not sudo).", True, ())


# uv from a log alone: which subcommand ran is unknown, so the cures use uv's environment variables, which every
# subcommand reads (uv docs, "Environment variables": UV_CACHE_DIR, UV_NO_CACHE).
_UV_LINE = "uv ..."


def _uv_no_root_alternatives() -> list[Fix]:
    return [Fix(f'UV_CACHE_DIR="$(mktemp -d)" {_UV_LINE}', "No root needed: use a fresh, private uv cache for this "
                "run.", True, ()),
            Fix(f"UV_NO_CACHE=1 {_UV_LINE}", "No root needed: run once with a temporary cache (slower; uv still "
                "needs a writable temp dir).", True, ())]


def _uv_fixes(finding: Finding) -> list[Fix]:
    """A uv finding's cures: uv's own options and uv's cache root, never pip's (`pip cache`, --no-cache-dir)."""
    from pipdoctor.installers.uv.wordings import root_of
    from pipdoctor.pathkinds import PathKind, path_kind

    first = finding.paths[0] if finding.paths else None
    root = next((root_of(p) for p in finding.paths if root_of(p)), None)
    temp = f'mkdir -p "$HOME/tmp" && TMPDIR="$HOME/tmp" {_UV_LINE}'
    if finding.code == "PD101" and root:
        return [Fix(f'sudo chown -R "$(id -u):$(id -g)" {shell_quote(root)}',
                    "Run as the user who runs uv: gives the whole uv cache back to that user.", True,
                    ((CHOWN_TREE, root),)), *_uv_no_root_alternatives()]
    if finding.code in ("PD101", "PD201") or (finding.code == "PD106" and root):
        return _uv_no_root_alternatives()
    if finding.code == "PD105":
        where = shell_quote(root or first) if (root or first) else '"${TMPDIR:-/tmp}"'
        return [Fix(f"df -h {where} && df -i {where}", "See which filesystem is full (space or inodes).", True, ())]
    if finding.code == "PD303" or (finding.code == "PD106" and path_kind(first) is PathKind.TEMP):
        return [Fix(temp, "Let uv work in a temp dir you own.", True, ((ADMIN, ""),))]
    if finding.code in ("PD301", "PD302"):
        return [Fix("uv venv && uv pip install ...", "Install into a virtual environment you own instead (not "
                    "sudo).", True, ())]
    return []


def suggest(finding: Finding, facts: Optional[Facts] = None, pip_args: Optional[Sequence[str]] = None,
            scope: Optional[Scope] = None, foreign_tops: Sequence[str] = ()) -> Finding:
    """The finding with its fixes: least invasive first, never `sudo pip` or `--user` for a cache problem.
    Each passes the safety gate over `scope` (run_scope(): this machine's facts); without one, none is safe.
    `foreign_tops`: the foreign subtrees the live check of uv's cache found (its PD103's chown targets)."""
    from pipdoctor.pathkinds import cache_root_of

    code = finding.code
    first = finding.paths[0] if finding.paths else None
    installer = facts.installer if facts is not None else PIP
    fixes: list[Fix]
    if finding.tool == "uv" and code in ("PD101", "PD102") and facts is not None and scope is not None:
        # A live uv run: the paths as read on this machine, and the check's foreign entries (uv stops at the
        # first it meets, so the log names one of them), given back to their user with real ids.
        fixes = _ownership_fixes(finding, facts, pip_args, foreign_tops) + _no_root_alternatives(installer, facts,
                                                                                                 pip_args)
        return finding.but(fixes=gate_all(fixes, scope, _no_root_alternatives(installer, facts, pip_args)))
    if finding.tool == "uv":
        fixes = _uv_fixes(finding)
        return finding.but(fixes=tuple(f._replace(safe=f.safe and f.touches == ()) for f in fixes)) if scope is None \
            else finding.but(fixes=gate_all(fixes, scope, _uv_no_root_alternatives()))
    if code in ("PD101", "PD102"):
        fixes = _ownership_fixes(finding, facts, pip_args) + _no_root_alternatives(installer, facts, pip_args)
    elif code == "PD201":
        fixes = _no_root_alternatives(installer, facts, pip_args)
        home = facts.identity.home if facts is not None else None
        # Debian's system users have /nonexistent on purpose: pointing pip elsewhere is the fix there.
        if home and not home.startswith(("/nonexistent", "/dev/null")):
            fixes.insert(0, Fix(f"sudo mkdir -p {shell_quote(home)} && sudo chown -h "
                                f"{facts.identity.uid}:{facts.identity.gid} {shell_quote(home)}",
                                "Create the missing HOME for this user.", True, ((MKDIR, home), (CHOWN, home))))
    elif code == "PD105":
        target = _existing_dir(first, facts)
        fixes = [Fix(f"df -h {target} && df -i {target}", "See which filesystem is full (space or inodes).", True,
                     ()),
                 *_retry_without_cache(installer, pip_args, "Retry without writing to the cache.")]
    elif code == "PD106":
        fixes = (_no_root_alternatives(installer, facts, pip_args) if first and cache_root_of(first)
                 else [_fresh_venv(pip_args)])
    elif code == "PD107":
        if first:
            fixes = [Fix(f"rm -- {shell_quote(first)}", "Remove only the damaged wheel; pip builds it again.", True,
                         ((REMOVE, first),))]
        elif finding.facts.get("http_cache"):
            cache = facts.cache_dir if facts is not None else None
            fixes = [Fix('rm -rf "$(pip cache dir)/http" "$(pip cache dir)/http-v2"',
                         "Drop the HTTP cache only (downloads); built wheels stay.", True,
                         tuple((REMOVE_TREE, f"{cache}/{name}") for name in ("http", "http-v2")) if cache
                         else ((ADMIN, ""),))]
        else:
            fixes = [Fix("pip cache list", "Find the damaged wheel among the cached ones.", True, ())]
        fixes += _retry_without_cache(installer, pip_args, "Retry once without the cache.")
    elif code == "PD108":
        cache = facts.cache_dir if facts is not None else None
        fixes = [Fix(f"pip cache remove {shell_quote(name)}", f"Rebuild {name} on the next install.", True,
                     ((PIP_CACHE, cache),) if cache else ((ADMIN, ""),))
                 for name in finding.facts.get("packages", ())]
    elif code in ("PD301", "PD302"):
        fixes = [_fresh_venv(pip_args)]
    elif code == "PD303":
        home = facts.identity.home if facts is not None else None
        fixes = [Fix('mkdir -p "$HOME/tmp" && TMPDIR="$HOME/tmp" ' + command_line(installer, pip_args),
                     "Build in a temp dir you own, on a filesystem that allows executing.", True,
                     ((MKDIR, f"{home.rstrip('/')}/tmp"),) if home else ((ADMIN, ""),))]
    elif code == "PD304":
        fixes = [Fix(command_line(installer, pip_args, "--verbose"),
                     "Show the build's full output; its first error is the cause.",
                     True, ())]
    else:
        fixes = []
    if scope is None:  # a log alone (explain): nothing is known of the machine it came from, so nothing is safe
        return finding.but(fixes=tuple(f._replace(safe=f.safe and f.touches == ()) for f in fixes))
    return finding.but(fixes=gate_all(fixes, scope, _no_root_alternatives(installer, facts, pip_args)))


# --- pipdoctor check: fixes for the checker's findings (checker.py), from the live facts ---------------


def _sudo(facts) -> str:
    """`sudo ` for commands that need root, unless the check already runs in a root shell (no sudo there)."""
    account = facts.account
    if account.is_self and account.uid == 0 and (facts.launch is None or facts.launch.sudo_uid is None):
        return ""
    return "sudo "


def _as_user(facts) -> str:
    """Prefix for commands the cache's owner runs on its own files: none when it runs the check, else
    `sudo -u NAME`, never root (chmod has no -h: as root it would follow a symlink the user put there)."""
    account = facts.account
    if account.is_self and account.uid == facts.cache_owner_uid:
        return ""
    return f"sudo -u {shell_quote(_owner_name(facts) or '#' + str(facts.cache_owner_uid))} "


def _owner_name(facts) -> Optional[str]:
    """The name of the account the cache should belong to: the checked one, or sudo's invoking user when root
    runs with that user's HOME."""
    account = facts.account
    if facts.cache_owner_uid == account.uid:
        return account.user
    return facts.launch.sudo_user if facts.launch is not None else None


def _cache_args(facts) -> list:
    """--cache-dir for `pip cache ...` (`uv cache ...`) when the cache is not where it looks by default."""
    source = getattr(facts, "cache_source", "") or ""
    if facts.cache_path and source not in ("platform default", "default"):
        return ["--cache-dir", facts.cache_path]
    return []


def fix_args(facts) -> tuple:
    """What `pipdoctor fix` needs to find this cache: --tool for any installer but pip (fix's cache options
    are pip's without it), and --cache-dir when the cache is not where the installer looks by default."""
    tool = () if facts.installer.name == "pip" else ("--tool", facts.installer.name)
    return (*tool, *_cache_args(facts))


def chown_command(sudo: str, uid: int, gid: int, targets) -> str:
    """The shell spelling of the chown cure, for `check`'s fix list and `fix`'s plan alike. GNU chown -R
    changes symlinks themselves, never their targets (-P is its default with -R); a chown without -R gets
    -h for the same reason (coreutils chown(1): without it, a symlink named is dereferenced)."""
    return f"{sudo}chown -R {uid}:{gid} " + " ".join(shell_quote(t) for t in targets)


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
                             "on purpose: check why first).", False, ((ADMIN, path),)))
        elif kind == "append-only":
            fixes.append(Fix(f"{sudo}chattr -a {quoted}", f"Clear the append-only flag on {path}.", False,
                             ((ADMIN, path),)))
        elif kind == "acl":
            who = f"u:{facts.account.user}" if facts.account.user else f"u:{facts.account.uid}"
            fixes.append(Fix(f"{sudo}setfacl -m {who}:rwx {quoted}", f"Let {user} write {path} despite the ACL "
                             "entry that denies it (or remove that entry: setfacl -x).", False,
                             ((ADMIN, path),)))
        elif kind == "untraversable":
            who = f"u:{facts.account.user}" if facts.account.user else f"u:{facts.account.uid}"
            fixes.append(Fix(f"{sudo}setfacl -m {who}:x {quoted}", f"Let {user} pass through {path} (x only: "
                             "it still cannot list or change it).", False, ((ADMIN, path),)))
        elif kind == "read-only" and path:
            fixes.append(Fix(f"{sudo}mount -o remount,rw {quoted}", f"Make {path} writable again, if it is not "
                             "read-only on purpose (a container's read-only root, a full or failing disk).", False,
                             ((ADMIN, path),)))
        elif kind == "nfs" and facts.mount is not None and ":" in (facts.mount.device or ""):
            server, export = facts.mount.device.split(":", 1)
            inside = facts.cache_path[len(facts.mount.mountpoint.rstrip("/")):] if facts.cache_path else ""
            fixes.append(Fix(f"ssh {shell_quote(server)} sudo chown -R {facts.cache_owner_uid}:"
                             f"{facts.cache_owner_gid} {shell_quote(export.rstrip('/') + inside)}",
                             "Run the chown on the NFS server, where root is not squashed (uids must match "
                             "the server's).", False, ((ADMIN, export),)))
    return fixes


# Findings about HOME or the cache under it that a bare uid with an unusable HOME (a container) runs into.
_CONTAINER_CODES = ("PD104", "PD201", "PD202", "PD203", "PD102", "PD103")


def container_home(facts) -> bool:
    """HOME=/, or a uid with no passwd entry (a container's `--user 12345`) whose HOME is missing or not
    writable by it: the answer is another HOME or cache, never a chown or chmod of / or of a dir not the uid's."""
    from pipdoctor.host.permissions import class_bits

    account, home = facts.account, facts.home
    if home.path == "/":
        return True
    if account.user is not None:
        return False
    if not home.path or not home.exists or not home.is_dir or home.owner is None:
        return True
    return class_bits(home.owner.uid, home.owner.gid, home.mode or 0, account.uid, account.groups) & 3 != 3


def _container_fixes(facts) -> list:
    uid, installer = facts.account.uid, facts.installer
    shared = f"/opt/{installer.name}-cache"
    return [Fix('export HOME="$(mktemp -d)"', f"Give uid {uid} a private, writable HOME ({installer.name}'s cache "
                "goes below it); in an image set it for good: ENV HOME=/tmp, or `docker run -e HOME=...`.", True, ()),
            Fix(command_line(installer, None, installer.no_cache_option),
                "Or install without a cache (a one-off build needs none).", True, ()),
            Fix(f"mkdir -p {shared} && chgrp -R 0 {shared} && chmod -R g+rwX {shared}",
                "For platforms that run images as an arbitrary uid in group 0 (OpenShift): make a group-0 cache "
                f"in the image (Dockerfile, as root), then ENV {installer.cache_env}={shared}.", False,
                ((ADMIN, shared),))]


def check_scope(facts) -> Scope:
    """What the gate knows from a check's facts (checkfacts.CheckFacts)."""
    walk = facts.walk
    known = {}
    for d in (facts.root, *facts.subdirs):
        if d is not None and d.existing and d.owner is not None:
            known[d.existing] = (d.kind, d.owner.uid)
    for path in (walk.unwritable_own if walk is not None else ()):
        known[path] = ("dir", facts.cache_owner_uid)
    for path, owner in (walk.unreadable if walk is not None else ()):
        if owner is not None:
            known[path] = ("dir", owner.uid)
    home = facts.home
    if home.path and home.exists and home.owner is not None:
        known.setdefault(home.path, ("dir" if home.is_dir else "file", home.owner.uid))
    parent = facts.parent
    if parent is not None and parent.existing == parent.path and parent.owner is not None:
        known.setdefault(parent.path, (parent.kind, parent.owner.uid))
    aside = {c.path: c.walk.mount_points for c in facts.moved_aside if c.walk is not None}
    # HOME is another account's home (HOME=/home/bob as alice), unless that account is whose files the cache
    # should hold (root under sudo with the invoking user's HOME).
    borrowed = home.home_of and home.owner is not None and home.owner.uid != facts.cache_owner_uid
    others = tuple(h for h in (facts.other_home, home.path if borrowed else None) if h)
    root = facts.root
    account = facts.account
    return Scope(facts.cache_path, root.kind if root is not None and root.existing == facts.cache_path else "missing",
                 facts.cache_owner_uid, facts.cache_owner_gid, _owner_name(facts), (home.path, account.passwd_home),
                 others,
                 known, walk, _sudo(facts), fix_args(facts), aside)


def run_scope(facts: Optional[Facts], check=None) -> Optional[Scope]:
    """What the gate knows for a pip run's log findings: the live check's facts when it ran (its walk), else
    the paths the log named as read from this machine; None for a log alone."""
    if check is not None:
        return check_scope(check)
    if facts is None:
        return None
    identity = facts.identity
    known = {}
    for described in facts.paths.values():
        known[described.existing] = ("dir" if described.is_dir else "file", described.owner.uid)
    cache = facts.cache_dir
    kind = known.get(cache, ("missing",))[0] if cache else "missing"
    if cache and any(path.startswith(cache.rstrip("/") + "/") for path in known):
        kind = "dir"  # something exists below it: it is a directory
    return Scope(cache, kind, identity.uid, identity.gid, identity.user, (identity.home,), (), known, None,
                 "" if identity.uid == 0 else "sudo ", ())


def _check_alternatives(facts) -> list:
    installer = facts.installer
    fixes = _no_root_alternatives(installer, facts, None)
    if facts.alternate_cache:
        fixes.insert(1, Fix(f"export {installer.cache_env}={shell_quote(facts.alternate_cache)}",
                            f"No root needed: make every {installer.name} run in this shell use that cache "
                            "(add it to your shell profile to keep it).", True, ()))
    return fixes


def suggest_check(finding: Finding, facts) -> Finding:
    """The checker's finding with its fixes (facts: checkfacts.CheckFacts). Least invasive first within
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
        # Never a chown -R of /, /usr or a HOME, whatever PIP_CACHE_DIR says (fix refuses those too).
        refused = unsafe_cache_root(facts.cache_path or "", (facts.home.path, account.passwd_home))
        if facts.cache_configured:  # reached through a symlink below HOME: fix refuses it, so nothing is printed
            refused = refused or f"{facts.cache_configured} is reached through a symlink"
        if not kinds & {"read-only", "nfs"} and refused is None:
            shared = data.get("shared", False)
            note = ("Give the foreign entries back to the cache's user; -R stays inside the cache."
                    if not shared else "This cache is not in the user's home: others may share it. Review first.")
            if kinds:
                note += " Only after the fix above: chown alone does not cure it."
            fixes.append(Fix(chown_command(sudo, facts.cache_owner_uid, facts.cache_owner_gid, data.get("chown", ())),
                             note, not shared and not kinds, tuple((CHOWN_TREE, t) for t in data.get("chown", ()))))
        fixes += _check_alternatives(facts)
    elif code == "PD104":
        kinds = set(data.get("blockers", ()))
        fixes += _blocker_fixes(facts, kinds)
        user_sudo = _as_user(facts)
        for kind, path in data.get("problems", ()):
            quoted = shell_quote(path)
            if kind in ("mode", "unreadable"):
                fixes.append(Fix(f"{user_sudo}chmod u+rwx {quoted}", f"Let the owner, {account.user or account.uid}, "
                                 f"list and write {path} again.", True, ((CHMOD, path),)))
            elif kind == "foreign-parent":
                if facts.home.path and (path + "/").startswith(facts.home.path.rstrip("/") + "/"):
                    fixes.append(Fix(f"{sudo}chown -h {ids} {quoted}", f"Give {path} back to its user, without -R: "
                                     "other programs' files below it keep their owners.", True,
                                     ((CHOWN, path),)))
                elif facts.cache_path:
                    cache = shell_quote(facts.cache_path)
                    fixes.append(Fix(f"{sudo}mkdir -p {cache} && {sudo}chown -h {ids} {cache}",
                                     "Create the cache dir for its user (the dirs above it stay as they are).",
                                     False, ((MKDIR, facts.cache_path), (CHOWN, facts.cache_path))))
            elif kind == "shared":
                who = f"u:{account.user}" if account.user else f"u:{account.uid}"
                fixes.append(Fix(f"{sudo}setfacl -m {who}:rwx {quoted}", f"Let {account.user or account.uid} "
                                 f"write the shared cache dir {path} (or add the user to its group).", False,
                                 ((ADMIN, path),)))
            elif kind == "not-a-dir":
                tool = facts.installer.name
                fixes.append(Fix(f"mv -- {quoted} {shell_quote(path + '.not-a-dir')}",
                                 f"Move the {path} that is in {tool}'s way aside (look at it first); {tool} then "
                                 "creates the directory.", False, ((MOVE, path),)))
        fixes += _check_alternatives(facts)
    elif code == "PD105":
        mount = facts.mount
        target = shell_quote(data.get("mountpoint") or (mount.path if mount is not None else None) or "/")
        fixes.append(Fix(f"df -h {target} && df -i {target}", "See what fills the filesystem (space or inodes).",
                         True, ()))
        if facts.walk is not None and facts.walk.size:
            tool = facts.installer.name
            fixes.append(Fix(command_line(facts.installer, [*facts.installer.clear_cache, *_cache_args(facts)]),
                             f"Free the space {tool}'s own cache takes ({tool} rebuilds what it needs).", True,
                             ((PIP_CACHE, facts.cache_path),)))
        fixes.append(Fix(command_line(facts.installer, None, facts.installer.no_cache_option),
                         "Install without writing to the cache.", True, ()))
    elif code == "PD106":
        fixes += _check_alternatives(facts)
        fixes += _blocker_fixes(facts, {"read-only"})
    elif code == "PD201":
        home = data.get("home")
        passwd_home = account.passwd_home
        if home and facts.home.env is not None and passwd_home and passwd_home != home and os.path.isdir(passwd_home):
            fixes.append(Fix(f"export HOME={shell_quote(passwd_home)}", "Point HOME at the account's own home.",
                             True, ()))
        if home:
            fixes.append(Fix(f"{sudo}mkdir -p {shell_quote(home)} && {sudo}chown -h {account.uid}:{account.gid} "
                             f"{shell_quote(home)}", f"Create the missing HOME for {account.label}.", True,
                             ((MKDIR, home), (CHOWN, home))))
        else:
            fixes.append(Fix('export HOME="$(mktemp -d)"', "Give this shell a private HOME (also a cache dir).",
                             True, ()))
        fixes += _check_alternatives(facts)
    elif code == "PD202":
        home = data.get("home")
        passwd_home = account.passwd_home
        if data.get("home_of") and passwd_home and os.path.isdir(passwd_home):
            fixes.append(Fix(f"export HOME={shell_quote(passwd_home)}",
                             f"HOME is {data['home_of']}'s home: use {account.user or account.uid}'s own.", True,
                             ()))
        elif home:
            fixes.append(Fix(f"{sudo}chown -h {account.uid}:{account.gid} {shell_quote(home)}",
                             f"Give HOME itself (not -R) to {account.label}.", home == passwd_home,
                             ((CHOWN, home),)))
    elif code == "PD203":
        if facts.home.path is None or not facts.home.exists:
            fixes.append(Fix('export HOME="$(mktemp -d)"', "Give this uid a private, writable HOME.", True, ()))
        home = facts.home.path if facts.home.exists and facts.home.path != "/" else "/home/pipuser"
        fixes.append(Fix(f"{sudo}useradd --uid {account.uid} --no-create-home --home-dir {shell_quote(home)} "
                         f"pipuser{account.uid}", "Give the uid a passwd entry (in a container: in the image).",
                         False, ((ADMIN, "/etc/passwd"),)))
    elif code == "PD204":
        fixes.append(Fix("sudo visudo -f /etc/sudoers.d/always_set_home",
                         "Add the line `Defaults always_set_home` (and drop HOME from any env_keep): sudo then "
                         "sets HOME=/root and root's pip stops writing in the user's cache.", False,
                         ((ADMIN, "/etc/sudoers.d"),)))
        fixes.append(Fix(_fresh_venv(None).command, "Better: do not run pip as root at all; install into a "
                         "virtual environment you own (run it as the user, without sudo).", True, ()))
    elif code == "PD102":
        setting = data.get("setting")
        if setting:
            name = setting.split("=", 1)[0].strip()
            if name == facts.installer.no_cache_env:
                fixes.append(Fix(f"unset {name}", f"Turn the cache back on (and remove {name} from the shell "
                                 "profile or CI config that sets it).", True, ()))
            elif " in " in setting:
                path = setting.rsplit(" in ", 1)[1].split(" [", 1)[0]
                fixes.append(Fix(f"${{EDITOR:-vi}} {shell_quote(path)}", f"Delete the line `{setting.split(' in ')[0]}`"
                                 " there: any value turns the cache off.", True,
                                 () if account.is_self else ((ADMIN, path),)))
        else:
            fixes += _check_alternatives(facts)
    elif code == "PD303":
        home = facts.home.path
        if home and facts.home.exists:
            tmp = shell_quote(os.path.join(home, "tmp"))
            fixes.append(Fix(f"mkdir -p {tmp} && export TMPDIR={tmp}", "Build in a temp dir you own, on the "
                             "home filesystem (writable, executable).", True,
                             ((MKDIR, os.path.join(home, "tmp")),)))
        locks = [lock["path"] for lock in data.get("locks", ())]
        if locks:
            # uv's lock files hold nothing: their owner may delete them once no uv of theirs runs
            fixes.append(Fix(f"{sudo}rm -f -- " + " ".join(shell_quote(path) for path in locks),
                             f"Delete the lock files {facts.installer.name} cannot open, once no "
                             f"{facts.installer.name} runs as their owner (uv makes them again, as the user's).",
                             False, tuple((REMOVE, path) for path in locks)))
        if not locks or data.get("directory") == account.environ.get("TMPDIR"):
            # pip's temp dir is Python's tempfile's choice; uv's is Rust's std::env::temp_dir
            chooser = "Python" if facts.installer.name == "pip" else facts.installer.name
            fixes.append(Fix("unset TMPDIR", f"Or let {chooser} use /tmp.", True, ()))
    elif code == "PD109":
        fixes.append(Fix(command_line(facts.installer, [*facts.installer.clear_cache, *_cache_args(facts)]),
                         "Empty the cache; the next installs download and build again.", True,
                         ((PIP_CACHE, facts.cache_path),)))
    elif code == "PD110":
        for path, foreign in data.get("copies", ()):
            fixes.append(Fix(f"{sudo if foreign else _as_user(facts)}rm -rf -- {shell_quote(path)}",
                             f"Delete {path} for good (pip does not use it; undoing that fix is no longer possible "
                             "once it is gone)." + (" Its entries are not the user's: this needs root."
                                                    if foreign else ""), True, ((REMOVE_TREE, path),)))
        return finding.but(fixes=gate_all(fixes, check_scope(facts)))
    if code in _CONTAINER_CODES and container_home(facts):
        fixes = _container_fixes(facts) + fixes
    return finding.but(fixes=gate_all(fixes, check_scope(facts), _check_alternatives(facts)))


# --- pipdoctor fix: the plan (pure; repair/ applies it) ------------------------------------------------

@record
class Step:
    """One change of a fix plan: what it does, the finding(s) it cures, the shell command that does the same,
    and whether it needs root. `targets` are absolute paths inside the cache (for `rename`, `new_names` holds
    the new path of each target, in the same directory)."""

    kind: str  # chown, rename, alternate-cache, pip-cache-remove, or none (explained, not changed)
    code: str
    command: str
    needs_root: bool
    description: str
    targets: tuple
    cures: tuple  # every code this step cures, `code` first
    uid: Optional[int] = None
    gid: Optional[int] = None
    new_names: tuple = ()
    retry_args: tuple = ()  # alternate-cache: what a retry of pip's command adds
    later: str = ""  # a follow-up for the user (delete the moved-aside copy with root)
    pip_argv: tuple = ()  # a step pip itself carries out: its arguments, exactly what `command` shows
    safe: bool = True  # the safety gate's verdict on `command` run as printed (safety.gate)
    tool: str = "pip"  # whose cache the step is about (make_plan sets it from the facts' installer)

    @property
    def persist(self) -> bool:
        """An alternate cache written to the user's pip config (with `pip config`)."""
        return self.kind == "alternate-cache" and bool(self.pip_argv)

    @property
    def changes_files(self) -> bool:
        return self.kind in ("chown", "rename") or bool(self.pip_argv)


@record
class Plan:
    """What `pipdoctor fix` will do for one account's cache, in order; `refused` says why it will not touch
    the cache at all (the steps then only point elsewhere)."""

    cache_root: Optional[str]
    user: Optional[str]
    uid: int
    gid: int
    stamp: str
    steps: tuple
    refused: Optional[str] = None
    tool: str = "pip"  # whose cache: the journal records it, and undo checks the root still looks like it

    @property
    def changes(self) -> tuple:
        return tuple(s for s in self.steps if s.changes_files)

    @property
    def needs_root(self) -> bool:
        return any(s.needs_root for s in self.changes)

    @property
    def retry_args(self) -> tuple:
        """What a retry of the failed pip command adds (a one-off alternate cache or --no-cache-dir)."""
        return next((s.retry_args for s in self.steps if s.kind == "alternate-cache" and not s.persist), ())

    def to_json(self) -> dict:
        return {"tool": self.tool, "cache_root": _text(self.cache_root), "user": self.user, "uid": self.uid,
                "gid": self.gid, "refused": self.refused, "needs_root": self.needs_root,
                "steps": [{"tool": s.tool, "kind": s.kind, "code": s.code, "cures": list(s.cures),
                           "command": s.command,
                           "needs_root": s.needs_root, "description": s.description,
                           "targets": [_text(t) for t in s.targets], "new_names": [_text(t) for t in s.new_names],
                           "retry_args": list(s.retry_args), "persist": s.persist, "later": s.later,
                           "changes_files": s.changes_files, "safe": s.safe} for s in self.steps]}


def _text(path):
    """As it is: report's JSON encodes a name that is not UTF-8 once for the whole document (raw_bytes)."""
    return path


def cache_names_problem(installer: Installer, names) -> Optional[str]:
    """Why a directory holding these top-level names does not look like the installer's cache, or None: one
    test for every installer, its own names (Installer.makes_top_level: pip's subdirs, uv's buckets)."""
    unknown = sorted(n for n in names if not installer.makes_top_level(n) and MOVED_ASIDE not in n)
    if unknown:
        shown = ", ".join(_text(n) for n in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        return (f"the cache dir holds {shown}, which {installer.name} does not make: it does not look like "
                f"{installer.name}'s cache")
    return None


def names_check(installer: Installer):
    """names_ok for repair (apply, undo): the cache root still looks like this installer's cache."""
    return lambda names: cache_names_problem(installer, names)


def holds_cache(name: str):
    """names_ok for the directory holding a cache that is moved aside whole: it must still hold it."""
    return lambda names: None if name in names else f"the directory no longer holds {name}: nothing was changed"


def holds_moved_cache(installer: Installer):
    """names_ok for undoing a user's own move: the installer's cache (a move inside it), or the directory
    holding a cache moved aside whole (uv.pipdoctor-<stamp>); device, inode and the journal's records decide
    the rest."""
    return lambda names: None if any(MOVED_ASIDE in n for n in names) else cache_names_problem(installer, names)


def _after(lead: str, sentence: str) -> str:
    """sentence after an optional lead-in: "Meanwhile: no root needed..." or a sentence of its own."""
    if not lead:
        return sentence
    return f"{lead} {sentence[0].lower()}{sentence[1:]}" if lead.endswith(":") else f"{lead} {sentence}"


def _alternate_step(facts, code: str, cures: tuple, persist: bool, pip_args, why: str) -> Step:
    installer = facts.installer
    tool, alternate = installer.name, facts.alternate_cache
    # Only when the cache is where it is by default does a cache dir in the user's own config take effect.
    lasting = facts.cache_source in installer.default_sources and installer.config_set_cache_dir is not None
    if alternate and persist and facts.account.is_self and lasting:
        argv = (*installer.config_set_cache_dir, alternate)
        undo = command_line(installer, installer.config_unset_cache_dir)
        return Step("alternate-cache", code, command_line(installer, argv), False,
                    _after(why, f"From now on {tool} uses a fresh cache, ") + f"{alternate}, that "
                    f"{facts.account.user or facts.account.uid} owns (written to the user's {tool} config; undo: "
                    f"{undo}).", (alternate,), cures, pip_argv=argv)
    if alternate:
        note = "" if facts.account.is_self else f" (run by {facts.account.user or facts.account.uid}, not root)"
        later = (f"--persist writes it to the user's {tool} config." if lasting else
                 f"To keep it, change {facts.cache_source}: it decides the cache and outranks the user's {tool} "
                 "config." if installer.config_set_cache_dir is not None else
                 f"To keep it, set {installer.cache_env} in the shell profile.")
        retry = (installer.cache_dir_option, alternate)
        return Step("alternate-cache", code, command_line(installer, pip_args, *retry), False,
                    _after(why, f"No root needed: point {tool} at a fresh cache it owns, ") + f"{alternate}{note}; "
                    + later, (alternate,), cures, retry_args=retry)
    retry = (installer.no_cache_option,)
    return Step("alternate-cache", code, command_line(installer, pip_args, *retry), False,
                _after(why, f"No root needed: run {tool} once without a cache (no writable place for a fresh one).")
                + installer.no_cache_needs,
                (), cures, retry_args=retry)


def _user_can_rename(facts) -> bool:
    """The cache root is the user's own and writable: renaming an entry in it needs no root."""
    root = facts.root
    if root is None or root.kind != "dir" or root.existing != facts.cache_path:
        return False
    return root.owner is not None and root.owner.uid == facts.account.uid and root.writable


def _user_can_rename_cache(facts) -> bool:
    """The cache root is another's (root's, after `sudo pip`) but the directory holding it is the user's own
    and writable (~/.cache): renaming the whole cache aside needs no root (rename(2) needs write permission on
    the directory, not on the entry; sticky bits do not bind a directory's owner)."""
    root, parent = facts.root, facts.parent
    if root is None or root.kind != "dir" or root.existing != facts.cache_path or parent is None:
        return False
    mine = facts.account.uid
    return (root.owner is not None and root.owner.uid != mine and parent.kind == "dir"
            and parent.existing == parent.path and parent.owner is not None and parent.owner.uid == mine
            and parent.writable and unsafe_cache_root(parent.path, (facts.home.path, facts.account.passwd_home))
            is None)


def _move_aside_targets(facts) -> list:
    """Top-level entries of the cache (wheels, http-v2, ...) holding foreign entries, when the user can rename
    them; pip makes them again."""
    if facts.walk is None or not _user_can_rename(facts):
        return []
    return [f"{facts.cache_path.rstrip('/')}/{name}" for name, _, _ in facts.walk.foreign_areas]


def _move_aside_step(code: str, targets, stamp: str, cures: tuple, why: str, remove: str, scope: Scope) -> Step:
    """Rename targets in place (name.pipdoctor-<stamp>): undoable, and pip no longer sees them; `remove` is
    the command that deletes the moved copies for good, later (only when the gate finds it safe: an rm -rf
    reaches through a mount point below)."""
    new = tuple(f"{t}{MOVED_ASIDE}{stamp}" for t in targets)
    command = " && ".join(f"mv -n -T -- {shell_quote(t)} {shell_quote(n)}" for t, n in zip(targets, new))
    moved = gate(Fix(command, why, True, tuple((MOVE, t) for t in targets)), scope)
    later = f"{remove} -- " + " ".join(shell_quote(n) for n in new)
    op = REMOVE_TREE if "-r" in remove else REMOVE
    removal = gate(Fix(later, "", True, tuple((op, n) for n in new)), scope)
    if removal is None or not removal.safe:
        later, note = "", (" Delete the moved copies only once nothing is mounted below them: a mount point "
                           "lies in the cache, and rm -rf would reach through it.")
    else:
        note = f" Delete the moved copies for good later: {later}"
    return Step("rename", code, command, False, why + note, tuple(targets), cures, new_names=new, later=later,
                safe=moved is not None and moved.safe)


def refused_cache_root(facts) -> Optional[str]:
    """Why `fix` must not act on this account's cache at all, or None: / or a system dir, a HOME, a root reached
    through a symlink, or another account's cache. The cache dir comes from the user's own pip config or
    environment, which is input: `cache-dir = /home/bob/.cache/pip` in alice's pip.conf must not make root give
    bob's files to alice. A root-owned root is the seed's state (sudo pip made it), so only a root owned by
    another non-root uid, or one inside another account's home, counts as another account's."""
    cache = facts.cache_path
    refused = unsafe_cache_root(cache, (facts.home.path, facts.account.passwd_home))
    if refused:
        return refused
    if facts.cache_configured:
        return (f"refusing to act on {facts.cache_configured}: it is a symlink (to {cache}); run "
                f"`pipdoctor fix --cache-dir {shell_quote(cache)}` if that really is pip's cache")
    if facts.other_home:
        return f"refusing to act on {cache}: it lies in another account's home ({facts.other_home})"
    owner = facts.root.owner if facts.root is not None and facts.root.existing == cache else None
    if owner is not None and owner.uid not in (0, facts.cache_owner_uid):
        return (f"refusing to act on {cache}: it belongs to {owner.label}, not to "
                f"{facts.account.user or 'uid ' + str(facts.cache_owner_uid)}")
    return None


def make_plan(facts, findings, *, as_root: bool, stamp: str, persist: bool = False, root_names=None,
              pip_args: Optional[Sequence[str]] = None, log_findings=()) -> Plan:
    """The least invasive cure that works for this user right now, per finding (facts: checkfacts.CheckFacts,
    findings: the check's, with suggest_check's fixes; log_findings: a failed pip run's, for PD107/PD108).

    Root gives foreign entries back (chown, only inside the cache); the user alone moves foreign subtrees
    aside inside a cache root it owns; otherwise pip is pointed at a fresh cache. What chown cannot cure
    (flags, ACLs, read-only or full filesystems, NFS) gets no change, an explanation and the alternate cache.
    """
    by_code = {f.code: f for f in findings}
    cache = facts.cache_path
    account = facts.account
    scope = check_scope(facts)
    refused = None
    if cache:
        refused = refused_cache_root(facts)
        if refused is None and root_names is not None:
            problem = cache_names_problem(facts.installer, root_names)
            refused = f"refusing to act on {cache}: {problem}" if problem else None
    steps: list = []
    uid, gid = facts.cache_owner_uid, facts.cache_owner_gid
    foreign = by_code.get("PD103")
    if foreign is not None:
        cures = ("PD103",) + (("PD102",) if "PD102" in by_code and not by_code["PD102"].facts.get("setting")
                              else ())
        kinds = list(foreign.facts.get("blockers", ()))
        if refused:  # first: no command that touches a refused directory, not even one to review
            steps.append(Step("none", "PD103", "", False, f"No change: {refused}.", (), cures))
            steps.append(_alternate_step(facts, "PD103", cures, persist, pip_args, "Meanwhile:"))
        elif kinds or foreign.facts.get("shared"):
            why = ("chown cannot cure it: " + ", ".join(kinds) if kinds else
                   "this cache is shared by several users on purpose: its owners are by design")
            advice = next((f.command for f in foreign.fixes if not f.safe), "")
            steps.append(Step("none", "PD103", advice, bool(advice.startswith("sudo ")),
                              f"No change: {why}." + (" The command shown is for an administrator to review." if
                                                      advice else ""), (), cures))
            steps.append(_alternate_step(facts, "PD103", cures, persist, pip_args, "Meanwhile:"))
        elif as_root:
            targets = tuple(foreign.facts.get("chown", ()) or (cache,))
            who = account.user if uid == account.uid else None
            steps.append(_chown_step(facts, scope, targets, cures,
                                     f"Give the entries not owned by {who or uid} back to {uid}:{gid}: only inside "
                                     "the cache, never through a symlink or a mount point, never a device file "
                                     "or a file with other hard links."))
        else:
            targets = _move_aside_targets(facts)
            if targets:
                steps.append(_move_aside_step(
                    "PD103", targets, stamp, cures, "No root needed: move the subtrees holding foreign entries "
                    f"aside, inside the cache (a rename in a directory you own); {facts.installer.name} makes them "
                    "again on its next run. Their contents are not yours: deleting them needs root.", "sudo rm -rf",
                    scope))
            elif _user_can_rename_cache(facts):
                steps.append(_move_aside_step(
                    "PD103", (cache,), stamp, cures, "No root needed: move the whole cache aside (a rename in "
                    f"{facts.parent.path}, a directory you own); {facts.installer.name} makes a fresh one on its "
                    "next run. Its contents are not yours: deleting them needs root.", "sudo rm -rf", scope))
            else:
                steps.append(_alternate_step(facts, "PD103", cures, persist, pip_args,
                                             "Without root nothing in this cache can be moved (the cache dir "
                                             "itself is not yours, nor the dir holding it)."))
    unwritable = by_code.get("PD104")
    if steps and steps[0].kind == "none" and unwritable is not None and foreign.facts.get("blockers"):
        # The same flag, ACL or mount that stops chown stops the write: one explanation cures both.
        steps = [step._replace(cures=step.cures + ("PD104",)) for step in steps]
        unwritable = None
    disabled = by_code.get("PD102")
    if disabled is not None and foreign is None:
        setting = disabled.facts.get("setting")
        if setting:
            steps.append(Step("none", "PD102", disabled.fixes[0].command if disabled.fixes else "", False,
                              f"No change: the cache is turned off by {setting}; remove that setting.", (),
                              ("PD102",)))
        else:
            steps.append(_alternate_step(facts, "PD102", ("PD102",), persist, pip_args, ""))
    if unwritable is not None:
        advice = unwritable.fixes[0].command if unwritable.fixes else ""
        owner = "" if foreign is not None else "the owner is right; "
        steps.append(Step("none", "PD104", advice, advice.startswith("sudo "),
                          f"No change: {owner}a mode, flag, ACL or a directory above the cache stops "
                          "the write. Review and run the command shown.", (), ("PD104",)))
        if foreign is None:
            steps.append(_alternate_step(facts, "PD104", ("PD104",), persist, pip_args, "Meanwhile:"))
    for code, why in (("PD105", "the filesystem is full; chown will not free space"),
                      ("PD106", "the filesystem is read-only; chown will not help")):
        if code not in by_code:
            continue
        if code == "PD106" and foreign is not None and "read-only" in foreign.facts.get("blockers", ()):
            steps = [step._replace(cures=step.cures + (code,)) for step in steps]  # explained above already
        else:
            steps.append(Step("none", code, by_code[code].fixes[0].command if by_code[code].fixes else "", False,
                              f"No change: {why}.", (), (code,)))
            steps.append(_alternate_step(facts, code, (code,), persist, pip_args, "Meanwhile:"))
    # With the whole cache moved aside, nothing in it needs moving too (apply renames the root alone).
    whole = any(step.kind == "rename" and step.targets == (cache,) for step in steps)
    for finding in log_findings:
        if finding.code == "PD107" and whole:
            continue
        if finding.code == "PD107" and finding.paths and cache and not refused:
            entry = finding.paths[0]
            inside = entry.startswith(cache.rstrip("/") + "/wheels/") and "/../" not in entry
            if inside:
                steps.append(_move_aside_step(
                    "PD107", (entry,), stamp, ("PD107",), "Take only the damaged wheel out of pip's sight "
                    "(renamed in place, so undo can put it back; pip ignores a name that does not end in .whl) "
                    "and pip builds or downloads it again.", "rm", scope))
        elif (finding.code == "PD107" and finding.severity is Severity.ERROR and finding.facts.get("http_cache")
              and cache and not refused):
            # pip serves the damaged response on every run: its HTTP cache goes aside, pip refills a fresh one.
            areas = [f"{cache.rstrip('/')}/{name}" for name in ("http", "http-v2") if name in (root_names or ())]
            if areas and (as_root or _user_can_rename(facts)):
                steps.append(_move_aside_step(
                    "PD107", areas, stamp, ("PD107",), "Move pip's HTTP cache aside (renamed in place, so undo can "
                    "put it back); pip downloads again and fills a fresh one.", "rm -rf", scope))
            else:
                steps.append(_alternate_step(facts, "PD107", ("PD107",), persist, pip_args,
                                             "The HTTP cache cannot be moved aside here."))
        elif finding.code == "PD108" and finding is log_findings[0]:
            # Only as the root cause: beside another finding, a reused wheel is just how pip found the package.
            for name in finding.facts.get("packages", ()):
                argv = ("cache", "remove", name, *_cache_args(facts))
                removal = gate(Fix(command_line(PIP, argv), "", True, ((PIP_CACHE, cache),)), scope)
                steps.append(Step("pip-cache-remove", "PD108", command_line(PIP, argv), False,
                                  f"Remove the locally built {name} wheel(s) with pip's own command (not "
                                  "undoable; pip builds them again next time).",
                                  (name,), ("PD108",), pip_argv=argv, safe=removal is not None and removal.safe))
    tool = facts.installer.name
    steps = [_advice_verdict(step, findings)._replace(tool=tool) for step in steps]
    return Plan(cache, account.user if uid == account.uid else None, uid, gid, stamp, _one_alternate(steps), refused,
                tool)


def _chown_step(facts, scope: Scope, targets: tuple, cures: tuple, description: str) -> Step:
    """Root's chown, applied by repair/apply.py (which skips what the walk below finds); the shell command shown is
    the gate's: `chown -R`, a form that skips hard-linked and special files, or none when a mount point lies
    below (no shell command stops at a bind mount of the same filesystem)."""
    uid, gid = facts.cache_owner_uid, facts.cache_owner_gid
    command = chown_command(_sudo(facts), uid, gid, targets)
    gated = gate(Fix(command, description, True, tuple((CHOWN_TREE, t) for t in targets)), scope)
    if gated is None or not gated.touches:
        command, safe = "", False
        description += " No shell command does the same here: a chown -R would reach through a mount point."
    else:
        command, safe = gated.command, gated.safe
        if gated.touches[0][0] != CHOWN_TREE:
            description += " The command shown skips them too."
    return Step("chown", "PD103", command, True, description, targets, cures, uid=uid, gid=gid, safe=safe)


def _advice_verdict(step: Step, findings) -> Step:
    """A `none` step shows a finding's fix, which went through the gate with it: keep its verdict."""
    if step.kind != "none" or not step.command:
        return step
    verdicts = {fix.command: fix.safe for finding in findings for fix in finding.fixes}
    return step._replace(safe=verdicts.get(step.command, False))


def _one_alternate(steps: list) -> tuple:
    """One fresh cache cures every finding that asked for it: each later alternate-cache step (the same
    command) folds its cures into the first."""
    out: list = []
    first = None
    for step in steps:
        if step.kind == "alternate-cache" and first is not None:
            kept = out[first]
            out[first] = kept._replace(cures=kept.cures + tuple(c for c in step.cures if c not in kept.cures))
            continue
        if step.kind == "alternate-cache":
            first = len(out)
        out.append(step)
    return tuple(out)
