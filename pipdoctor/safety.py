"""The one gate every printed command passes (pure): `safe` only if, run as printed, it changes nothing outside
the cache; what would reach beyond it is replaced by a form that cannot, marked for review, or not printed."""

from __future__ import annotations

import posixpath
import shlex
from typing import Mapping, Optional

from pipdoctor.findings import Fix
from pipdoctor.records import record

# Directories that are never a pip cache, whatever a config or a symlink says.
SYSTEM_DIRS = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt /proc /root /run /sbin /snap /srv "
    "/sys /tmp /usr /var /var/tmp /var/lib /var/cache /var/log /var/spool /var/mail /var/opt /var/local /usr/local "
    "/usr/lib /usr/bin /usr/sbin /usr/share /usr/include /usr/src /usr/local/bin /usr/local/lib /nonexistent".split())
# Trees no advice may change anything in (a HOME=/etc/x or PIP_CACHE_DIR=/etc/passwd is input, not a place):
# the FHS's static and virtual trees; /var and /home hold real users' homes (jenkins: /var/lib/jenkins).
SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc",
                "/sys", "/run")

# What a printed command changes, declared by the code that builds it (Fix.touches: (op, path) pairs):
CHOWN_TREE = "chown -R"  # as root, the path and everything below it
CHOWN_SKIPPING = "find -exec chown"  # as root, below the path, all but hard-linked and special files
CHOWN = "chown"  # as root, the path itself
CHMOD = "chmod"  # by the path's owner
MKDIR = "mkdir"  # as root, the path and missing parents
MOVE = "mv"  # a rename of the path
REMOVE = "rm"  # one name unlinked
REMOVE_TREE = "rm -rf"  # the path and everything below it
PIP_CACHE = "pip cache"  # pip deletes files below the path (its own `pip cache purge/remove`)
ADMIN = "admin"  # flags, ACLs, mounts, accounts, sudoers: an administrator's decision, never `safe`

# Words of commands that change files: a command built without declaring what it touches and holding one of
# them is never `safe` (the backstop that keeps the gate in front of every command).
_CHANGING = frozenset("chown chmod chgrp chattr setfacl mv rm rmdir mkdir mount umount ln cp tee dd truncate "
                      "useradd usermod visudo".split())

SAFE, REVIEW, DROP = "safe", "review", "drop"


def shell_quote(path) -> str:
    """A word the shell reads back as exactly `path`: shlex.quote when it is printable UTF-8, else bash's
    $'...' with every other byte as \\xNN, so no newline, ESC or BEL reaches a terminal and copy-paste is exact."""
    import os

    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(chr(b) if 32 <= b < 127 and chr(b) not in "'\\" else f"\\x{b:02x}" for b in raw) + "'"


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


def under(path: Optional[str], top: Optional[str]) -> bool:
    """path is top or lies below it (both absolute, compared as normalized text)."""
    if not path or not top:
        return False
    path, top = _norm(path), _norm(top).rstrip("/")
    return path == top or path.startswith(top + "/") or (top == "" and path.startswith("/"))


def unsafe_cache_root(path: str, homes=()) -> Optional[str]:
    """Why `fix` must not act on this cache root (a system dir, /, a HOME), or None."""
    import os

    if not path or not path.startswith("/"):
        return f"refusing to act on {path!r}: not an absolute path"
    norm = posixpath.normpath(path)
    if norm in SYSTEM_DIRS:
        return f"refusing to act on {norm}: it is a system directory, not a pip cache"
    for home in homes:  # the cache path is a realpath; a HOME may be reached through a symlink
        if home and norm in (posixpath.normpath(home), os.path.realpath(home)):
            return f"refusing to act on {norm}: it is a HOME directory, not a pip cache"
    return None


@record
class Scope:
    """What the gate knows: the cache, whose it is, the homes around it, and what lies in it (the walk)."""

    cache: Optional[str]
    cache_kind: str  # of the cache path itself: "dir", "file", "symlink", "other", "missing"
    uid: int  # whose files the cache should hold
    gid: int
    user: Optional[str]  # that account's name, for `pipdoctor fix --user NAME`
    homes: tuple  # the account's HOME and passwd home
    other_homes: tuple  # other accounts' homes the cache or HOME lies in
    known: Mapping  # path -> (kind, owner uid) for the directories the facts describe
    walk: object = None  # cachewalk.CacheWalk, None when the cache was not walked
    sudo: str = "sudo "  # the prefix of root's commands here ("" in a root shell)
    fix_args: tuple = ()  # what `pipdoctor fix` needs to find this cache (--cache-dir when not the default)
    aside: Mapping = None  # path -> mount points below it, for the moved-aside copies the check walked


