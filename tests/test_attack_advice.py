"""Copy-and-run advice under attack: every command `check` and `fix --dry-run` print as safe is run as printed,
sealed, as the user it is meant for (root for `sudo ...`), and nothing outside the cache may change. States an
unprivileged user (or a careless admin) can make: a bind mount, a hard link and a device node inside the cache,
HOME=/ for a bare uid, HOME=/etc/..., a cache that is a file, another user's home as the cache, a root-owned
parent of HOME; and a tree past PATH_MAX that the walk must count or report."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
from pathlib import Path

import pytest

from tests import sandbox
from tests.checkkit import chown_to_root, deep_entries, new_user_cache, pipdoctor_bin, pip_python, with_pip

pytestmark = pytest.mark.root

BARE_UID = 12345
# sudo is not installed in the test machine: run its arguments as root, or with -u as that user (or #uid).
SUDO = """sudo() {
  if [ "$1" = -u ]; then
    u=$2; shift 2
    case $u in '#'*) setpriv --reuid "${u#?}" --regid "${u#?}" --clear-groups -- "$@";;
               *) /usr/sbin/runuser -u "$u" -- "$@";; esac
  else "$@"; fi
}
"""


def _doc(proc) -> dict:
    text = proc.stdout
    start = text.find(b"{")
    assert start >= 0, text.decode(errors="replace")
    return json.loads(text[start:])


def _state(paths) -> dict:
    """Every entry below each path (lstat, no link followed): owner, mode, inode, and a regular file's bytes."""
    found = {}
    for top in paths:
        stack = [str(top)]
        while stack:
            path = stack.pop()
            st = os.lstat(path)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            found[path] = (st.st_uid, st.st_gid, st.st_mode, st.st_ino, digest)
            if stat.S_ISDIR(st.st_mode) and not os.path.ismount(path):
                stack.extend(os.path.join(path, name) for name in os.listdir(path))
    return found


class Advice:
    """One attack state: how to run pipdoctor and the printed commands in it, and what must stay as it is."""

    def __init__(self, seal, user, *, watch=(), setup: str = "", uid=None, env=None):
        self.seal = seal
        self.user = user
        self.setup = seal.setup + ("\n" + setup if setup else "")
        self.uid = uid  # a bare uid (no passwd entry) instead of the user
        self.tmp = seal.scratch / "tmp"  # mktemp's place for the commands run (TMPDIR); not watched
        self.tmp.mkdir(mode=0o1777, exist_ok=True)
        self.tmp.chmod(0o1777)
        self.env = env
        self.watch = [seal.scratch / name for name in os.listdir(seal.scratch) if name not in ("tmp", "varlib")]
        self.watch += list(watch)

    def _user_env(self) -> dict:
        env = with_pip(dict(self.env) if self.env is not None else sandbox.pip_env(HOME=str(self.user.home)))
        return env

    def _as_user(self, argv, env):
        if self.uid is not None:
            return sandbox.run_as_uid(self.uid, self.uid, argv, env=env, cwd="/", mount_setup=self.setup,
                                      separate_stderr=True, timeout=300)
        return sandbox.run_as(self.user, argv, env=env, mount_setup=self.setup, separate_stderr=True, timeout=300)

    def _as_root(self, argv, env=None):
        return sandbox.run(argv, env=with_pip(env), mount_setup=self.setup, separate_stderr=True, timeout=300)

    def documents(self, *, root=True) -> list:
        """check --json and fix --dry-run --json, as the user and (with --user) as root. A fix refused before
        its check (exit 2, one line: nothing to print but the reason) has no document and prints nothing."""
        runs = []
        for command in (["check"], ["fix", "--dry-run"]):
            runs.append(("user", self._as_user([pipdoctor_bin(), *command, "--json"], self._user_env())))
            if root and self.uid is None:
                runs.append(("root", self._as_root([pipdoctor_bin(), *command, "--json", "--user", self.user.name])))
        docs = []
        for who, proc in runs:
            if proc.returncode == 2 and not proc.stdout and proc.stderr.startswith(b"pipdoctor: error: refusing"):
                continue
            docs.append((who, _doc(proc)))
        return docs

    def safe_commands(self, docs) -> list:
        """Every command printed with safe: true, once: fixes of every finding (check, fix's before) and the
        plan's step commands and `later` follow-ups (printed only when safe)."""
        found = []
        for _, doc in docs:
            accounts = doc.get("accounts") or [doc.get("before") or {}]
            for account in accounts:
                for finding in account.get("findings", ()):
                    found += [f["command"] for f in finding["fixes"] if f["safe"]]
            for step in (doc.get("plan") or {}).get("steps", ()):
                if step["command"] and step["safe"]:
                    found.append(step["command"])
                if step["later"]:
                    found.append(step["later"])
        return list(dict.fromkeys(found))

    def run_printed(self, command: str):
        """As printed: a command with `sudo` as root (sudo is a function that runs its arguments: it is not
        installed here), anything else as the account the report is for, whoever read the report. In bash, the
        shell a command is pasted into (dash reads no $'...')."""
        path = f"{pipdoctor_bin().parent}:{pip_python().parent}:{sandbox.PATH}"
        script = SUDO + command
        if command.startswith("sudo ") or " sudo " in command:
            env = sandbox.pip_env(PATH=path, TMPDIR=str(self.tmp))
            return self._as_root(["bash", "-c", script], env)
        env = dict(self._user_env(), PATH=path, TMPDIR=str(self.tmp))
        return self._as_user(["bash", "-c", script], env)

    def assert_safe_commands_stay_inside(self, docs, extra=()):
        commands = self.safe_commands(docs)
        assert commands, docs
        before = _state(self.watch)
        for command in commands:
            proc = self.run_printed(command)
            out = (proc.stdout + proc.stderr).decode(errors="replace")
            assert "Read-only file system" not in out, (command, out)
            assert _state(self.watch) == before, command
            for path in extra:
                assert path(), command
        return commands


