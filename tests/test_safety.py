"""The safety gate over hand-built facts (pure, no root): which printed command may be called `safe`, and what
replaces one that would reach beyond the cache. tests/test_attack_advice.py runs them for real."""

from __future__ import annotations

import subprocess

from pipdoctor import checker
from pipdoctor.cachewalk import CacheWalk, Subtree
from pipdoctor.findings import Fix
from pipdoctor.host.accounts import HomeFacts, Owner
from pipdoctor.remediation import check_scope, make_plan, suggest_check
from pipdoctor.safety import CHMOD, CHOWN, CHOWN_TREE, MOVE, gate, shell_quote
from tests.test_check_pure import CACHE, ROOT, _dir, _facts

STAMP = "20250101T000000Z"
WHEELS_AB = CACHE + "/wheels/ab"


def _walk(mounts=0, links=0, specials=0) -> CacheWalk:
    sub = Subtree(WHEELS_AB, ROOT, 0o755, True, 3, 300, mounts, links, specials)
    return CacheWalk(CACHE, 20, 8, 12, 0, 2000, 3, 300, 0, ((ROOT, 3),), (("wheels", 3, 300),), (sub,), 1,
                     0, (), 0, (), 0, (), 0, mounts, links, specials)


def _fixes(facts, code):
    found = [f for f in checker.check(facts) if f.code == code]
    assert found, [f.code for f in checker.check(facts)]
    return suggest_check(found[0], facts).fixes


def _safe_commands(facts) -> list:
    return [fix.command for f in checker.check(facts) for fix in suggest_check(f, facts).fixes if fix.safe]


def test_a_plain_foreign_subtree_gets_its_chown_and_it_is_safe():
    [first, *_] = _fixes(_facts(walk=_walk()), "PD103")
    assert first.command == f"sudo chown -R 1001:1001 {WHEELS_AB}" and first.safe


def test_hard_links_and_devices_below_give_a_chown_that_skips_them():
    [first, *_] = _fixes(_facts(walk=_walk(links=1, specials=1)), "PD103")
    assert "chown -R" not in first.command and first.safe
    assert first.command == (f"sudo find {WHEELS_AB} -xdev \\( ! -type d -links +1 -o -type b -o -type c -o -type p "
                             "-o -type s \\) -prune -o -exec chown -h 1001:1001 -- {} +")
    assert "hard links" in first.description and "special" in first.description


def test_a_mount_point_below_gets_pipdoctor_fix_never_a_chown():
    facts = _facts(walk=_walk(mounts=1))
    fixes = _fixes(facts, "PD103")
    assert not any("chown" in f.command for f in fixes)
    assert fixes[0].command == "sudo pipdoctor fix --user alice" and fixes[0].safe
    plan = make_plan(facts, [suggest_check(f, facts) for f in checker.check(facts)], as_root=True, stamp=STAMP)
    [step] = plan.steps
    assert step.kind == "chown" and step.command == "" and "mount point" in step.description
    moved = make_plan(facts, [suggest_check(f, facts) for f in checker.check(facts)], as_root=False, stamp=STAMP,
                      root_names=["wheels"])
    assert moved.steps[0].kind == "rename" and moved.steps[0].later == ""  # no rm -rf through the mount
    assert moved.steps[0].safe  # the rename itself stays inside the cache


def test_a_cache_that_is_a_file_gets_no_chown_and_no_mv():
    facts = _facts(cache_path="/etc/passwd", root=_dir("/etc/passwd", ROOT, kind="file", writable=False),
                   subdirs=(), keeps_cache=False, walk=None)
    commands = [fix.command for f in checker.check(facts) for fix in suggest_check(f, facts).fixes]
    assert commands and not any("/etc/passwd" in c for c in commands), commands


def test_another_users_home_as_cache_gets_no_chown():
    facts = _facts(cache_path="/home/bob", root=_dir("/home/bob", Owner(1002, 1002, "bob", "bob")), subdirs=(),
                   walk=_walk()._replace(root="/home/bob", foreign_subtrees=()), other_home="/home/bob")
    commands = [fix.command for f in checker.check(facts) for fix in suggest_check(f, facts).fixes]
    assert not any("chown" in c or "chmod" in c for c in commands), commands


def test_home_slash_for_a_bare_uid_gets_the_container_answer():
    home = HomeFacts("/", "/", True, True, ROOT, 0o755, None)
    account = _facts().account._replace(uid=12345, gid=12345, groups=(12345,), user=None, passwd_home=None,
                                        environ={"HOME": "/"})
    facts = _facts(account=account, home=home, cache_path="/.cache/pip", cache_owner_uid=12345,
                   cache_owner_gid=12345, root=_dir("/.cache/pip", ROOT, existing="/", writable=False),
                   subdirs=(), keeps_cache=False, alternate_cache=None)
    everything = [fix for f in checker.check(facts) for fix in suggest_check(f, facts).fixes]
    commands = [fix.command for fix in everything]
    assert 'export HOME="$(mktemp -d)"' in commands and any("--no-cache-dir" in c for c in commands)
    assert any("g+rwX" in c for c in commands)
    assert not any(c.endswith(" /") or " / " in c for c in commands), commands


def test_chmod_only_of_a_dir_the_user_owns():
    facts = _facts(walk=_walk())
    scope_fix = Fix("chmod u+rwx /home", "", True, ((CHMOD, "/home"),))
    from pipdoctor.remediation import check_scope

    scope = check_scope(facts)
    assert gate(scope_fix, scope) is None
    own = Fix(f"chmod u+rwx {CACHE}", "", True, ((CHMOD, CACHE),))
    assert gate(own, scope).safe
    rooted = check_scope(_facts(root=_dir(CACHE, ROOT), walk=_walk()))
    assert gate(own, rooted) is None


