"""Pure: what the live facts say about a cache path pip could not use (the broken dir and its owner)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from pipdoctor.records import record

if TYPE_CHECKING:  # the types only: runfacts and host (the live readers) stay off the scanning path
    from pipdoctor.host.accounts import Identity, Owner
    from pipdoctor.runfacts import Facts


@record
class BrokenDir:
    """The directory that is really wrong: the first one, from the cache root down, the user does not own."""

    path: str
    owner: Owner
    mode: int
    foreign: bool  # owned by someone else (else: the user's own, but not writable)


def broken_dir(facts: Optional[Facts], path: str) -> Optional[BrokenDir]:
    if facts is None or path not in facts.paths:
        return None
    pf = facts.paths[path]
    if pf.foreign_top is not None:
        return BrokenDir(pf.foreign_top, pf.foreign_owner, pf.foreign_mode, True)
    if not pf.writable:
        return BrokenDir(pf.existing, pf.owner, pf.mode, False)
    return None


def who(identity: Identity) -> str:
    name = identity.user if identity.user is not None else "a user with no passwd entry"
    return f"{name} {identity.uid}:{identity.gid}"


def describe(broken: BrokenDir, identity: Identity, tool: str = "pip") -> str:
    if broken.foreign:
        return (f"{broken.path} is owned by {broken.owner.label} (mode {broken.mode:04o}), "
                f"and {tool} runs as {who(identity)}.")
    return f"{broken.path} (mode {broken.mode:04o}) is not writable by {who(identity)}."
