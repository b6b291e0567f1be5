"""The Ansible collection pipdoctor.fleet against a real fleet: three hosts reached over SSH (Debian's sshd, one
loopback address each, each in its own mount namespace with its own users and /home: tests/fleetkit.py), one
control node running ansible-playbook. Triage, repair in check mode, repair, repair again, undo, and a host
that goes down, in that order: one story, so the fleet is built and pipdoctor installed on it once."""

from __future__ import annotations

import os
import shutil
import secrets
from pathlib import Path

import pytest

from tests import checkkit, fixkit, fleetkit, sandbox

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not fleetkit.SSHD.exists(), reason="needs Debian's openssh-server (.ci/run installs it)"),
]

UID_BASE = 62000
# What each host has, and so what its triage must find: {host: {account: planted codes}}. Each broken cache
# has entries of another owner (PD103): root's after a `sudo pip` (wheels/), or a neighbour's (http-v2/).
PLANTED = {
    "web": {"alice": {"PD103"}, "bob": set()},
    "db": {"carol": {"PD103"}, "dave": set()},
    "ci": {"erin": {"PD103"}},
}
ADDRESSES = {"web": "127.0.0.2", "db": "127.0.0.3", "ci": "127.0.0.4"}


class Fleet:
    def __init__(self, base: Path):
        self.base = base
        self.control = base / "control"  # the control node's HOME and working dir
        self.control.mkdir()
        self.key = fleetkit.client_key(base)
        port = fleetkit.free_port(list(ADDRESSES.values()))
        self.hosts = {name: fleetkit.make_host(base, name, address, port, self.key)
                      for name, address in ADDRESSES.items()}
        self.inventory = fleetkit.write_inventory(base / "inventory.ini", list(self.hosts.values()), self.key)
        self.caches = {}  # (host, account) -> the cache as the machine sees it
        self.owners = {}  # (host, account) -> the cache's listing when planted (owners, inodes)

    def plant(self) -> None:
        uid = UID_BASE
        for host_name, accounts in PLANTED.items():
            host = self.hosts[host_name]
            made = {}
            for name in accounts:
                uid += 1
                account = host.add_account(name, uid)
                made[name] = account
                user = sandbox.User(name, account.uid, account.gid, account.host_home)
                self.caches[host_name, name] = checkkit.new_user_cache(user, files=30)
            for name, codes in accounts.items():
                if codes:
                    cache = self.caches[host_name, name]
                    # alice and erin: root's wheels/ (a `sudo pip install`); carol: her neighbour's http-v2/.
                    neighbour = [a for a in made.values() if a.name != name]
                    owner = (neighbour[0].uid, neighbour[0].gid) if host_name == "db" else (0, 0)
                    area = "http-v2" if host_name == "db" else "wheels"
                    sandbox.chown_tree(cache / area, *owner)
            for name in accounts:
                self.owners[host_name, name] = fixkit.listing(self.caches[host_name, name])

    def playbook(self, name: str, *args: str) -> fleetkit.PlaybookRun:
        run = fleetkit.playbook(self.control, self.inventory, name, "-e", "pipdoctor_become=false", *args)
        return run

    def listings(self) -> dict:
        return {key: fixkit.listing(cache) for key, cache in self.caches.items()}

    def report(self) -> dict:
        return fleetkit.load_json(self.control / "report" / "fleet-report.json")


@pytest.fixture(scope="module")
def fleet():
    fleetkit.ansible_venv()  # before the clock of the first playbook starts
    base = sandbox._sandbox_root() / f"fleet-{secrets.token_hex(4)}"
    with sandbox.umask(0o022):
        base.mkdir()
    made = None
    try:
        made = Fleet(base)
        made.plant()
        wheelhouse = base / "wheels"
        wheelhouse.mkdir()
        fleetkit.pipdoctor_wheel(wheelhouse)
        for name, version in sandbox.PIPDOCTOR_DEPS.items():
            shutil.copy(sandbox.wheel_file(name, version), wheelhouse)
        for host in made.hosts.values():
            host.start()
        install = made.playbook("install", "-e", f"pipdoctor_wheelhouse={wheelhouse}")
        assert install.returncode == 0, install.output
        yield made
    finally:
        for host in made.hosts.values() if made else ():
            host.stop()
        shutil.rmtree(base, ignore_errors=True)


def found(report: dict, host: str) -> dict:
    """{account: codes} of a host in the fleet report, every account (also those with no finding)."""
    return {name: {f["code"] for f in account["findings"]}
            for name, account in report["hosts"][host]["accounts"].items()}


def planted_with_root(host: str) -> dict:
    return {"root": set(), **PLANTED[host]}