@pytest.fixture
def victim(seal):
    """A root-owned 0640 stand-in for /etc/shadow outside every cache, in the sealed scratch."""
    outside = seal.scratch / "outside"
    outside.mkdir()
    path = outside / "shadow"
    path.write_text("root:$6$secret:19000:0:99999:7:::\n")
    os.chown(path, 0, 0)
    path.chmod(0o640)
    return path


def _foreign_bucket(user) -> Path:
    cache = new_user_cache(user)
    bucket = deep_entries(cache, "wheels", 1)[0]
    chown_to_root([bucket])
    return bucket


def _all_commands(docs) -> list:
    found = []
    for _, doc in docs:
        for account in doc.get("accounts") or [doc.get("before") or {}]:
            for finding in account.get("findings", ()):
                found += [f["command"] for f in finding["fixes"]]
        found += [s["command"] for s in (doc.get("plan") or {}).get("steps", ())]
    return found


def test_a_bind_mount_inside_a_foreign_subtree(seal, user, victim):
    bucket = _foreign_bucket(user)
    point = bucket / "mnt"
    point.mkdir()
    os.chown(point, 0, 0)
    advice = Advice(seal, user, setup=f"mount --bind {shlex.quote(str(victim.parent))} {shlex.quote(str(point))}")
    docs = advice.documents()
    assert not any("chown -R" in c and str(bucket) in c for c in _all_commands(docs))
    for _, doc in docs[:2]:  # the check, as the user and as root: the evidence names the mount point
        [found] = [f for f in doc["accounts"][0]["findings"] if f["code"] == "PD103"]
        assert any(f"{point} (mount point)" in e["text"] for e in found["evidence"]), found["evidence"]
    commands = advice.assert_safe_commands_stay_inside(docs)
    assert any("pipdoctor fix --user " + user.name in c for c in commands)


def _mount_point(path: Path) -> Path:
    """A root-owned empty dir at path (and the user's dirs above it inside the cache) for a bind mount."""
    path.mkdir(parents=True)
    os.chown(path, 0, 0)
    return path


