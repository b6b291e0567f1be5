"""The temp dir Python's tempfile would pick for the user, and every candidate before it."""

from __future__ import annotations

import os
import stat
from typing import Optional

from pipdoctor.host.accounts import Account, Owner, owner_of
from pipdoctor.host.mounts import MountFacts, mount_of
from pipdoctor.host.permissions import permits, read_acl
from pipdoctor.records import record


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