def test_home_itself_and_undeclared_changes_are_never_safe():
    from pipdoctor.remediation import check_scope

    scope = check_scope(_facts(walk=_walk()))
    assert not gate(Fix("sudo chown 1001:1001 /home/alice", "", True, ((CHOWN, "/home/alice"),)), scope).safe
    assert not gate(Fix("rm -rf /x", "", True), scope).safe  # touches not declared: the backstop
    assert gate(Fix("pip install x --no-cache-dir", "", True), scope).safe
    assert gate(Fix("mv -- /etc/passwd /etc/x", "", False, ((MOVE, "/etc/passwd"),)), scope) is None
    assert gate(Fix("sudo chown -R 1:1 /home/alice", "", True, ((CHOWN_TREE, "/home/alice"),)), scope) is None


def test_shell_quote_escapes_control_characters_and_keeps_the_name_exact():
    for name in ("/c/a\nb", "/c/\x1b[31mred", "/c/bell\x07", "/c/caf\udce9", "/c/it's", "/c/plain"):
        quoted = shell_quote(name)
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in quoted), quoted
        echoed = subprocess.run(["bash", "-c", f"printf %s {quoted}"], stdout=subprocess.PIPE).stdout
        assert echoed == name.encode("utf-8", "surrogateescape"), (name, quoted)


def test_a_pip_runs_advice_passes_the_same_gate():
    from pipdoctor.findings import Finding, Severity
    from pipdoctor.host.accounts import Identity
    from pipdoctor.installers.pip import PIP
    from pipdoctor.remediation import check_scope, run_scope, suggest
    from pipdoctor.rules._cachedirs import BrokenDir
    from pipdoctor.runfacts import Facts, PathFacts

    log_facts = Facts(PIP, Identity(1001, 1001, "alice", "/home/alice", True, None),
                      {WHEELS_AB + "/x": PathFacts(WHEELS_AB + "/x", WHEELS_AB, ROOT, 0o755, True, False, WHEELS_AB,
                                                   ROOT, 0o755)}, cache_dir=CACHE)
    finding = Finding("PD101", "cache-permission-denied", Severity.ERROR, "denied", paths=(WHEELS_AB,),
                      facts={"broken": [BrokenDir(WHEELS_AB, ROOT, 0o755, True)]})
    args = ["install", "x"]
    plain = suggest(finding, log_facts, args, check_scope(_facts(walk=_walk()))).fixes[0]
    assert plain.command == f"sudo chown -R 1001:1001 {WHEELS_AB}" and plain.safe
    linked = suggest(finding, log_facts, args, check_scope(_facts(walk=_walk(links=2)))).fixes[0]
    assert "-links +1" in linked.command and linked.safe
    unknown = suggest(finding, log_facts, args, run_scope(log_facts)).fixes[0]  # no walk: what lies below?
    assert unknown.command == "sudo pipdoctor fix --user alice" and unknown.safe
    alone = suggest(finding, log_facts, args).fixes  # explain: a log from anywhere
    assert [f.safe for f in alone if "chown" in f.command] == [False]


# --- the whole cache moved aside, and the copies fix leaves ------------------------------------------------

def _root_owned_cache(parent_owner=None):
    from tests.test_check_pure import ALICE

    return _facts(walk=_walk(), root=_dir(CACHE, ROOT),
                  parent=_dir("/home/alice/.cache", parent_owner or ALICE))


def _user_plan(facts):
    findings = [suggest_check(f, facts) for f in checker.check(facts)]
    return make_plan(facts, findings, as_root=False, stamp=STAMP, root_names=["wheels"])


def test_a_root_owned_cache_in_the_users_own_dir_is_renamed_there_without_root():
    [step] = _user_plan(_root_owned_cache()).steps
    moved = f"{CACHE}.pipdoctor-{STAMP}"
    assert (step.kind, step.targets, step.new_names, step.safe) == ("rename", (CACHE,), (moved,), True)
    assert step.command == f"mv -n -T -- {CACHE} {moved}" and step.later == f"sudo rm -rf -- {moved}"


def test_no_rename_of_the_cache_in_a_dir_that_is_not_the_users():
    facts = _root_owned_cache(parent_owner=ROOT)
    assert [s.kind for s in _user_plan(facts).steps] == ["alternate-cache"]
    assert gate(Fix(f"mv -n -T -- {CACHE} x", "", True, ((MOVE, CACHE),)), check_scope(facts)) is None


def test_moved_aside_copies_get_an_rm_rf_only_without_a_mount_below():
    from pipdoctor.cachewalk import MovedAside

    beside, inside = f"{CACHE}.pipdoctor-{STAMP}", f"{CACHE}/wheels.pipdoctor-{STAMP}"
    copies = (MovedAside(beside, ROOT, _walk()), MovedAside(inside, ROOT, _walk(mounts=1)))
    facts = _facts(walk=_walk(), parent=_dir("/home/alice/.cache"), moved_aside=copies)
    [found] = [f for f in checker.check(facts) if f.code == "PD110"]
    assert found.severity.value == "info" and found.paths == (beside, inside)
    fixes = suggest_check(found, facts).fixes
    assert [(f.command, f.safe) for f in fixes] == [(f"sudo rm -rf -- {beside}", True)]
    # beside a cache in a dir another account owns, a copy may be that account's doing: not reported
    elsewhere = facts._replace(parent=_dir("/home/alice/.cache", ROOT), moved_aside=copies[:1])
    assert "PD110" not in [f.code for f in checker.check(elsewhere)]
