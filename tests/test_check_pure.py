"""The checker over hand-built facts, the ACL decoder and the cache walk as any user (no root needed)."""

from __future__ import annotations

import json
import os
import stat
import struct

from pipdoctor import checker
from pipdoctor.cachewalk import walk_cache
from pipdoctor.checkfacts import CheckFacts
from pipdoctor.diagnose import AccountReport
from pipdoctor.findings import Severity
from pipdoctor.host.accounts import Account, HomeFacts, Launch, Owner, display_path
from pipdoctor.host.dirs import DirFacts
from pipdoctor.host.mounts import MountFacts
from pipdoctor.host.permissions import decode_acl, permits
from pipdoctor.host.tempdirs import TempDirFacts, TempFacts
from pipdoctor.installers.pip import PIP
from pipdoctor.remediation import shell_quote, suggest_check
from pipdoctor.report import render_check_human, render_check_json

ALICE = Owner(1001, 1001, "alice", "alice")
ROOT = Owner(0, 0, "root", "root")
CACHE = "/home/alice/.cache/pip"


def _mount(**changes) -> MountFacts:
    base = MountFacts("/home/alice", "/", "/dev/sda1", "ext4", ("rw", "relatime"), False, False, 50 << 30,
                      100 << 30, 10 ** 6, 2 * 10 ** 6)
    return base._replace(**changes)


def _dir(path, owner=ALICE, **changes) -> DirFacts:
    base = DirFacts(path, path, "dir", owner, 0o755, True, True, (), None, False, False, None)
    return base._replace(**changes)


def _facts(uid=1001, **changes) -> CheckFacts:
    account = Account(uid, uid, (uid,), "alice" if uid else "root", "/home/alice" if uid else "/root",
                      "/bin/bash", {"HOME": "/home/alice"}, True)
    tmp = TempDirFacts("/tmp", "default", True, True, True, ROOT, 0o1777, _mount(path="/tmp"))
    base = CheckFacts(
        PIP, account, HomeFacts("/home/alice", "/home/alice", True, True, ALICE if uid else ROOT, 0o755, None),
        Launch(None, None, None, None, ("bash",), None, None), CACHE, None, False, "platform default",
        _dir(CACHE), (_dir(CACHE + "/wheels"), _dir(CACHE + "/http-v2")), True, _mount(), None,
        TempFacts((tmp,), tmp), "/home/alice/.cache/pip-fresh", uid, uid)
    return base._replace(**changes)


def test_healthy_facts_give_no_finding():
    assert checker.check(_facts()) == []


def test_codes_table_is_ordered_unique_and_documented_by_name():
    codes = [code for code, _, _ in checker.CODES]
    assert len(codes) == len(set(codes))
    assert dict((c, s) for c, _, s in checker.CODES)["PD109"] is Severity.INFO


def test_nfs_says_chown_will_not_help_and_where_to_run_it():
    facts = _facts(root=_dir(CACHE, ROOT, mode=0o755, writable=False, mode_writable=False),
                   keeps_cache=False,
                   mount=_mount(mountpoint="/home", device="fs1:/export/home", fstype="nfs4"),
                   nfs_root_squash_possible=True)
    findings = checker.check(facts)
    assert [f.code for f in findings] == ["PD103", "PD102"]
    foreign = suggest_check(findings[0], facts)
    assert any("root_squash" in e.text for e in foreign.evidence)
    assert foreign.fixes[0].command == "ssh fs1 sudo chown -R 1001:1001 /export/home/alice/.cache/pip"
    assert not any("chown -R 1001:1001 /home" in f.command for f in foreign.fixes)


def test_pip_rule_as_root_refuses_a_users_cache_and_a_symlink():
    facts = _facts(uid=0, root=_dir(CACHE, ALICE), keeps_cache=False, cache_owner_uid=0, cache_owner_gid=0)
    disabled = [f for f in checker.check(facts) if f.code == "PD102"][0]
    assert "pip run as root only uses a cache whose nearest existing directory is owned by uid 0" in disabled.message


