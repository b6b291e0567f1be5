"""The Ansible collection pipdoctor.fleet against a real fleet: three hosts reached over SSH (Debian's sshd, one
loopback address each, each in its own mount namespace with its own users and /home: tests/fleetkit.py), one
control node running ansible-playbook. Triage, repair in check mode, repair, repair again, undo, and a host
that goes down during a repair, in that order: one story, so the fleet is built and pipdoctor installed once."""

from __future__ import annotations

import json
import shutil

import pytest

from tests import checkkit, fixkit, fleetkit, sandbox

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not fleetkit.SSHD.exists(), reason="needs Debian's openssh-server (.ci/run installs it)"),
]

# What each host has, and so what its triage must find. Each broken cache has entries of another owner
# (PD103): root's after a `sudo pip` (wheels/), or a neighbour's (http-v2/); the others are healthy.
PLANTED = {
    "web": {"alice": "root", "bob": None},
    "db": {"carol": "dave", "dave": None},
    "ci": {"erin": "root"},
}
ADDRESSES = {"web": "127.0.0.2", "db": "127.0.0.3", "ci": "127.0.0.4"}
REPORT = "report"


@pytest.fixture(scope="module")
def fleet():
    with fleetkit.running_fleet(PLANTED, ADDRESSES) as made:
        yield made


def triage(fleet) -> tuple:
    """The triage playbook's run, and the fleet report it wrote on the control node."""
    run = fleet.playbook("triage", "-e", f"pipdoctor_report_dir={fleet.control / REPORT}")
    path = fleet.control / REPORT / "fleet-report.json"
    assert path.exists(), run.output
    return run, fleetkit.load_json(path)


def table(fleet) -> list:
    return (fleet.control / REPORT / "fleet-report.txt").read_text().splitlines()


def found(report: dict, host: str) -> dict:
    """{account: codes} of a host in the fleet report, every account (also those with no finding)."""
    return {name: {f["code"] for f in account["findings"]}
            for name, account in report["hosts"][host]["accounts"].items()}


def planted_with_root(host: str) -> dict:
    """What the triage of a host must find: PD103 for each broken cache, nothing for the others and root."""
    return {"root": set(), **{name: {"PD103"} if intruder else set() for name, intruder in PLANTED[host].items()}}


def broken(host: str) -> list:
    return [name for name, intruder in PLANTED[host].items() if intruder]


def test_triage_repair_undo(fleet):
    # The role again: pipdoctor is there, nothing changes.
    reinstall = fleet.playbook("install", "-e", f"pipdoctor_wheelhouse={fleet.base / 'wheels'}")
    assert reinstall.returncode == 0, reinstall.output
    assert all(reinstall.recap(host)["changed"] == 0 for host in PLANTED), reinstall.output

    # Triage: each host's planted problems, and nothing else; one report on the control node.
    run, report = triage(fleet)
    assert run.returncode == 0, run.output
    assert set(report["hosts"]) == set(PLANTED)
    for host in PLANTED:
        assert report["hosts"][host]["status"] == "ok", report["hosts"][host]
        assert found(report, host) == planted_with_root(host), run.output
        assert report["hosts"][host]["worst"] == "error"
    assert report["hosts"]["db"]["accounts"]["carol"]["cache"] == "/home/carol/.cache/pip"
    header, *rows = table(fleet)
    assert header.split() == ["host", "status", "worst", "accounts", "PD103"]
    assert [row.split()[:5] for row in rows[:3]] == [[h, "ok", "error", str(len(planted_with_root(h))), "1"]
                                                     for h in sorted(PLANTED)]

    # Repair in check mode: the plan, and not one owner changed, no journal written.
    planned = fleet.playbook("repair", "--check")
    assert planned.returncode == 0, planned.output
    assert fleet.listings() == fleet.planted
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
        assert len(journals) == len(broken(host)), journals
        for name in broken(host):
            assert_pip_caches(fleet, host, name)

    # A second repair finds nothing to do.
    again = fleet.playbook("repair")
    assert again.returncode == 0, again.output
    assert all(again.recap(host)["changed"] == 0 for host in PLANTED), again.output

    # Undo gives back the exact previous owners (the wheel pip cached meanwhile is the user's, kept).
    names = [name for host in PLANTED for name in broken(host)]
    undo = fleet.playbook("undo", "-e", json.dumps({"pipdoctor_undo_users": names}))
    assert undo.returncode == 0, undo.output
    for host, accounts in PLANTED.items():
        assert undo.recap(host)["changed"] == 1, undo.output
        for name in accounts:
            now = fixkit.listing(fleet.caches[host, name])
            assert {k: v for k, v in now.items() if k in fleet.planted[host, name]} == fleet.planted[host, name]


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
    cached = [w.name for w in fixkit.wheels_in(fleet.caches[host, name] / "wheels") if w.name.startswith("pdfleet-")]
    assert cached, f"pip cached no pdfleet wheel for {name}:\n{output}"


def test_a_host_that_goes_down_mid_repair_is_reported_while_the_others_complete(fleet):
    """ci goes down while the repair runs (after web's batch, serial: one host at a time); then the triage
    lists it unreachable and finds web and db cured."""
    plays = []

    def watch(line: str) -> None:
        if line.startswith("PLAY ["):
            plays.append(line)
            if len(plays) == 2:  # web's batch is done, db's begins
                fleet.hosts["ci"].stop()

    repaired = fleet.playbook_watched("repair", "-e", "pipdoctor_serial=1", on_line=watch)
    assert len(plays) == 3, repaired.output
    assert repaired.recap("ci")["unreachable"] == 1, repaired.output
    assert [repaired.recap(host)["changed"] for host in ("web", "db")] == [1, 1], repaired.output
    assert repaired.returncode == 4, repaired.output  # ansible-playbook: some host unreachable

    run, report = triage(fleet)
    assert run.returncode == 0, run.output
    assert report["hosts"]["ci"]["status"] == "unreachable", run.output
    assert report["summary"]["unreachable"] == ["ci"]
    assert report["summary"]["checked"] == ["db", "web"]
    for host in ("db", "web"):
        assert found(report, host) == {name: set() for name in planted_with_root(host)}
    assert table(fleet)[1].split()[:2] == ["ci", "unreachable"]  # worst first: a host nobody could check

    # db loses its pipdoctor: its check fails, it is listed as failed, the others go on.
    venv = fleet.hosts["db"].root / "opt" / "pipdoctor"
    venv.rename(venv.with_name("pipdoctor.gone"))
    run, report = triage(fleet)
    assert run.returncode == 0, run.output
    assert [report["hosts"][h]["status"] for h in ("ci", "db", "web")] == ["unreachable", "failed", "ok"]
    assert report["hosts"]["db"]["message"].startswith("pipdoctor is neither in /opt/pipdoctor/venv/bin nor on PATH")
    assert [line.split()[:2] for line in table(fleet)[1:4]] == [["ci", "unreachable"], ["db", "failed"], ["web", "ok"]]