def test_a_bind_mount_under_a_moved_aside_name_at_the_cache_root(seal, user, victim):
    """A mount point an admin made below a dir the user owns, renamed by the user into the cache under a
    moved-aside name (`wheels.pipdoctor-1`): the walk does not count such copies, but a `chown -R` of the
    whole cache (the target once more than a few subtrees are foreign) reaches through the mount. It must not
    be called safe; `pipdoctor fix` (which skips mounts) is offered instead."""
    cache = new_user_cache(user)
    chown_to_root(deep_entries(cache, "wheels", 8))  # more foreign subtrees than samples: the root is the target
    point = _mount_point(cache / "wheels.pipdoctor-1" / "team")
    sandbox.chown_tree(point.parent, user.uid, user.gid)
    os.chown(point, 0, 0)
    advice = Advice(seal, user, setup=f"mount --bind {shlex.quote(str(victim.parent))} {shlex.quote(str(point))}")
    docs = advice.documents()
    commands = advice.assert_safe_commands_stay_inside(docs)
    assert not any(c.startswith("sudo chown -R") and c.endswith(str(cache)) for c in commands), commands
    assert any("pipdoctor fix --user " + user.name in c for c in commands), commands
    assert os.lstat(victim).st_uid == 0


def test_a_bind_mount_nested_in_a_moved_aside_copy(seal, user, victim):
    """A copy `fix` moved aside (root's entries in it) holding a dir the user renamed to a moved-aside name, with
    a mount point below: PD110's `sudo rm -rf` of the copy would delete through the mount, so it is not safe."""
    cache = new_user_cache(user)
    copy = cache / "wheels.pipdoctor-1"
    (cache / "wheels").rename(copy)
    chown_to_root(deep_entries(cache, "wheels.pipdoctor-1", 2))
    point = _mount_point(copy / "x.pipdoctor-2" / "team")
    os.chown(point.parent, user.uid, user.gid)
    advice = Advice(seal, user, setup=f"mount --bind {shlex.quote(str(victim.parent))} {shlex.quote(str(point))}")
    docs = advice.documents()
    assert not any("rm -rf" in c and str(copy) in c for c in advice.safe_commands(docs)), advice.safe_commands(docs)
    # the copy is still reported (PD110), with no rm -rf marked safe (none at all: it would cross the mount)
    found = [finding for _, doc in docs for account in doc.get("accounts") or [doc.get("before") or {}]
             for finding in account.get("findings", ()) if finding["code"] == "PD110"]
    assert found and not any(f["safe"] for finding in found for f in finding["fixes"] if "rm -rf" in f["command"])


def test_a_hard_link_to_a_file_outside(seal, user, victim):
    bucket = _foreign_bucket(user)
    os.link(victim, bucket / "shadow-link")
    advice = Advice(seal, user)
    docs = advice.documents()
    commands = advice.assert_safe_commands_stay_inside(docs)
    assert any("-links +1" in c for c in commands)
    assert os.lstat(victim).st_uid == 0


def test_a_device_node_inside_the_cache(seal, user):
    bucket = _foreign_bucket(user)
    node = bucket / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    advice = Advice(seal, user)
    docs = advice.documents()

    def nodes_stay_roots() -> bool:  # wherever a rename took it (a deletion is fine): never the user's
        cache = user.home / ".cache" / "pip"
        return all(os.lstat(os.path.join(d, n)).st_uid == 0 for d, _, files in os.walk(cache) for n in files
                   if stat.S_ISCHR(os.lstat(os.path.join(d, n)).st_mode))

    advice.assert_safe_commands_stay_inside(docs, extra=[nodes_stay_roots])


def test_home_slash_for_a_bare_uid(seal, user):
    env = sandbox.pip_env(HOME="/")
    advice = Advice(seal, user, uid=BARE_UID, env=env)
    docs = advice.documents()
    everything = _all_commands(docs)
    assert not any(("chown" in c or "chmod" in c) and c.rstrip().endswith(" /") for c in everything), everything
    assert 'export HOME="$(mktemp -d)"' in everything and any("g+rwX" in c for c in everything)
    advice.assert_safe_commands_stay_inside(docs)


@pytest.mark.parametrize("bare", [False, True], ids=["passwd-user", "bare-uid"])
def test_home_in_etc(seal, user, bare):
    advice = Advice(seal, user, env=sandbox.pip_env(HOME="/etc/ssh"), watch=[Path("/etc/ssh")],
                    uid=BARE_UID if bare else None)
    docs = advice.documents(root=False)
    assert not any("/etc/ssh" in c and ("chown" in c or "chmod" in c) for c in _all_commands(docs))
    advice.assert_safe_commands_stay_inside(docs)


def _config_naming(user, cache: Path) -> None:
    config = user.home / ".config" / "pip"
    config.mkdir(parents=True)
    (config / "pip.conf").write_text(f"[global]\ncache-dir = {cache}\n")
    sandbox.chown_tree(user.home / ".config", user.uid, user.gid)