def forbidden(path: str, scope: Scope) -> Optional[str]:
    """Why no printed command may change path, or None: /, a system directory or tree, another account's home."""
    if not path.startswith("/"):
        return "not an absolute path"
    norm = _norm(path)
    if norm in SYSTEM_DIRS or any(under(norm, tree) for tree in SYSTEM_TREES):
        return "a system directory"
    if any(under(norm, home) for home in scope.other_homes if home):
        return "another account's home"
    return None


def hazards_below(path: str, scope: Scope) -> Optional[tuple]:
    """(mount points, hard links, special files) a `chown -R` of path would reach, or None when unknown: the
    whole walk's counts for the cache root (or any path when the cache has none), a sample's for a subtree."""
    walk = scope.walk
    if walk is None:
        return None
    if walk.moved_aside_skipped and _norm(path) == _norm(scope.cache or ""):
        return None  # the root's moved-aside copies were not walked: what lies in them is unknown
    total = (walk.mount_points, walk.hard_links, walk.specials)
    if not any(total) or _norm(path) == _norm(scope.cache or ""):
        return total
    for sub in walk.foreign_subtrees:
        if _norm(sub.path) == _norm(path):
            return sub.mount_points, sub.hard_links, sub.specials
    return None


def _in_cache(path: str, scope: Scope) -> bool:
    """path is in a cache that may be cured for this account: a real dir, not refused, and not another
    account's (a root owned by another non-root uid: the cache dir comes from the user's own config)."""
    _, root_owner = scope.known.get(_norm(scope.cache or ""), (None, None))
    return scope.cache_kind == "dir" and under(path, scope.cache) and unsafe_cache_root(
        scope.cache or "", scope.homes) is None and root_owner in (None, 0, scope.uid)


# Top-level entries `pipdoctor fix` moved aside carry this in their name (wheels.pipdoctor-<stamp>, and the
# whole cache: pip.pipdoctor-<stamp>): not pip's any more; the walk skips them, the check reports them.
MOVED_ASIDE = ".pipdoctor-"


def _parent_is_users(scope: Scope) -> bool:
    """The directory holding the cache is the account's own (and no system dir or HOME): a rename in it, or
    a copy named after the cache beside it, is the account's doing, not another's."""
    parent = posixpath.dirname(_norm(scope.cache or "/"))
    kind, owner = scope.known.get(parent, (None, None))
    return kind == "dir" and owner == scope.uid and unsafe_cache_root(parent, scope.homes) is None


def _moved_aside(path: str, scope: Scope) -> bool:
    """path is a copy `pipdoctor fix` moved aside: at the top of a curable cache, or beside it, named after it,
    in a directory the account owns."""
    cache = _norm(scope.cache or "")
    norm, parent = _norm(path), posixpath.dirname(_norm(path))
    if not cache or MOVED_ASIDE not in posixpath.basename(norm):
        return False
    if parent == cache:
        return _in_cache(path, scope)
    return norm.startswith(cache + MOVED_ASIDE) and "/" not in norm[len(cache):] and _parent_is_users(scope)


def _remove_moved_aside(path: str, scope: Scope) -> str:
    """rm -rf of a moved-aside copy: what it holds was walked (safe without a mount point below, never printed
    with one); one not made yet (the plan's own rename) holds what the cache or its entry holds now."""
    mounts = (scope.aside or {}).get(_norm(path))
    if mounts is not None:
        return SAFE if mounts == 0 else DROP
    return SAFE if scope.walk is not None and not scope.walk.mount_points else REVIEW


def judge(op: str, path: str, scope: Scope) -> str:
    """SAFE, REVIEW or DROP for one change a command makes."""
    if op == ADMIN:
        return REVIEW
    if forbidden(path, scope):
        return DROP
    kind, owner = scope.known.get(_norm(path), (None, None))
    home = any(home and _norm(path) == _norm(home) for home in scope.homes)
    if op == CHOWN_TREE:
        if not _in_cache(path, scope):
            return DROP
        found = hazards_below(path, scope)
        return SAFE if found is not None and not any(found) else REVIEW
    if op == CHOWN_SKIPPING:
        found = hazards_below(path, scope) if _in_cache(path, scope) else None
        return SAFE if found is not None and not found[0] else DROP
    if op == CHOWN:
        if kind != "dir":
            return DROP if kind is not None else REVIEW
        return REVIEW if home or not (_in_cache(path, scope) or any(under(path, h) for h in scope.homes)) else SAFE
    if op == CHMOD:
        if kind != "dir" or owner != scope.uid:
            return DROP  # never a chmod "for you" of a dir you do not own, nor of a file
        return REVIEW if home else SAFE
    if op == MKDIR:
        return SAFE
    if op == MOVE:  # a rename within the same directory
        if _in_cache(path, scope) and _norm(path) != _norm(scope.cache or ""):
            return SAFE  # whoever owns the entry: its name changes, inside the cache, and nothing else
        if _in_cache(path, scope) and _parent_is_users(scope):
            return SAFE  # the whole cache, renamed in the account's own directory: only its name changes
        in_home = any(under(path, h) and _norm(path) != _norm(h) for h in scope.homes if h)
        return REVIEW if in_home and owner == scope.uid else DROP
    if op == REMOVE:
        return SAFE if _in_cache(path, scope) and _norm(path) != _norm(scope.cache) else DROP
    if op == REMOVE_TREE and _moved_aside(path, scope):
        return _remove_moved_aside(path, scope)
    if op in (REMOVE_TREE, PIP_CACHE):
        if not _in_cache(path, scope):
            return DROP if op == REMOVE_TREE else REVIEW
        return SAFE if scope.walk is not None and not scope.walk.mount_points else REVIEW
    return REVIEW


