"""The recorded pip logs in tests/data/logs: well-labelled, and still what pip prints today."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "tests" / "data" / "logs"
RECORD_LOGS = REPO / "scripts" / "record-logs"
LABEL_KEYS = {
    "scenario",
    "pip_version",
    "command",
    "env",
    "user",
    "exit_code",
    "primary",
    "acceptable",
    "state",
}
CODE = re.compile(r"^PD\d{3}$")

# A sample that covers a warning (cache disabled), an Errno in the wheel cache, an invalid cached wheel and
# a silent success over HTTPS that only the live check sees, on the oldest pip and a current one; --check
# compares pip's log and `pipdoctor check`'s codes and paths for each. Under a minute; the full
# check is `scripts/record-logs --check`.
SAMPLE_SCENARIOS = ("cache-root-owned", "wheels-root-owned", "corrupt-wheel", "https-http-root-owned")
SAMPLE_PIPS = ("20.3.4", "26.3")


def _fixtures():
    return sorted(p.relative_to(LOGS) for p in LOGS.glob("*/pip-*") if p.suffix in (".log", ".json"))


def test_fixtures_exist():
    assert any(LOGS.glob("*/pip-*.log")), f"no recorded logs in {LOGS}: run scripts/record-logs as root"


def test_every_log_has_a_label_and_every_label_a_log():
    stems = {}
    for path in _fixtures():
        stems.setdefault(path.with_suffix(""), set()).add(path.suffix)
    unpaired = {
        str(stem): sorted(suffixes) for stem, suffixes in stems.items() if suffixes != {".log", ".json"}
    }
    assert not unpaired


@pytest.mark.parametrize(
    "label_path", sorted(LOGS.glob("*/pip-*.json")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_label_is_valid(label_path):
    label = json.loads(label_path.read_text())
    assert set(label) - {"note"} == LABEL_KEYS
    assert label["scenario"] == label_path.parent.name
    assert label_path.name == f"pip-{label['pip_version']}.json"
    assert label["primary"] is None or CODE.match(label["primary"])
    assert all(CODE.match(code) for code in label["acceptable"])
    assert label["primary"] not in label["acceptable"]
    assert isinstance(label["exit_code"], int)
    assert label["command"] and all(isinstance(arg, str) for arg in label["command"])
    assert label["user"] in ("pdrec", "root", "uid 4242")  # 4242: a uid with no passwd entry
    assert label["state"]


@pytest.mark.root
@pytest.mark.slow
def test_fixtures_are_what_pip_prints_now():
    argv = [sys.executable, str(RECORD_LOGS), "--check"]
    argv += [arg for s in SAMPLE_SCENARIOS for arg in ("--scenario", s)]
    argv += [arg for v in SAMPLE_PIPS for arg in ("--pip", v)]
    proc = subprocess.run(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout
