"""The classifier over every recorded real pip log (scripts/record-logs): the labelled first finding, and
for each code the look-alike scenarios where it must not fire at all (ShellCheck's verify / verifyNot)."""

import json
import re
from pathlib import Path

import pytest

from pipdoctor.classifier import classify, scan_blocks
from pipdoctor.findings import has_problem
from pipdoctor.rules import RULES

LOGS = Path(__file__).parent / "data" / "logs"
LABELS = sorted(LOGS.glob("*/pip-*.json"))

# code -> recorded scenarios that look alike but are something else: the code must not appear in them.
LOOK_ALIKES = {
    "PD101": [
        "venv-root-owned", "tmp-unusable", "cache-root-owned", "http-root-owned", "https-http-root-owned",
        "healthy", "wheel-dir-root-owned", "home-unset-no-passwd",
    ],
    "PD102": ["wheels-root-owned", "wheels-bucket-root-owned", "no-cache-dir", "pip-no-cache-dir-false"],
    "PD105": ["cache-read-only", "wheels-root-owned", "build-failed"],
    "PD106": ["wheels-immutable", "wheels-acl-deny", "disk-full"],
    "PD107": ["cached-local-wheel", "healthy", "http-root-owned", "https-http-root-owned", "http-cache-read-with-zstd",
              "http-cache-read-with-zstd-verbose"],
    "PD108": ["healthy", "build-failed", "wheels-root-owned"],
    "PD201": ["home-root-owned", "home-cache-root-owned", "cache-root-owned", "sudo-keeps-home"],
    "PD301": ["wheels-root-owned", "wheels-immutable", "tmp-unusable", "externally-managed",
              "source-tree-root-owned", "wheel-dir-root-owned", "tmp-cache-acl-deny", "wheels-entry-root-owned"],
    "PD302": ["venv-root-owned", "healthy"],
    "PD303": ["tmpdir-unwritable", "wheels-root-owned", "venv-root-owned", "disk-full", "tmp-cache-acl-deny",
              "user-base-root-owned", "wheels-entry-root-owned"],
    "PD304": ["wheels-root-owned", "wheels-bucket-root-owned", "healthy"],
    "PD399": ["venv-root-owned", "tmp-unusable", "wheels-root-owned", "after-sudo-install", "target-dir-root-owned",
              "target-dir-parent-root-owned", "prefix-dir-root-owned", "user-base-root-owned"],
}


def _findings(log_path: Path):
    return classify(scan_blocks([log_path.read_bytes()]))