def changes_files(command: str) -> bool:
    """The command runs a program that changes files: the first word of a pipeline part (after sudo and
    VAR=value), a program find's -exec runs, or a redirection into a file."""
    import re

    for part in re.split(r"&&|\|\||;|\|", command):
        words = part.split()
        while words and (words[0] == "sudo" or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])):
            words = words[1:]
        if words and words[0] in _CHANGING:
            return True
        if any(w == "-exec" and n in _CHANGING for w, n in zip(words, words[1:])) or ">" in part:
            return True
    return False


def _fix_pointer(scope: Scope) -> Optional[Fix]:
    """`pipdoctor fix --user NAME`: it skips mount points, hard-linked and special files, and re-checks each
    entry by device and inode right before it changes it."""
    if scope.user is None:
        return None
    args = " ".join(shell_quote(a) for a in ("--user", scope.user, *scope.fix_args))
    return Fix(f"{scope.sudo}pipdoctor fix {args}", "Let pipdoctor give the entries back: it skips mount points, "
               "files with other hard links and device files (a `chown -R` would reach through them beyond the "
               "cache), and re-checks every entry right before it changes it.", True, ())


def _skipping_chown(paths, scope: Scope, found: tuple) -> Fix:
    """chown every entry below paths but the non-directories with other names and the special files."""
    quoted = " ".join(shell_quote(p) for p in paths)
    command = (f"{scope.sudo}find {quoted} -xdev \\( ! -type d -links +1 -o -type b -o -type c -o -type p "
               f"-o -type s \\) -prune -o -exec chown -h {scope.uid}:{scope.gid} -- {{}} +")
    what = [f"{n:,} {word}" for n, word in zip(found[1:], ("file(s) with other hard links", "device or special "
                                                                   "file(s)")) if n]
    return Fix(command, "Give the entries back, all but " + " and ".join(what) + " (another name may lie "
               "outside the cache, or the file is not pip's): they keep their owner; look at them first.", True,
               tuple((CHOWN_SKIPPING, p) for p in paths))


def gate(fix: Fix, scope: Scope) -> Optional[Fix]:
    """The fix as it may be printed: `safe` only if every change it declares stays in the cache; a chown -R
    that would cross a mount point, a hard link or a device becomes a form that cannot (or `pipdoctor fix`);
    None when it must not be printed at all (it would change /, a system dir, a file that is not the cache's,
    another account's home, or a dir the user does not own)."""
    if fix.touches is None:
        return fix._replace(safe=False) if changes_files(fix.command) else fix
    verdicts = [judge(op, path, scope) for op, path in fix.touches]
    if DROP in verdicts:
        return None
    others_safe = all(v == SAFE for (op, _), v in zip(fix.touches, verdicts) if op != CHOWN_TREE)
    trees = [path for (op, path), v in zip(fix.touches, verdicts) if op == CHOWN_TREE]
    if any(v == REVIEW for (op, _), v in zip(fix.touches, verdicts) if op == CHOWN_TREE):
        found = [hazards_below(p, scope) for p in trees]
        if all(f is not None and not f[0] for f in found):
            replacement = _skipping_chown(trees, scope, tuple(sum(f[i] for f in found) for i in range(3)))
        else:
            replacement = _fix_pointer(scope)
            if replacement is None:
                return None  # a chown -R through a mount point is not printed, not even for review
        return replacement._replace(safe=replacement.safe and fix.safe and others_safe)
    return fix._replace(safe=fix.safe and all(v == SAFE for v in verdicts))


def gate_all(fixes, scope: Scope, instead=()) -> tuple:
    """Every fix through the gate, duplicates dropped; when none is left that is safe, `instead` (what to do
    rather: a fresh cache, --no-cache-dir) is added."""
    out: list = []
    for fix in fixes:
        gated = gate(fix, scope)
        if gated is not None and all(gated.command != f.command for f in out):
            out.append(gated)
    if not any(f.safe for f in out):
        for fix in instead:
            gated = gate(fix, scope)
            if gated is not None and all(gated.command != f.command for f in out):
                out.append(gated)
    return tuple(out)
