"""Glue for a live pip run: the log's findings, backed by facts read from this machine, with their fixes."""

from __future__ import annotations

from typing import Mapping, Sequence

from pipdoctor.classifier import Log, classify
from pipdoctor.findings import Finding
from pipdoctor.ownership import Facts, collect_facts, pick_alternate_cache
from pipdoctor.remediation import suggest
from pipdoctor.rules._common import cache_paths_named


def diagnose_run(log: Log, pip_args: Sequence[str], environ: Mapping[str, str]) -> list[Finding]:
    named = cache_paths_named(log)
    facts = collect_facts(named, environ)
    facts = Facts(facts.identity, facts.paths, cache_dir=next(iter(named.values()), None),
                  alternate_cache=pick_alternate_cache(facts.identity, environ))
    return [suggest(f, facts, pip_args) for f in classify(log, facts)]