def _label(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("label_path", LABELS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_first_finding_is_the_label(label_path):
    label = _label(label_path)
    findings = _findings(label_path.with_suffix(".log"))
    if label["primary"] is None:
        assert not has_problem(findings), [f.code for f in findings]
    else:
        assert findings and findings[0].code == label["primary"], [f.code for f in findings]


@pytest.mark.parametrize("code", sorted(LOOK_ALIKES))
def test_look_alikes_do_not_fire(code):
    logs = [log for scenario in LOOK_ALIKES[code] for log in sorted((LOGS / scenario).glob("pip-*.log"))]
    assert logs, f"no recorded look-alike for {code}"
    for log in logs:
        assert code not in [f.code for f in _findings(log)], log


def test_every_code_has_look_alikes_and_recorded_matches_where_pip_can_show_it():
    assert set(LOOK_ALIKES) == {rule.CODE for rule in RULES}
    matched = {_label(p)["primary"] for p in LABELS}
    assert {rule.CODE for rule in RULES} <= matched


def test_at_least_two_pip_versions_per_scenario():
    for scenario in {p.parent.name for p in LABELS}:
        assert len(list((LOGS / scenario).glob("pip-*.log"))) >= 2, scenario


# PD107 for a damaged download served from pip's HTTP cache (http-files-garbled): pip says "Using cached F"
# and then stops on the index's hash for F. Its look-alikes are made from that real output by changing only
# what distinguishes them.
GARBLED = sorted((LOGS / "http-files-garbled").glob("pip-*.log"))
_FRAGMENT = re.compile(r"#sha256=([0-9a-f]{64})")
_GOT = re.compile(r"Got {8}([0-9a-f]{64})")


@pytest.mark.parametrize("log_path", GARBLED, ids=lambda p: p.stem)
def test_cached_download_that_fails_the_index_hash_is_a_corrupt_cache(log_path):
    [finding] = [f for f in _findings(log_path) if f.code == "PD107"]
    assert finding.severity.value == "error" and finding.facts["http_cache"] and not finding.paths
    assert any("Using cached" in e.text for e in finding.evidence)


@pytest.mark.parametrize("log_path", GARBLED, ids=lambda p: p.stem)
def test_hash_mismatch_look_alikes_are_not_the_cache(log_path):
    text = log_path.read_text()
    got = _GOT.search(text).group(1)
    # A fresh download (no "Using cached"): the index or a proxy served other bytes, not the cache.
    fresh = text.replace("Using cached", "Downloading")
    # The file is what the index says (the link's hash is the one pip got): a hash the user pinned is wrong.
    user_pin = _FRAGMENT.sub(f"#sha256={got}", text)
    # The index gives no hash to compare with.
    no_index_hash = _FRAGMENT.sub("", text)
    for variant in (fresh, user_pin, no_index_hash):
        assert variant != text
        assert "PD107" not in [f.code for f in classify(scan_blocks([variant.encode()]))]


def test_cached_download_is_remembered_however_much_pip_printed_before_the_mismatch():
    # Thousands of kept lines around it (their budget drops the middle ones), and other cached files:
    # "Using cached F" is captured, not kept, so the mismatch for F is still the cache's.
    text = GARBLED[-1].read_text()
    noise = "".join(f"  WARNING: Retrying after [Errno 101] Network is unreachable: /simple/p{n}/\n"
                    f"  Using cached p{n}-1.0.tar.gz (3 kB)\n" for n in range(6000))
    variant = re.sub(r"(  Using cached .*\n)", lambda m: noise + m.group(1) + noise, text, count=1)
    assert variant != text
    assert "PD107" in [f.code for f in classify(scan_blocks([variant.encode()]))]


# The classes of log the classifier used to get wrong, each with its recorded fixture (scripts/record-logs)
# and, beside it, the look-alike that must not match.
def _first(findings, code):
    return next(f for f in findings if f.code == code)


def _codes(text: str) -> list:
    return [f.code for f in classify(scan_blocks([text.encode()]))]


@pytest.mark.parametrize("log_path", sorted((LOGS / "disk-full").glob("pip-2[0-4]*.log")), ids=lambda p: p.stem)
def test_a_full_cache_is_named_by_the_copy_destination_not_the_temp_source(log_path):
    # "[Errno 28] No space left on device: '/tmp/pip-wheel-x/w.whl' -> '<cache>/wheels/.../w.whl'"
    finding = _first(_findings(log_path), "PD105")
    assert "/.cache/pip/wheels/" in finding.paths[0] and "No space left on the filesystem holding " \
        + finding.paths[0] in finding.message
    assert not any("/tmp/pip-wheel-" in path for path in finding.paths)


ENTRY = sorted((LOGS / "wheels-entry-root-owned").glob("pip-*.log"))


@pytest.mark.parametrize("log_path", ENTRY, ids=lambda p: p.stem)
def test_a_root_owned_wheel_cache_entry_is_named_as_the_entry_dir(log_path):
    [finding] = [f for f in _findings(log_path) if f.code == "PD101"]
    text = log_path.read_text()
    if re.search(r"/tmp[a-z0-9_]{8}'", finding.evidence[0].text):  # pip >= 25.3: <entry>/tmpXXXXXXXX
        assert re.search(r"/wheels/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]+$", finding.paths[0])
        assert finding.paths[0] + "/tmp" in text
    else:  # pip < 25.3 names the wheel it moves into the entry: a real file name, kept
        assert finding.paths[0].endswith("/pdtiny-1.0-py3-none-any.whl")


def test_pip_25_3_names_a_temp_dir_inside_the_entry_only_from_25_3():
    stems = {p.stem for p in ENTRY if re.search(r"/tmp[a-z0-9_]{8}'", p.read_text())}
    assert stems == {"pip-25.3", "pip-26.3"}


HOME_UNSET = sorted((LOGS / "home-unset-no-passwd").glob("pip-*.log"))


@pytest.mark.parametrize("log_path", HOME_UNSET, ids=lambda p: p.stem)
def test_home_unset_is_seen_in_a_run_that_worked_and_its_abbreviation_is_not(log_path):
    text = log_path.read_text()
    assert _findings(log_path)[0].code == "PD201"
    # The same line as a user pastes it, with their home shortened to ~: no missing HOME in that.
    abbreviated = re.sub(r"/\S*/~/", "~/", text)
    # pip 26.3 stops before it writes anything (no `<cwd>/~/` line): only PD201 itself to check there
    assert (abbreviated != text) is (log_path.stem != "pip-26.3"), log_path
    assert "PD201" not in _codes(abbreviated) or abbreviated == text
    assert "PD201" not in _codes(text.replace("/cwd/~/", "/cwd/home/")) or abbreviated == text


def test_a_leading_tilde_in_a_cache_warning_is_the_users_abbreviation():
    """pip's real warning (a recorded line), its path swapped for a macOS cache as a user pastes it."""
    line = next(line for line in (LOGS / "cache-root-owned" / "pip-26.3.log").read_text().splitlines()
                if line.startswith("WARNING: The directory '"))
    recorded = re.search(r"'([^']+)'", line).group(1)
    assert _codes(line.replace(recorded, "~/Library/Caches/pip/http")) == ["PD102"]
    assert _codes(line.replace(recorded, "/Users/ci/build/~/Library/Caches/pip"))[:1] == ["PD201"]


EXTERNALLY_MANAGED = sorted((LOGS / "externally-managed").glob("pip-*.log"))


@pytest.mark.parametrize("log_path", EXTERNALLY_MANAGED, ids=lambda p: p.stem)
def test_the_tail_of_a_pep_668_refusal_is_still_the_refusal(log_path):
    lines = log_path.read_text().splitlines(keepends=True)
    note = next(n for n, line in enumerate(lines) if line.startswith("note: "))
    for cut in (note, note + 1):  # from pip's note on; the hint alone
        assert _codes("".join(lines[cut:]))[:1] == ["PD302"], cut
    # The look-alike: the option on a command line, before another failure.
    other = "$ pip install --break-system-packages pdtiny\n" + (LOGS / "venv-root-owned" / log_path.name).read_text() \
        if (LOGS / "venv-root-owned" / log_path.name).exists() else "$ pip install --break-system-packages pdtiny\n"
    assert "PD302" not in _codes(other)


def _cut_before(log_path: Path, pattern: str) -> str:
    lines = log_path.read_text().splitlines(keepends=True)
    last = max(n for n, line in enumerate(lines) if re.search(pattern, line))
    return "".join(lines[:last])


@pytest.mark.parametrize("version", ["20.3.4", "25.3", "26.3"])
def test_a_traceback_cut_inside_the_target_step_or_gettempdir_says_what_it_can(version):
    target = _cut_before(LOGS / "target-dir-parent-root-owned" / f"pip-{version}.log", r"^PermissionError:")
    temp = _cut_before(LOGS / "tmp-unusable" / f"pip-{version}.log", r"No usable temporary directory")
    assert "Permission denied" not in target and "No usable" not in temp
    # verify, and verifyNot on the other: neither frame is the other's cause
    assert _codes(target) == ["PD301"]
    assert _codes(temp)[:1] == ["PD303"] and "PD301" not in _codes(temp)


# Real runs (scripts/record-logs): an HTTP cache filled from an index that sends Vary: Accept-Encoding, read
# again after backports.zstd was installed. pip 26.1 and 26.1.1 warn for undamaged entries (their urllib3 now
# adds zstd to Accept-Encoding) and name their version in the upgrade notice or, with -v, in "Using pip X";
# 26.1.2 does not warn. The look-alike beside them: 26.1.2 reading entries really cut in half warns, and
# that is PD107. The limit (docs/codes/PD107.md): 26.1 warns in the same words for a really damaged entry.
@pytest.mark.parametrize("scenario,version,warned,reported", [
    ("http-cache-read-with-zstd", "26.1", True, False),
    ("http-cache-read-with-zstd", "26.1.1", True, False),
    ("http-cache-read-with-zstd-verbose", "26.1", True, False),
    ("http-cache-read-with-zstd", "26.1.2", False, False),
    ("http-cache-read-with-zstd-verbose", "26.1.2", False, False),
    ("http-cache-truncated-read-with-zstd", "26.1.2", True, True),
    ("http-cache-truncated-read-with-zstd", "26.1", True, False),
])
def test_pip_26_1_cache_warning_is_not_called_corruption(scenario, version, warned, reported):
    log = (LOGS / scenario / f"pip-{version}.log").read_text()
    assert ("Cache entry deserialization failed, entry ignored" in log) is warned
    assert f"A new release of pip is available: {version} -> " in log or f"Using pip {version} from " in log
    assert ("PD107" in _codes(log)) is reported


@pytest.mark.parametrize("log_path", sorted((LOGS / "prefix-dir-root-owned").glob("pip-*.log")), ids=lambda p: p.stem)
def test_a_prefix_scheme_dir_is_the_install_target_a_checkouts_build_dir_is_not(log_path):
    text = log_path.read_text()
    assert "/srv/prefix/lib'" in text and _findings(log_path)[0].code == "PD301"
    assert _codes(text.replace("/srv/prefix/lib'", "/srv/pdtiny/build/lib'"))[:1] == ["PD399"]
