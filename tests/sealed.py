"""A sealed machine for tests that run pipdoctor as root against an attacker: a private mount namespace whose
root filesystem is read-only, with only the test's own scratch, the throwaway users' homes and a private
/var/lib (root's journal store) writable. A regression then fails a test instead of damaging the box."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Sequence

from tests import sandbox


def seal_script(varlib: Path, writable: Sequence[Path] = ()) -> str:
    """The `mount_setup` (sandbox.run) that seals one command: each `writable` dir is bound onto itself (its
    own rw mount), `varlib` replaces /var/lib (so root's journals live there, across the test's commands),
    then / itself is remounted read-only. Only the root mount is remounted: /proc, /dev and the binds stay."""
    lines = []
    for path in writable:
        quoted = shlex.quote(str(path))
        lines.append(f"mount --rbind {quoted} {quoted}")  # --rbind: the mounts below come along
    lines.append(f"mount --bind {shlex.quote(str(varlib))} /var/lib")
    lines.append("mount -o remount,bind,ro /")
    return "\n".join(lines)


def private_tmp(keep: Sequence[Path]) -> str:
    """The script that gives the sealed machine an empty tmpfs /tmp, keeping the dirs of `keep` that lie below
    the host's /tmp at their paths (the test's scratch; the checkout itself when it was cloned there, as CI may):
    each is bound aside on a scratch tmpfs at /mnt first, then moved back once the new /tmp is mounted."""
    kept = [path for path in keep if Path(path).is_relative_to("/tmp")]
    if not kept:
        return "mount -t tmpfs -o mode=1777 tmpfs /tmp\n"
    lines = ["mount -t tmpfs tmpfs /mnt"]
    for index, path in enumerate(kept):
        lines += [f"mkdir /mnt/{index}", f"mount --rbind {shlex.quote(str(path))} /mnt/{index}"]
    lines.append("mount -t tmpfs -o mode=1777 tmpfs /tmp")
    for index, path in enumerate(kept):
        quoted = shlex.quote(str(path))
        lines += [f"mkdir -p {quoted}", f"mount --move /mnt/{index} {quoted}"]
    return "\n".join(lines) + "\n"


class Seal:
    """One test's sealed machine: `setup` is the mount_setup script for every command the test runs as root.

    The sealed /tmp is a private, empty tmpfs (private_tmp): a read-only /tmp would be a finding of its own (the
    check asks whether the user has a temp dir); the rest of the host's /tmp is out of sight."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.varlib = scratch / "varlib"  # stands in for /var/lib: root's store is varlib/pipdoctor
        self.varlib.mkdir(mode=0o755)
        os.chown(self.varlib, 0, 0)
        self.setup = private_tmp((scratch, sandbox.REPO)) + seal_script(self.varlib, (scratch, sandbox.homes_base()))

    @property
    def store(self) -> Path:
        """Root's journal store as the host sees it (/var/lib/pipdoctor inside the seal)."""
        return self.varlib / "pipdoctor"

    def argv(self, argv: Sequence) -> list:
        """argv run sealed, for a Popen (sandbox.run(mount_setup=seal.setup) does the same for a run to its end)."""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-ec", self.setup + '\nexec "$@"',
                "sh", *[str(a) for a in argv]]
