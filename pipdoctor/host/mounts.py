"""Mounts and free space: the filesystem a path lies on (the mount table, statvfs) and the mounts below a dir."""

from __future__ import annotations

import os
from typing import Optional

from pipdoctor.records import record


@record
class MountFacts:
    """The filesystem a path lies on: its mount (the mount table) and statvfs, as the user sees it."""

    path: str
    mountpoint: Optional[str]
    device: Optional[str]
    fstype: Optional[str]
    options: tuple
    read_only: bool
    noexec: bool
    free_bytes: Optional[int]  # what the user may still use (f_bavail; f_bfree for root)
    total_bytes: Optional[int]
    free_inodes: Optional[int]
    total_inodes: Optional[int]


def _unescape_mount(text: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as \040 \011 \012 \134 (fstab(5)).
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


_PARTITIONS: list = []


def _partitions() -> list:
    """The mount table, read once per process (a check asks for several paths): (device, mountpoint,
    fstype, opts) rows. On Linux straight from /proc/self/mounts, which is what psutil.disk_partitions(all=True)
    parses too, without psutil's import cost (~15 ms of a 100 ms budget); psutil elsewhere."""
    if not _PARTITIONS:
        rows: list = []
        try:
            with open("/proc/self/mounts", "rb") as table:
                for line in table.read().decode("utf-8", "surrogateescape").splitlines():
                    fields = line.split()
                    if len(fields) >= 4:
                        rows.append((fields[0], fields[1], fields[2], fields[3]))
        except OSError:
            try:
                import psutil

                rows = [(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(all=True)]
            except Exception:  # noqa: BLE001 - no mount table: statvfs still answers for ro and free space
                rows = []
        _PARTITIONS.append(rows)
    return _PARTITIONS[0]


def mounts_below(root: str) -> frozenset:
    """(st_dev, st_ino) of every mount whose mount point lies strictly below root (a real path), from
    /proc/self/mountinfo (proc(5)). A bind mount of a directory of the same filesystem keeps st_dev, so a
    walk that compares devices alone would enter it; comparing inodes too still finds it after an ancestor
    was renamed. A mount point that cannot be read is not in the set (its dev/ino are unknown)."""
    prefix = root.rstrip("/") + "/"
    found = set()
    try:
        with open("/proc/self/mountinfo", "rb") as table:
            lines = table.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = _unescape_mount(fields[4])
        if not point.startswith(prefix):
            continue
        try:
            st = os.lstat(point)
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return frozenset(found)


def mount_of(path: str, uid: int) -> MountFacts:
    """The mount holding `path` (an existing path): the longest mountpoint prefix, the last one mounted wins."""
    mountpoint = device = fstype = None
    options: tuple = ()
    partitions = _partitions()
    real = os.path.realpath(path)
    best = -1
    for part_device, part_point, part_type, part_opts in partitions:
        point = _unescape_mount(part_point)
        prefix = point.rstrip("/") + "/"
        if (real == point or real.startswith(prefix) or point == "/") and len(point) >= best:
            best = len(point)
            mountpoint, device, fstype = point, _unescape_mount(part_device), part_type
            options = tuple(part_opts.split(",")) if part_opts else ()
    free = total = ffree = ftotal = None
    read_only = "ro" in options
    noexec = "noexec" in options
    try:
        sv = os.statvfs(real)
        free = (sv.f_bfree if uid == 0 else sv.f_bavail) * sv.f_frsize
        total = sv.f_blocks * sv.f_frsize
        ffree = sv.f_ffree if uid == 0 else sv.f_favail
        ftotal = sv.f_files
        read_only = read_only or bool(sv.f_flag & os.ST_RDONLY)
        noexec = noexec or bool(sv.f_flag & getattr(os, "ST_NOEXEC", 8))
    except OSError:
        pass
    return MountFacts(real, mountpoint, device, fstype, options, read_only, noexec, free, total, ffree, ftotal)
