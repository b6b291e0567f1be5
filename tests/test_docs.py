"""Docs meta-test: one page per code, every page in the shape `explain` shows, and `explain CODE` itself."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipdoctor import exitcodes
from pipdoctor.rules import RULES

REPO = Path(__file__).resolve().parent.parent
PAGES = REPO / "docs" / "codes"
# The sections of every page, in this order and no others (STYLE.md: one code, one doc page).
HEADINGS = ["Problem", "How pip shows it", "Why it happens", "Fix", "Not this code"]
SEVERITIES = ("error", "warning", "info")


def _checker_codes() -> dict:
    """The live-check codes (pipdoctor.checker.CODES, when that module exists): code -> (name, severity).

    CODES holds (code, name, severity) rows; a bare code or a mapping code -> name is read too, and what
    cannot be read is None (then only the code is checked)."""
    try:
        checker = importlib.import_module("pipdoctor.checker")
    except ModuleNotFoundError as error:
        if error.name != "pipdoctor.checker":
            raise  # the module exists but is broken: that must fail, not hide its codes
        return {}
    codes = getattr(checker, "CODES", ())
    rows = codes.items() if isinstance(codes, Mapping) else codes
    found = {}
    for row in rows:
        row = (row,) if isinstance(row, str) else tuple(row)
        name = row[1] if len(row) > 1 and isinstance(row[1], str) else None
        found[row[0]] = (name, row[2] if len(row) > 2 else None)
    return found


RULE_CODES = {rule.CODE: (rule.NAME, getattr(rule, "SEVERITY", None)) for rule in RULES}
CHECKER_CODES = _checker_codes()
ALL_CODES = {**CHECKER_CODES, **RULE_CODES}
PAGE_FILES = sorted(PAGES.glob("*.md"))


def _page(code: str) -> str:
    return (PAGES / f"{code}.md").read_text(encoding="utf-8")


def _headings(text: str) -> list[str]:
    """The `## ` headings outside fenced code blocks (a quoted log line may start with `##`)."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            found.append(line[3:].strip())
    return found


def _explain(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "pipdoctor", "explain", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=str(REPO), timeout=60)


def test_every_rule_has_a_page():
    missing = [code for code in RULE_CODES if not (PAGES / f"{code}.md").is_file()]
    assert not missing, f"codes without a page in docs/codes/: {missing}"


def test_every_page_belongs_to_a_code():
    strays = [path.name for path in PAGE_FILES if path.stem not in ALL_CODES]
    assert not strays, f"pages for no code in the rule table or pipdoctor.checker.CODES: {strays}"


def test_a_code_in_both_tables_has_one_name():
    shared = RULE_CODES.keys() & CHECKER_CODES.keys()
    differ = {code: (RULE_CODES[code][0], CHECKER_CODES[code][0]) for code in shared
              if CHECKER_CODES[code][0] not in (None, RULE_CODES[code][0])}
    assert not differ, f"rule name vs checker name: {differ}"


def test_the_package_ships_the_same_pages():
    from pipdoctor.docs import PAGES as SHIPPED, documented_codes

    assert SHIPPED.resolve() == PAGES.resolve()
    assert documented_codes() == sorted(path.stem for path in PAGE_FILES)


DOCUMENTED = sorted(code for code in ALL_CODES if (PAGES / f"{code}.md").is_file())


@pytest.mark.parametrize("code", DOCUMENTED)
def test_page_title_is_code_and_name(code):
    title = _page(code).splitlines()[0]
    name = ALL_CODES[code][0]
    if name is None:
        assert re.fullmatch(rf"# {code} [a-z0-9]+(?:-[a-z0-9]+)*", title), title
    else:
        assert title == f"# {code} {name}"


@pytest.mark.parametrize("code", DOCUMENTED)
def test_page_has_the_five_sections_in_order(code):
    assert _headings(_page(code)) == HEADINGS


@pytest.mark.parametrize("code", DOCUMENTED)
def test_page_opens_with_one_summary_paragraph_naming_the_severity(code):
    text = _page(code)
    summary = text.split("\n## ", 1)[0].split("\n", 1)[1].strip()
    assert summary and "\n\n" not in summary, "one paragraph between the title and the first section"
    assert not summary.startswith("#")
    severity = ALL_CODES[code][1]
    expected = [getattr(severity, "value", severity)] if severity is not None else list(SEVERITIES)
    assert any(re.search(rf"\b{word}\b", summary, re.I) for word in expected), summary


@pytest.mark.parametrize("spelling", ["PD101", "pd101"])
def test_explain_code_prints_its_page(spelling):
    result = _explain(spelling)
    assert result.returncode == exitcodes.OK, result.stderr
    page = _page("PD101")
    assert result.stdout == (page if page.endswith("\n") else page + "\n")
    assert result.stderr == ""


def test_explain_unknown_code_is_a_usage_error():
    result = _explain("PD999")
    assert result.returncode == exitcodes.USAGE == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "PD999" in lines[0], result.stderr


def _promises(text: str) -> list[str]:
    """The lines between the `<!-- promises` and `<!-- /promises -->` markers."""
    block = text.split("<!-- promises", 1)[1].split("\n", 1)[1].split("<!-- /promises -->", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_states_the_security_promises_word_for_word():
    """docs/SECURITY.md states the model; README's Safety section must promise exactly the same (issue 11)."""
    security = _promises((REPO / "docs" / "SECURITY.md").read_text(encoding="utf-8"))
    readme = _promises((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(security) >= 5
    assert readme == security