def test_a_cache_path_that_is_a_file(seal, user):
    copy = seal.scratch / "passwd"
    copy.write_bytes(Path("/etc/passwd").read_bytes())
    _config_naming(user, copy)
    for cache in (copy, Path("/etc/passwd")):
        env = sandbox.pip_env(HOME=str(user.home), PIP_CACHE_DIR=str(cache))
        advice = Advice(seal, user, env=env)
        docs = advice.documents(root=cache == copy)  # root reads the user's config: it names the copy
        assert not any(str(cache) in c for c in _all_commands(docs)), _all_commands(docs)
        advice.assert_safe_commands_stay_inside(docs)


def test_another_users_home_as_the_cache(seal, user):
    with sandbox.unprivileged_user("pdb") as bob:
        (bob.home / "notes").write_text("bob's\n")
        os.chown(bob.home / "notes", bob.uid, bob.gid)
        _config_naming(user, bob.home)
        env = sandbox.pip_env(HOME=str(user.home), PIP_CACHE_DIR=str(bob.home))
        advice = Advice(seal, user, env=env, watch=[bob.home])
        docs = advice.documents()
        assert not any(str(bob.home) in c and "chown" in c for c in _all_commands(docs)), _all_commands(docs)
        advice.assert_safe_commands_stay_inside(docs)


@pytest.mark.parametrize("where", ["bob's cache", "a dir bob owns outside any home"])
def test_a_config_naming_another_accounts_cache_steers_no_fix(seal, user, where):
    """alice's own pip.conf is input: `cache-dir = /home/bob/.cache/pip` (or a dir bob owns) must not make root's
    `fix --user alice --yes` give bob's entries to alice. Refused before any change, exit 2, bob's files as
    they were; the check prints no chown into them."""
    with sandbox.unprivileged_user("pdb") as bob:
        if where == "bob's cache":
            cache = new_user_cache(bob)
        else:
            cache = seal.scratch / "bobs-cache"
            cache.mkdir()
            (cache / "wheels").mkdir()
            (cache / "wheels" / "w.whl").write_bytes(b"bob's wheel")
            sandbox.chown_tree(cache, bob.uid, bob.gid)
        _config_naming(user, cache)
        before = _state([cache])
        advice = Advice(seal, user, watch=[cache])
        fixed = advice._as_root([pipdoctor_bin(), "fix", "--json", "--user", user.name, "--yes"])
        assert fixed.returncode == 2, fixed.stderr
        assert b"refusing to act on" in fixed.stderr and b"Traceback" not in fixed.stderr, fixed.stderr
        assert _state([cache]) == before
        docs = advice.documents()
        assert not any(str(cache) in c and "chown" in c for c in _all_commands(docs)), _all_commands(docs)


def test_a_root_owned_parent_of_home(seal, user):
    parent = seal.scratch / "home-parent"
    parent.mkdir(mode=0o755)
    env = sandbox.pip_env(HOME=str(parent / "missing"))
    advice = Advice(seal, user, env=env)
    docs = advice.documents(root=False)
    assert not any("chmod" in c and str(parent) in c for c in _all_commands(docs)), _all_commands(docs)
    advice.assert_safe_commands_stay_inside(docs)


def _deep_tree(top: Path, owner: int) -> int:
    """A chain of 200-byte names past PATH_MAX (4096 bytes), made through dir fds; a root-owned file at each
    level from the 10th down. Returns how many foreign entries it holds."""
    name = "d" * 200
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    foreign = 0
    try:
        for level in range(30):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.chown(name, owner, owner, dir_fd=fd, follow_symlinks=False)
            os.close(fd)
            fd = child
            if level >= 10:
                leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.close(leaf)
                foreign += 1
    finally:
        os.close(fd)
    return foreign


def test_entries_past_path_max_are_counted(seal, user):
    cache = new_user_cache(user)
    foreign = _deep_tree(cache / "wheels", user.uid)
    advice = Advice(seal, user)
    for who, doc in (("user", _doc(advice._as_user([pipdoctor_bin(), "check", "--json"], advice._user_env()))),
                     ("root", _doc(advice._as_root([pipdoctor_bin(), "check", "--json", "--user", user.name])))):
        account = doc["accounts"][0]
        assert account["cache"]["not_reached"]["count"] == 0, (who, account["cache"])
        found = [f for f in account["findings"] if f["code"] == "PD103"]
        assert found and f"{foreign:,} entries" in found[0]["message"], (who, account["findings"])


