"""The report a user acts on and the JSON a script reads, from real pip runs and real caches: the root cause
with its evidence, the one fix and pipdoctor's own cure on the first screen, the rest one line each and only
after a cache cause; the JSON's facts as fields, its names exact, its `doc` a page that exists."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests import sandbox
from tests.checkkit import check_as, new_user_cache, pipdoctor_bin, with_pip
from tests.fixkit import links_fixture, seed_failure

LOGS = sandbox.REPO / "tests" / "data" / "logs"
SCREEN = 24  # lines: a terminal's first screen

links = links_fixture("report", "pdtiny")


def _pipdoctor(user, links, *args, name="pdtiny"):
    """`pipdoctor [ARGS] install --no-index --find-links LINKS --target ~/t NAME` as the user, real pip."""
    argv = [pipdoctor_bin(), "--color", "never", *args, "install", "--no-index", "--find-links", str(links),
            "--target", str(user.home / f"t-{name}"), name]
    return sandbox.run_as(user, argv, env=with_pip(sandbox.pip_env(HOME=user.home)), separate_stderr=True,
                          timeout=600)


def _report(stderr: bytes) -> list:
    """pipdoctor's own lines after pip's output."""
    text = stderr.decode()
    return text[text.index("\npipdoctor: ") + 1:].splitlines()


def _explain(log: Path, *options) -> subprocess.CompletedProcess:
    return sandbox.run([pipdoctor_bin(), "--color", "never", *options, "explain", log], separate_stderr=True)


# --- the human report ------------------------------------------------------------------------------------------


@pytest.mark.root
def test_seed_report_fits_a_screen_and_its_printed_cure_works(user, links):
    cache = seed_failure(user)
    run = _pipdoctor(user, links)
    assert run.returncode == 1, run.stderr.decode()
    lines = _report(run.stderr)
    assert len(lines) <= SCREEN, "\n".join(lines)
    assert lines[0] == "pipdoctor: pip exited with status 1; root cause: PD101 cache-permission-denied"
    order = [next(i for i, line in enumerate(lines) if line.startswith(head)) for head in
             ("  evidence:", "  fix:", "  or let pipdoctor cure it", "Also found")]
    assert order == sorted(order), "\n".join(lines)  # cause, evidence, the fix, the cure, then the rest
    cure = next(line.strip() for line in lines if line.strip().startswith("pipdoctor install --fix "))
    assert any(line.strip().startswith("pipdoctor fix  # ") for line in lines)
    also = lines[order[-1] + 1:]
    assert [line.split()[:2] for line in also] == [["error", "PD103"]]  # the check's finding: one line

    # The printed command, pasted into a shell as the user (with --yes: no terminal to confirm on), cures it.
    pasted = cure.replace("pipdoctor install --fix ", "pipdoctor install --fix --yes ", 1)
    env = with_pip(sandbox.pip_env(HOME=user.home, PATH=f"{pipdoctor_bin().parent}:{sandbox.PATH}"))
    again = sandbox.run_as(user, ["bash", "-c", pasted], env=env, separate_stderr=True, timeout=600)
    assert again.returncode == 0, again.stderr.decode()
    assert (user.home / "t-pdtiny" / "pdtiny.py").exists()
    assert any(name.startswith("wheels.pipdoctor-") for name in os.listdir(cache))


@pytest.mark.root
@pytest.mark.parametrize("pip_command, said", [
    (["instal", "six"], "unknown command"),  # a typo: pip's own usage error
    (["install", "--no-index", "pdnothing"], "No matching distribution"),  # a package that does not exist
], ids=["typo", "missing-package"])
def test_a_failure_that_is_not_the_cache_gets_no_cache_findings(user, pip_command, said):
    seed_failure(user)  # the machine's cache is broken, but that is not why pip fails here
    env = with_pip(sandbox.pip_env(HOME=user.home))
    run = sandbox.run_as(user, [pipdoctor_bin(), "--color", "never", *pip_command], env=env, separate_stderr=True,
                         timeout=300)
    err = run.stderr.decode()
    assert run.returncode != 0 and said in err, err
    assert _report(run.stderr) == [f"pipdoctor: pip exited with status {run.returncode}; no known cause in its "
                                   "output."]
    doc = json.loads(sandbox.run_as(user, [pipdoctor_bin(), "--json", *pip_command], env=env, separate_stderr=True,
                                    timeout=300).stdout)
    assert doc["root_cause"] is None and [f["code"] for f in doc["findings"]] == ["PD103"]  # --json keeps all
    assert doc["check"]["cache"]["usage"]["foreign"]["owners"][0]["uid"] == 0  # with the check's facts


def test_a_build_failure_after_another_cause_is_not_a_second_cause():
    log = LOGS / "disk-full" / f"pip-{sandbox.PIP_VERSIONS[-1]}.log"
    proc = _explain(log)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and out.startswith("pipdoctor: root cause: PD105 disk-full\n"), out
    assert "error PD304" not in out and "not caused by pip's cache" not in out
    assert "  then PD304 build-failed: pip's build failure follows from PD105, it is not a second cause" in out
    assert "pipdoctor fix  # on the machine where pip ran" in out
    codes = [f["code"] for f in json.loads(_explain(log, "--json").stdout)["findings"]]
    assert codes == ["PD105", "PD304"]  # JSON stays complete


def test_a_cause_that_is_not_the_cache_offers_no_cache_cure():
    proc = _explain(LOGS / "venv-root-owned" / f"pip-{sandbox.PIP_VERSIONS[-1]}.log")
    out = proc.stdout.decode()
    assert "root cause: PD301" in out, out
    assert "pipdoctor fix" not in out and "--fix" not in out and "Also found" not in out


@pytest.mark.root
def test_all_users_starts_with_one_line_per_account(user, seal):
    seed_failure(user)
    proc = sandbox.run([pipdoctor_bin(), "--color", "never", "check", "--all-users"], env=with_pip(None),
                       mount_setup=seal.setup, separate_stderr=True, timeout=600)
    lines = proc.stdout.decode().splitlines()
    head = re.fullmatch(r"pipdoctor check: (\d+) accounts, (\d+) with problems", lines[0])
    assert head, lines[:3]
    count, troubled = int(head[1]), int(head[2])
    summary = lines[1:1 + count]
    assert lines[1 + count] == "" and all(re.fullmatch(r"  ! .+: .+|    .+: no problems", line) for line in summary)
    assert sum(line.startswith("  ! ") for line in summary) == troubled >= 1
    mine = next(line for line in summary if f" {user.name} (uid {user.uid}):" in line)
    assert mine.startswith("  ! ") and "1 error" in mine and "PD103" in mine
    # then the details of the accounts with findings, in the summary's order (one run: other sessions add users)
    troubled_who = [line[4:].rsplit(": ", 1)[0] for line in summary if line.startswith("  ! ")]
    details = [line[len("pipdoctor check: "):].split(", cache")[0] for line in lines[1 + count:]
               if line.startswith("pipdoctor check: ")]
    assert [who for who in details if who in troubled_who] == troubled_who
    assert len(details) < count or troubled == count  # an account without findings is its summary line only


@pytest.mark.root
def test_check_ends_with_the_pipdoctor_fix_that_cures_it(user, seal):
    cache = seed_failure(user)
    env = with_pip(sandbox.pip_env(HOME=str(user.home)))
    own = sandbox.run_as(user, [pipdoctor_bin(), "--color", "never", "check"], env=env, timeout=120)
    assert own.returncode == 1 and own.stdout.decode().endswith(
        "\nOr let pipdoctor cure it (you confirm each change; `pipdoctor fix --undo` reverts it):\n"
        "  pipdoctor fix\n"), own.stdout.decode()
    root = sandbox.run([pipdoctor_bin(), "--color", "never", "check", "--user", user.name], env=with_pip(None),
                       mount_setup=seal.setup, separate_stderr=True, timeout=300)
    printed = root.stdout.decode().splitlines()[-1].strip()
    assert printed == f"pipdoctor fix --user {user.name}"
    # The printed command, run as root (with --yes: no terminal to confirm on), cures it.
    cured = sandbox.run([pipdoctor_bin(), *printed.split()[1:], "--yes"], env=with_pip(None),
                        mount_setup=seal.setup, separate_stderr=True, timeout=600)
    assert cured.returncode in (0, 1), cured.stderr.decode()  # (the sealed / may leave an unrelated finding)
    assert os.stat(cache / "wheels").st_uid == user.uid


def test_a_clean_check_offers_no_cure(tmp_path):
    proc = sandbox.run([pipdoctor_bin(), "--color", "never", "check"], env=with_pip(sandbox.pip_env(HOME=tmp_path)))
    assert proc.returncode == 0 and "pipdoctor fix" not in proc.stdout.decode(), proc.stdout.decode()


# --- the JSON contract -------------------------------------------------------------------------------------------


def _tree(top: Path) -> tuple:
    """(entries below and including top, their apparent size) as lstat sees them."""
    entries, size = 1, 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            entries += 1
            st = os.lstat(os.path.join(dirpath, name))
            size += st.st_size if not os.path.isdir(os.path.join(dirpath, name)) else 0
    return entries, size


@pytest.mark.root
def test_check_json_has_counts_sizes_owners_and_the_mount_as_fields(user):
    cache = seed_failure(user)
    entries, _ = _tree(cache / "wheels")
    result = check_as(user)
    fields = result.account["cache"]
    foreign = fields["usage"]["foreign"]
    assert foreign["entries"] == entries and foreign["size"] > 0
    assert foreign["owners"] == [{"name": "root", "uid": 0, "gid": 0, "group": "root", "entries": entries}]
    assert foreign["subtrees"][0]["path"] == str(cache / "wheels") and foreign["subtrees"][0]["owner"]["uid"] == 0
    assert fields["owner"] == {"name": user.name, "uid": user.uid, "gid": user.gid, "group": user.name}
    assert result.account["home_owner"] == fields["owner"]
    assert fields["mode"] == os.stat(cache).st_mode & 0o7777
    target = subprocess.run(["findmnt", "-n", "-o", "TARGET", "--target", str(cache)], stdout=subprocess.PIPE,
                            text=True).stdout.strip()
    assert fields["mount"]["mountpoint"] == target and fields["mount"]["read_only"] is False
    facts = result.finding("PD103")["facts"]
    assert facts["uid"] == user.uid and facts["gid"] == user.gid and facts["chown"] == [str(cache / "wheels")]
    assert facts["entries"] == entries and facts["size"] == foreign["size"] and facts["subtrees"] == 1
    assert facts["owners"] == [{"owner": {"name": "root", "uid": 0, "gid": 0, "group": "root"}, "entries": entries}]
    assert [area["name"] for area in facts["areas"]] == ["wheels"]


@pytest.mark.root
def test_cache_disabled_agrees_with_the_pd102_prediction(user):
    cache = new_user_cache(user)
    os.chown(cache, 0, 0)  # pip's own check_path_owner fails: pip will run uncached
    result = check_as(user)
    assert "PD102" in result.codes()
    assert result.account["cache"]["disabled"] is True and result.account["cache"]["disabled_by"] == "ownership"
    env = with_pip(sandbox.pip_env(HOME=str(user.home)))
    human = sandbox.run_as(user, [pipdoctor_bin(), "--color", "never", "check"], env=env, timeout=120)
    assert "which pip will not use (PD102)" in human.stdout.decode().splitlines()[0]
    healthy = check_as(user, "--cache-dir", str(user.home / "elsewhere"))
    assert healthy.account["cache"]["disabled"] is False and healthy.account["cache"]["disabled_by"] is None


def test_doc_is_the_installed_page():
    doc = json.loads(_explain(LOGS / "wheels-root-owned" / f"pip-{sandbox.PIP_VERSIONS[-1]}.log", "--json").stdout)
    page = doc["findings"][0]["doc"]
    assert os.path.isabs(page) and page.startswith(str(sandbox.pipdoctor_venv())), page  # not the source tree
    shown = sandbox.run([pipdoctor_bin(), "explain", "PD101"], separate_stderr=True).stdout
    assert Path(page).read_bytes() == shown


@pytest.mark.root
def test_a_name_that_is_not_utf8_is_shown_as_xNN_and_kept_exact_in_raw_bytes(user):
    cache = new_user_cache(user)
    odd = os.path.join(os.fsencode(cache / "wheels"), b"caf\xe9")
    os.mkdir(odd)
    os.chown(odd, 0, 0)
    proc = sandbox.run_as(user, [pipdoctor_bin(), "check", "--json"], env=with_pip(sandbox.pip_env(HOME=user.home)),
                          separate_stderr=True, timeout=120)
    text = proc.stdout.decode("ascii")
    assert "\\udc" not in text  # no lone surrogate a strict parser would refuse
    doc = json.loads(text)
    raw = {pointer: base64.b64decode(value) for pointer, value in doc["raw_bytes"].items()}
    shown = f"{cache}/wheels/caf\\xe9"
    pointers = [p for p, value in raw.items() if value == odd]
    assert pointers, raw
    for pointer in pointers:  # each pointer names a string that shows the name with \xNN
        node = doc
        for token in pointer.split("/")[1:]:
            node = node[int(token)] if isinstance(node, list) else node[token.replace("~1", "/").replace("~0", "~")]
        assert node == shown
    subtree = doc["accounts"][0]["cache"]["usage"]["foreign"]["subtrees"][0]
    assert subtree["path"] == shown and raw["/accounts/0/cache/usage/foreign/subtrees/0/path"] == odd


# --- the renderer itself (pure) --------------------------------------------------------------------------------

FORGED = "x\n\x1b[32mOK all good\x07"


def _finding(code="PD101", evidence=1):
    from pipdoctor.findings import Evidence, Finding, Fix, Severity

    return Finding(code, "cache-permission-denied", Severity.ERROR, f"broken {FORGED}", why="because",
                   evidence=tuple(Evidence(f"line {FORGED} {n}", n) for n in range(1, evidence + 1)),
                   fixes=(Fix("chown it", "gives it back", True), Fix("rm -rf it", "review", False)))


def test_the_cause_shows_a_few_evidence_lines_and_counts_the_rest():
    from pipdoctor.report import render_human

    text = render_human([_finding(evidence=9)], color=False)
    shown = [line for line in text.splitlines() if line.startswith("    line ")]
    assert len(shown) == 4 and "    ... and 5 more (--json shows them all)" in text
    assert "    rm -rf it  # review before running" in text  # another way, one line, its caution kept


def test_summary_and_folded_lines_are_escaped_one_line_each():
    from pipdoctor.diagnose import AccountReport
    from pipdoctor.report import render_check_human, render_human

    folded = render_human([_finding(), _finding(code="PD103")], color=False)
    # the cause's message and evidence, the folded finding's message: each escaped, inside its own line
    assert folded.count("OK all good") == 3 and "\nOK all good" not in folded
    reports = [AccountReport(FORGED, 1001, "/home/x", "/home/x/.cache/pip", False, "platform default",
                             (_finding(),)),
               AccountReport("bob", 1002, "/home/bob", "/home/bob/.cache/pip", False, "platform default", ())]
    lines = render_check_human(reports, color=False, summary=True).splitlines()
    assert lines[:3] == ["pipdoctor check: 2 accounts, 1 with problems",
                         "  ! x\\n\\x1b[32mOK all good\\x07 (uid 1001): 1 error (PD101)",
                         "    bob (uid 1002): no problems"]


@pytest.mark.parametrize("pip_args", [
    ["install", "--no-index", "pdtiny"],
    ["install", "a b", "$(touch pwned)", "x;y", "new\nline", "'quoted'"],
    ["wheel", "-w", "dist dir", "pdtiny"],
])
def test_the_printed_cure_gives_pipdoctor_the_same_pip_arguments_when_pasted(pip_args, tmp_path):
    from pipdoctor.report import run_cures

    rerun, fix = run_cures(pip_args)
    assert fix == ("pipdoctor fix", "only cure the cache")
    command = rerun[0]
    # bash runs the pasted line with a `pipdoctor` that prints its arguments, one per NUL.
    script = "pipdoctor() { printf '%s\\0' \"$@\"; }\n" + command + f"  # {rerun[1]}\n"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, stdout=subprocess.PIPE, timeout=30)
    got = proc.stdout.decode().split("\0")[:-1]
    pipdoctor_flags = ["install", "--fix"] if pip_args[0] == "install" else ["--fix", pip_args[0]]
    assert got == pipdoctor_flags + pip_args[1:] and not os.listdir(tmp_path)
