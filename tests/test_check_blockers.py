"""`pipdoctor check` where chown is not the cure: immutable flag, ACL, read-only mount, full filesystem,
unusable TMPDIR. Each state is built for real (chattr, setfacl, mounts in `unshare -m`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests import sandbox
from tests.checkkit import (assert_pip_agrees, check_as, check_as_root, fix_commands, fs_type, new_user_cache,
                            runner_as, user_cache, with_pip)

pytestmark = pytest.mark.root

# Filesystems whose inodes carry the immutable flag (FS_IOC_SETFLAGS); tmpfs only since Linux 6.0.
_FLAG_FILESYSTEMS = {"ext2/ext3", "ext4", "xfs", "btrfs", "f2fs"}


def _env(user, **extra):
    return with_pip(sandbox.pip_env(HOME=user.home, **extra))


def test_immutable_cache_dir(user):
    cache = new_user_cache(user)
    if fs_type(cache) not in _FLAG_FILESYSTEMS:
        pytest.skip(f"{sandbox.SANDBOX} is on {fs_type(cache)}, which has no immutable flag (chattr +i)")
    wheels = cache / "wheels"
    subprocess.run(["chattr", "+i", str(wheels)], check=True)
    try:
        result = check_as(user)
        assert result.returncode == 1, result.output
        found = result.finding("PD104")
        assert found["message"] == (f"{user.name} cannot write {wheels}, a directory pip writes: it is immutable "
                                    "(chattr +i).")
        evidence = "\n".join(e["text"] for e in found["evidence"])
        assert f"chown will not help: {wheels} has the immutable flag" in evidence
        assert fix_commands(found)[0] == f"sudo chattr -i {wheels}"
        assert found["fixes"][0]["safe"] is False
        assert "PD103" not in result.codes() and "PD102" not in result.codes()
        # root judging the user (--user) reads the same flag and reaches the same verdict
        assert check_as_root("--user", user.name).codes() == result.codes()
        assert_pip_agrees(result, runner_as(user), _env(user))
    finally:
        subprocess.run(["chattr", "-i", str(wheels)])


# setfacl (Debian's package acl) builds the ACL; pipdoctor itself reads ACLs without it (host.permissions.decode_acl).
needs_setfacl = pytest.mark.skipif(shutil.which("setfacl") is None,
                                   reason="setfacl is missing: apt-get install acl (.ci/run installs it)")


@needs_setfacl
def test_acl_denies_the_user_a_shared_cache(user):
    shared = sandbox.SANDBOX / f"shared-cache-{user.name}"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir()
    shared.chmod(0o777)
    try:
        acl = subprocess.run(["setfacl", "-m", f"u:{user.name}:r-x", str(shared)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if acl.returncode != 0 and "not supported" in acl.stdout:
            pytest.skip(f"the filesystem of {sandbox.SANDBOX} has no ACLs: {acl.stdout.strip()}")
        assert acl.returncode == 0, acl.stdout
        env = _env(user, PIP_CACHE_DIR=shared)
        result = check_as(user, env=env)
        assert result.returncode == 1, result.output
        # pip's own ownership test fails too: PD102, and `disabled` says the same
        assert result.cache == {"path": str(shared), "disabled": True, "source": "PIP_CACHE_DIR",
                                "not_reached": {"count": 0, "reasons": {}, "samples": []}}
        assert "PD102" in result.codes() and result.account["cache"]["disabled_by"] == "ownership"
        found = result.finding("PD104")
        assert found["message"] == f"{user.name} cannot write {shared}, a directory pip writes: an ACL denies it."
        evidence = "\n".join(e["text"] for e in found["evidence"])
        assert f"`user:{user.name}:r-x`" in evidence
        assert fix_commands(found)[0] == f"sudo setfacl -m u:{user.name}:rwx {shared}"
        assert "PD103" not in result.codes()  # a shared cache's owner is by design: no chown advice
        assert "PD102" in result.codes()  # access(W_OK) says no: pip disables the cache
        # --user judges with the user's own login environment: the caller's PIP_* do not apply, options do
        assert check_as_root("--user", user.name, "--cache-dir", str(shared)).codes() == result.codes()
        assert_pip_agrees(result, runner_as(user), env)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_cache_on_a_read_only_bind_mount(user):
    cache = new_user_cache(user)
    setup = f"mount --bind {cache} {cache}\nmount -o remount,bind,ro {cache}"
    result = check_as(user, mount_setup=setup)
    assert result.returncode == 1, result.output
    found = result.finding("PD106")
    assert result.codes()[0] == "PD106"
    assert f"pip's cache {cache} is on a read-only filesystem" in found["message"]
    evidence = "\n".join(e["text"] for e in found["evidence"])
    assert f"on {cache} type ext4 (ro" in evidence or f"on {cache} type" in evidence
    assert "chown will not help" in found["why"]
    commands = fix_commands(found)
    assert commands[0].endswith("--cache-dir " + str(user.home / ".cache" / "pip-fresh"))
    assert f"sudo mount -o remount,rw {cache}" in commands
    assert "PD103" not in result.codes()
    # pip in the same namespace: access(W_OK) fails with EROFS, so pip disables the cache (PD102 predicted)
    assert "PD102" in result.codes()
    assert_pip_agrees(result, lambda argv, env=None, cwd=None: sandbox.run_as(user, argv, env=env, mount_setup=setup),
                      _env(user))
    # outside the namespace the same cache is healthy
    assert check_as(user).returncode == 0


def test_read_only_mount_on_wheels_inside_a_writable_cache(user):
    """A read-only bind mount of wheels/ onto itself (same device as the cache root): PD106 names wheels/,
    not a mode problem to chmod."""
    cache = new_user_cache(user, files=4)
    wheels = cache / "wheels"
    setup = f"mount --bind {wheels} {wheels}\nmount -o remount,bind,ro {wheels}"
    result = check_as(user, mount_setup=setup)
    assert result.returncode == 1, result.output
    assert result.codes() == ["PD106"]
    found = result.finding("PD106")
    assert found["message"].startswith(f"{wheels}, inside pip's cache, is a read-only mount")
    assert f"sudo mount -o remount,rw {wheels}" in fix_commands(found)


def test_cache_on_a_full_tiny_tmpfs(user):
    cache = new_user_cache(user, files=4)
    shutil.rmtree(cache)
    cache.mkdir()
    os.chown(cache, user.uid, user.gid)
    setup = (f"mount -t tmpfs -o size=256k,mode=0755,uid={user.uid},gid={user.gid} tmpfs {cache}\n"
             f"dd if=/dev/zero of={cache}/filler bs=4k 2>/dev/null || true\n"
             f"chown {user.uid}:{user.gid} {cache}/filler")
    result = check_as(user, mount_setup=setup)
    assert result.returncode == 1, result.output
    found = result.finding("PD105")
    assert found["message"] == (f"The filesystem holding pip's cache {cache} has no space left "
                                f"(tmpfs on {cache}).")
    evidence = "\n".join(e["text"] for e in found["evidence"])
    assert f"tmpfs on {cache} type tmpfs" in evidence and "0 bytes of 262.1 kB" in evidence
    assert fix_commands(found)[0] == f"df -h {cache} && df -i {cache}"
    assert "pip cache purge" in fix_commands(found)[1]
    assert result.codes() == ["PD105"]


def test_full_inodes_on_tmpfs(user):
    cache = user_cache(user)
    cache.mkdir(parents=True)
    sandbox.chown_tree(user.home / ".cache", user.uid, user.gid)
    setup = (f"mount -t tmpfs -o size=1m,nr_inodes=40,uid={user.uid},gid={user.gid} tmpfs {cache}\n"
             f"for i in $(seq 1 60); do touch {cache}/f$i 2>/dev/null || break; done\n"
             f"chown -R {user.uid}:{user.gid} {cache}")
    result = check_as(user, mount_setup=setup)
    found = result.finding("PD105")
    assert "no free inodes" in found["message"]


def test_unwritable_tmpdir(user):
    tmpdir = sandbox.SANDBOX / f"tmp-of-root-{user.name}"
    tmpdir.mkdir(mode=0o755, exist_ok=True)
    try:
        new_user_cache(user)
        result = check_as(user, env=_env(user, TMPDIR=tmpdir))
        assert result.returncode == 1, result.output
        found = result.finding("PD303")
        assert found["message"] == (f"pip's temporary directory is not usable: TMPDIR={tmpdir} is not writable by "
                                    f"{user.name} (owner root 0:0, mode 0755).")
        evidence = "\n".join(e["text"] for e in found["evidence"])
        assert "Python falls back to /tmp" in evidence
        assert fix_commands(found)[0] == f"mkdir -p {user.home}/tmp && export TMPDIR={user.home}/tmp"
        assert result.codes() == ["PD303"]
    finally:
        tmpdir.rmdir()


def test_noexec_tmpdir(user):
    tmpdir = user.home / "tmp"
    tmpdir.mkdir()
    os.chown(tmpdir, user.uid, user.gid)
    new_user_cache(user)
    setup = f"mount -t tmpfs -o size=1m,noexec,uid={user.uid},gid={user.gid} tmpfs {tmpdir}"
    result = check_as(user, env=_env(user, TMPDIR=tmpdir), mount_setup=setup)
    found = result.finding("PD303")
    assert f"{tmpdir} is mounted noexec" in found["message"]