def test_control_characters_in_names_are_escaped_and_exact(seal, user):
    cache = new_user_cache(user)
    odd = cache / "wheels" / "ev\x1b[31mil\nline\x07"
    odd.mkdir()
    (odd / "x.whl").write_bytes(b"x")
    advice = Advice(seal, user)
    docs = advice.documents()
    everything = _all_commands(docs)
    assert not any(ch in c for c in everything for ch in "\x1b\n\x07"), everything
    assert any("$'" in c for c in everything)
    [chown] = {c for c in advice.safe_commands(docs) if "chown -R" in c}
    assert advice.run_printed(chown).returncode == 0
    assert os.lstat(odd).st_uid == user.uid and os.lstat(odd / "x.whl").st_uid == user.uid  # the exact name
    os.chown(odd, 0, 0)
    advice.assert_safe_commands_stay_inside(docs)


def _swap_for_symlink(path: Path, target: Path) -> None:
    """What the user can do between the report and the admin's paste: put a symlink where a dir was."""
    path.rename(path.with_name(path.name + ".old"))
    os.symlink(target, path)
    os.lchown(path, os.lstat(path.parent).st_uid, os.lstat(path.parent).st_gid)


def test_a_symlink_swapped_in_after_the_report_steers_no_chown(seal, user, victim):
    dot_cache = user.home / ".cache"
    dot_cache.mkdir(mode=0o755)  # root's: pip cannot create ~/.cache/pip
    advice = Advice(seal, user)
    docs = [("root", _doc(advice._as_root([pipdoctor_bin(), "check", "--json", "--user", user.name])))]
    [chown] = [c for c in advice.safe_commands(docs) if "chown" in c]
    assert chown.startswith("sudo chown -h "), chown
    _swap_for_symlink(dot_cache, victim)
    before = _state(advice.watch)
    ran = advice.run_printed(chown)
    assert ran.returncode == 0, ran.stdout + ran.stderr  # it ran: -h changed the link itself, nothing behind it
    assert _state(advice.watch) == before


def test_a_symlink_swapped_in_after_the_report_steers_no_chmod(seal, user, victim):
    cache = new_user_cache(user)
    (cache / "wheels").chmod(0o555)
    advice = Advice(seal, user)
    docs = [("root", _doc(advice._as_root([pipdoctor_bin(), "check", "--json", "--user", user.name])))]
    [chmod] = [c for c in advice.safe_commands(docs) if "chmod" in c]
    assert chmod.startswith(f"sudo -u {user.name} chmod "), chmod  # as the user, never as root
    _swap_for_symlink(cache / "wheels", victim)
    before = _state(advice.watch)
    ran = advice.run_printed(chmod)
    assert b"Operation not permitted" in ran.stdout + ran.stderr  # it ran, as the user, and was turned away
    assert _state(advice.watch) == before


def test_planted_moved_aside_copies_with_links_out_and_a_device(seal, user, victim):
    """Copies named as `fix` names what it moves aside (in the cache and beside it, where the user may plant
    anything): a hard link and a symlink to a file outside and a device node in them. The check reports
    them with an rm -rf marked safe; run as root, it deletes the copies' own names and nothing outside."""
    cache = new_user_cache(user)
    beside = cache.parent / "pip.pipdoctor-20250101T000000Z"
    inside = cache / "wheels.pipdoctor-20250101T000000Z"
    for copy in (beside, inside):
        (copy / "ab").mkdir(parents=True)
        os.link(victim, copy / "ab" / "shadow-link")
        os.symlink(victim, copy / "ab" / "shadow-symlink")
        os.mknod(copy / "ab" / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        sandbox.chown_tree(copy, 0, 0)
    advice = Advice(seal, user)
    docs = advice.documents()
    commands = advice.assert_safe_commands_stay_inside(docs)
    assert f"sudo rm -rf -- {beside}" in commands and f"sudo rm -rf -- {inside}" in commands
    assert not beside.exists() and not inside.exists()
    assert victim.read_text().startswith("root:") and os.lstat(victim).st_uid == 0
