"""pip's options table (installers.pip.options) against every sandbox pip's parsers: the values pip checks."""

from __future__ import annotations

import json
import subprocess

import pytest

from pipdoctor.installers.pip import options
from pipdoctor.installers.base import release_of
from pipdoctor.installers.pip.locations import LATEST_KNOWN_PIP
from tests import sandbox

# Each parser's options whose config values pip converts and may refuse (cli/parser.py _update_defaults).
_DUMP = """
import json
from pip._internal.cli.main_parser import create_main_parser
from pip._internal.commands import create_command
CALLBACKS = {"_handle_no_use_pep517": "no value", "_handle_python_version": "python version",
             "_handle_config_settings": "key=value"}
def checked(parser):
    out = {}
    for o in parser._get_all_options():
        if o.action in ("store_true", "store_false"):
            kind = "bool"
        elif o.action == "count":
            kind = "count"
        elif o.type in ("int", "float"):
            kind = o.type
        elif o.type == "choice":
            kind = "choices" if o.action == "append" else "choice"
        elif o.action == "callback" and o.callback.__name__ in CALLBACKS:
            kind = CALLBACKS[o.callback.__name__]
        else:
            continue
        for name in o._long_opts:
            out[name[2:]] = [kind, sorted(o.choices or ())]
    return out
print(json.dumps({"main": checked(create_main_parser()), "install": checked(create_command("install").parser)}))
"""
IGNORED = {"version", "help"}  # configuration.py ENV_NAMES_IGNORED; --version ends pip before any config matters


@pytest.mark.parametrize("version", sandbox.PIP_VERSIONS)
def test_table_matches_pips_own_parsers(version):
    try:
        wheel = sandbox.wheel_file("pip", version)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    # a wheel is importable as it is: this pip's own parsers, without a venv
    said = subprocess.check_output([str(sandbox.READABLE_PYTHON), "-c", _DUMP],
                                   env=sandbox.pip_env(PYTHONPATH=str(wheel)))
    parsers = json.loads(said)
    release = release_of(version, LATEST_KNOWN_PIP)
    for command, key in ((None, "main"), ("install", "install")):
        pips = {name: spec for name, spec in parsers[key].items() if name not in IGNORED}
        for name, (kind, choices) in pips.items():
            ours = options.option_kind(name, command, release)
            assert ours is not None, (version, command, name, kind)
            assert ours[0] == kind and set(choices) <= set(ours[1]), (version, command, name, ours, kind, choices)
        for name in options._BY_NAME:
            if options.option_kind(name, command, release) is not None:
                assert name in pips, (version, command, name, "not in this pip")


def test_values_pip_takes_and_refuses():
    new = release_of("26.3", LATEST_KNOWN_PIP)
    takes = [("isolated", "Yes"), ("verbose", "3"), ("verbose", "off"), ("timeout", "1.5"), ("retries", "0x10"),
             ("exists-action", "s i"), ("progress-bar", "garbage")]  # progress-bar: not the cache command's
    for name, value in takes:
        assert options.value_problem(name, value, "cache", new, show=True) is None, (name, value)
    refuses = [("isolated", "garbage"), ("verbose", "-1"), ("timeout", "abc"), ("retries", "09"),
               ("exists-action", "s x"), ("keyring-provider", "auto disabled")]
    for name, value in refuses:
        assert options.value_problem(name, value, None, new, show=True) is not None, (name, value)
    assert options.value_problem("progress-bar", "garbage", "install", new, show=True)
    # a file's value is not repeated (it may be a secret of the file's owner); a variable's is the caller's own
    assert "s3cr3t" not in options.value_problem("timeout", "s3cr3t", None, new, show=False)
    assert "'s3cr3t'" in options.value_problem("timeout", "s3cr3t", None, new, show=True)
    # --resume-retries came with pip 25.1: an older pip ignores PIP_RESUME_RETRIES
    assert options.value_problem("resume-retries", "x", None, release_of("24.3.1", LATEST_KNOWN_PIP), show=True) is None