def test_shared_cache_gets_no_chown_advice():
    shared = "/srv/pip-cache"
    facts = _facts(cache_path=shared, root=_dir(shared, ROOT, mode=0o775, writable=False, mode_writable=False),
                   subdirs=(), keeps_cache=False)
    findings = [suggest_check(f, facts) for f in checker.check(facts)]
    assert [f.code for f in findings] == ["PD104", "PD102"]
    assert findings[0].fixes[0].command == "sudo setfacl -m u:alice:rwx /srv/pip-cache"
    assert not any("chown" in fix.command for f in findings for fix in f.fixes)


def test_false_looking_no_cache_settings_are_the_trap():
    for source, expected in (("PIP_NO_CACHE_DIR=false", True), ("PIP_NO_CACHE_DIR=0", True),
                             ("PIP_NO_CACHE_DIR=yes", False), ("--no-cache-dir", False),
                             ("no-cache-dir = off in /etc/pip.conf [global]", True)):
        facts = _facts(cache_path=None, cache_disabled=True, cache_source=source, root=None, subdirs=())
        assert [f.code for f in checker.check(facts)] == (["PD102"] if expected else []), source


def test_acl_decoding_and_the_kernel_order_of_checks():
    raw = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in (
        (1, 7, 0xFFFFFFFF), (2, 5, 1001), (4, 7, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF), (0x20, 7, 0xFFFFFFFF)))
    acl = decode_acl(raw)
    st = os.stat_result((stat.S_IFDIR | 0o777, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    assert permits(st, acl, 1001, (1001,), 2) == (False, acl[1].text())
    assert permits(st, acl, 1002, (1002,), 2) == (True, None)  # other::rwx
    assert permits(st, None, 1001, (1001,), 2) == (True, None)  # mode bits alone say yes
    assert permits(st, acl, 0, (0,), 2) == (True, None)
    assert decode_acl(b"\x01\x00") is None


def test_walk_counts_foreign_subtrees_without_following_links(tmp_path):
    root = tmp_path / "cache"
    (root / "wheels" / "ab" / "cd").mkdir(parents=True)
    (root / "wheels" / "ab" / "cd" / "x.whl").write_bytes(b"12345")
    (root / "http-v2").mkdir()
    os.symlink("/etc", root / "http-v2" / "etc")
    os.symlink("loop", root / "http-v2" / "loop")
    odd = os.path.join(os.fsencode(root / "http-v2"), b"\xff\xfe")
    open(odd, "wb").close()
    me = os.geteuid()
    walk = walk_cache(str(root), me, [os.getegid()])
    assert (walk.entries, walk.dirs, walk.files, walk.symlinks, walk.foreign_entries) == (8, 4, 2, 2, 0)
    other = walk_cache(str(root), me + 1, [])
    assert other.foreign_entries == 8 and other.foreign_subtree_count == 2  # wheels/ and http-v2/
    assert sorted(n for n, _, _ in other.foreign_areas) == ["http-v2", "wheels"]
    assert any(display_path(s.path).endswith("http-v2") for s in other.foreign_subtrees)


def test_non_utf8_paths_are_quoted_exactly():
    name = os.fsdecode(b"/c/caf\xe9")
    assert shell_quote(name) == "$'/c/caf\\xe9'"
    assert display_path(name) == "/c/caf\\xe9"
    assert shell_quote("/a b") == "'/a b'"


def test_check_json_envelope_and_human_grouping():
    facts = _facts(root=_dir(CACHE, ROOT, writable=False, mode_writable=False), keeps_cache=False)
    findings = tuple(suggest_check(f, facts) for f in checker.check(facts))
    report = AccountReport("alice", 1001, "/home/alice", CACHE, False, "platform default", findings)
    doc = json.loads(render_check_json([report], 1))
    assert list(doc) == ["schema_version", "pipdoctor_version", "command", "exit_code", "accounts", "findings",
                         "raw_bytes"]
    assert doc["command"] == "check" and doc["exit_code"] == 1
    # PD102 predicts pip will not use the cache: `disabled` says the same (README, "JSON output").
    assert doc["accounts"][0]["cache"] == {"path": CACHE, "disabled": True, "disabled_by": "ownership",
                                           "source": "platform default", "not_reached": None, "owner": None,
                                           "mode": None, "usage": None, "mount": None}
    assert [f["code"] for f in doc["findings"]] == ["PD103", "PD102"]
    text = render_check_human([report], color=False)
    assert text.index("Errors:") < text.index("Warnings:") < text.index("Fix (copy and run")
    assert text.rstrip().endswith("--no-cache-dir")
