"""Permissions as the kernel decides them (inode_permission + posix_acl_permission): mode bits, POSIX ACLs and
inode flags (chattr), read and never changed."""

from __future__ import annotations

import os
from typing import Optional

from pipdoctor.host.accounts import owner_of_ids
from pipdoctor.records import record


# linux/fs.h: FS_IOC_GETFLAGS = _IOR('f', 1, long); the kernel writes an int. FS_IMMUTABLE_FL, FS_APPEND_FL.
_FS_IOC_GETFLAGS = 0x80086601
FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20
# linux/posix_acl_xattr.h: header u32 version 2, then (u16 tag, u16 perm, u32 id) per entry.
_ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = 1, 2, 4, 8, 0x10, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF


@record
class AclEntry:
    tag: int
    perm: int
    id: Optional[int]

    def text(self) -> str:
        """getfacl's spelling: user::rwx, user:alice:r-x, group::r-x, mask::rwx, other::---."""
        kind = {_ACL_USER_OBJ: "user", _ACL_USER: "user", _ACL_GROUP_OBJ: "group", _ACL_GROUP: "group",
                _ACL_MASK: "mask", _ACL_OTHER: "other"}.get(self.tag, "?")
        who = ""
        if self.tag == _ACL_USER and self.id is not None:
            who = owner_of_ids(self.id, -1).user or str(self.id)
        elif self.tag == _ACL_GROUP and self.id is not None:
            who = owner_of_ids(-1, self.id).group or str(self.id)
        bits = "".join(c if self.perm & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        return f"{kind}:{who}:{bits}"


def decode_acl(raw: bytes) -> Optional[tuple]:
    """The entries of a system.posix_acl_access value, or None if it is not the version-2 format."""
    import struct

    if len(raw) < 4 or (len(raw) - 4) % 8 or struct.unpack_from("<I", raw)[0] != 2:
        return None
    entries = []
    for offset in range(4, len(raw), 8):
        tag, perm, ident = struct.unpack_from("<HHI", raw, offset)
        entries.append(AclEntry(tag, perm, None if ident == _ACL_UNDEFINED_ID else ident))
    return tuple(entries)


def read_acl(path: str) -> Optional[tuple]:
    """The access ACL of path (no symlink followed), or None when it has none beyond its mode bits."""
    try:
        raw = os.getxattr(path, _ACL_XATTR, follow_symlinks=False)
    except (OSError, AttributeError):
        return None
    return decode_acl(raw)


def class_bits(owner: int, group: int, mode: int, uid: int, groups) -> int:
    """The rwx bits (in the low 3) that apply to uid: owner's, else group's, else other's (chmod(1))."""
    if owner == uid:
        return mode >> 6
    if group in groups:
        return mode >> 3
    return mode


def permits(st: os.stat_result, acl: Optional[tuple], uid: int, groups, want: int) -> tuple[bool, Optional[str]]:
    """Whether uid (with groups) gets `want` (rwx bits, 4/2/1) on an inode; and the ACL entry that decided,
    when an ACL did. Mirrors the kernel's posix_acl_permission(); root bypasses (CAP_DAC_OVERRIDE)."""
    if uid == 0:
        return True, None
    mode = st.st_mode
    if not acl:
        return (class_bits(st.st_uid, st.st_gid, mode, uid, groups) & want) == want, None
    mask = next((e.perm for e in acl if e.tag == _ACL_MASK), 7)
    for entry in acl:
        if entry.tag == _ACL_USER_OBJ and st.st_uid == uid:
            return (entry.perm & want) == want, None
    for entry in acl:
        if entry.tag == _ACL_USER and entry.id == uid:
            return (entry.perm & mask & want) == want, entry.text()
    matched = None
    for entry in acl:
        if (entry.tag == _ACL_GROUP_OBJ and st.st_gid in groups) or (entry.tag == _ACL_GROUP and entry.id in groups):
            if (entry.perm & mask & want) == want:
                return True, None
            matched = matched or entry
    if matched is not None:
        return False, matched.text()
    other = next((e.perm for e in acl if e.tag == _ACL_OTHER), 0)
    return (other & want) == want, None


def inode_flags(path: str) -> Optional[int]:
    """The ext2-style inode flags (chattr) of path, read with FS_IOC_GETFLAGS on an O_NOFOLLOW fd."""
    import fcntl
    import struct

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        buf = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, b"\0" * 8)
        return struct.unpack_from("<i", buf)[0]
    except OSError:
        return None  # tmpfs before 6.0, procfs, NFS: no such flags
    finally:
        os.close(fd)