def test_triage_repair_undo(fleet):
    # Triage: each host's planted problems, and nothing else; one report on the control node.
    triage = fleet.playbook("triage", "-e", f"pipdoctor_report_dir={fleet.control / 'report'}")
    assert triage.returncode == 0, triage.output
    report = fleet.report()
    assert set(report["hosts"]) == set(PLANTED)
    for host in PLANTED:
        assert report["hosts"][host]["status"] == "ok", report["hosts"][host]
        assert found(report, host) == planted_with_root(host), triage.output
        assert report["hosts"][host]["worst"] == "error"
    assert report["hosts"]["db"]["accounts"]["carol"]["cache"] == "/home/carol/.cache/pip"
    table = (fleet.control / "report" / "fleet-report.txt").read_text()
    header, *rows = table.splitlines()
    assert header.split() == ["host", "status", "worst", "accounts", "PD103"]
    assert [row.split()[:5] for row in rows[:3]] == [[h, "ok", "error", str(len(planted_with_root(h))), "1"]
                                                     for h in sorted(PLANTED)]
    assert all(fleet.hosts[h].accounts for h in PLANTED)

    # Repair in check mode: the plan, and not one owner changed, no journal written.
    planned = fleet.playbook("repair", "--check")
    assert planned.returncode == 0, planned.output
    assert fleet.listings() == fleet.owners
    assert all(not host.store.exists() or not any(host.store.rglob("*.jsonl")) for host in fleet.hosts.values())
    assert "chown" in planned.output  # the plan's commands are shown
    for host in PLANTED:
        assert planned.recap(host)["changed"] >= 1

    # Repair: changed on every host, each user's cache is the user's again and pip caches in it.
    repaired = fleet.playbook("repair")
    assert repaired.returncode == 0, repaired.output
    for host, accounts in PLANTED.items():
        assert repaired.recap(host)["changed"] == 1, repaired.output
        for name in accounts:
            account = next(a for a in fleet.hosts[host].accounts if a.name == name)
            owners = {(uid, gid) for uid, gid, _, _ in fixkit.listing(fleet.caches[host, name]).values()}
            assert owners == {(account.uid, account.gid)}, (host, name)
    for host in PLANTED:
        journals = list(fleet.hosts[host].store.rglob("*.jsonl"))
        assert len(journals) == 1, journals
    for host, accounts in PLANTED.items():
        for name, codes in accounts.items():
            if codes:
                assert_pip_caches(fleet, host, name)

    # A second repair finds nothing to do.
    again = fleet.playbook("repair")
    assert again.returncode == 0, again.output
    assert all(again.recap(host)["changed"] == 0 for host in PLANTED), again.output

    # Undo gives back the exact previous owners (the wheel pip cached meanwhile is the user's, kept).
    broken = [name for accounts in PLANTED.values() for name, codes in accounts.items() if codes]
    undo = fleet.playbook("undo", "-e", '{"pipdoctor_undo_users": %s}' % str(broken).replace("'", '"'))
    assert undo.returncode == 0, undo.output
    for host, accounts in PLANTED.items():
        assert undo.recap(host)["changed"] == 1, undo.output
        for name in accounts:
            now = fixkit.listing(fleet.caches[host, name])
            assert {k: v for k, v in now.items() if k in fleet.owners[host, name]} == fleet.owners[host, name]


def assert_pip_caches(fleet, host: str, name: str) -> None:
    """The user's pip, on their host, builds a wheel and caches it (a root-owned wheels/ made it fail)."""
    account = next(a for a in fleet.hosts[host].accounts if a.name == name)
    links = fleet.base / "links"
    if not links.exists():
        with sandbox.umask(0o022):
            links.mkdir()
            sandbox.build_sdist(links, name="pdfleet")
            for wheel, version in sandbox.BUILD_WHEELS.items():
                shutil.copy(sandbox.wheel_file(wheel, version), links)
    python = sandbox.python_of(sandbox.pip_venv(checkkit.PIP_VERSION))
    proc = fleet.hosts[host].run(
        [python, "-m", "pip", "install", "--no-index", "--find-links", links, "--target", "/tmp/pdfleet-" + name,
         "pdfleet"], uid=account.uid, env=sandbox.pip_env(HOME=account.home))
    output = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, output
    assert "Permission denied" not in output and "WARNING" not in output, output
    assert fixkit.wheels_in(fleet.caches[host, name] / "wheels"), f"no wheel cached for {name}:\n{output}"


def test_unreachable_host_is_listed_while_the_others_complete(fleet):
    fleet.hosts["ci"].stop()
    triage = fleet.playbook("triage", "-e", f"pipdoctor_report_dir={fleet.control / 'report'}")
    report = fleet.report()
    assert report["hosts"]["ci"]["status"] == "unreachable", triage.output
    assert report["summary"]["unreachable"] == ["ci"]
    assert report["summary"]["checked"] == ["db", "web"]
    for host in ("db", "web"):
        assert found(report, host) == planted_with_root(host)
    table = (fleet.control / "report" / "fleet-report.txt").read_text().splitlines()
    assert table[1].split()[:2] == ["ci", "unreachable"]  # worst first: a host nobody could check
    assert triage.returncode == 0, triage.output
