"""What pip writes in its cache, and pip's root rule: when pip turns a cache off rather than use it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the types only: PIP (installers/pip/__init__.py) stays cheap to import
    from pipdoctor.host.accounts import Account
    from pipdoctor.host.dirs import DirFacts


# The subdirectories pip writes into (pip/_internal/cache.py, network/cache.py, self_outdated_check.py):
# http/ before 23.3, http-v2/ since, selfcheck/ since 20.0 (a selfcheck.json file at the root before).
PIP_WRITES = ("wheels", "http-v2", "http", "selfcheck")
ALWAYS_WRITTEN = ("wheels", "http-v2")


def pip_makes_top_level(name: str) -> bool:
    """A name pip makes at the top of its cache: PIP_WRITES, and selfcheck.json and its lock before pip 20.0."""
    return name in PIP_WRITES or name.startswith("selfcheck")


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
