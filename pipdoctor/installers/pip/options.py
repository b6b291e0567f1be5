"""Which values pip's options accept from its config files and PIP_* variables, per pip version (no pip)."""

from __future__ import annotations

from typing import Optional, Tuple

# cli/parser.py ConfigOptionParser._update_defaults (pip 20.3 to 26.3, unchanged): a config or PIP_* value
# for an option of the parser is converted by the option's action; a value the option cannot take ends pip:
#   store_true / store_false: utils/misc.py strtobool, else self.error(...) -> exit 2
#   count: strtobool or int, not negative, else self.error(...) -> exit 2
#   append: val.split(), each word through check_default -> optparse check_value
#   everything else: check_default -> optparse check_value (int, float, choice), else sys.exit(3)
# Options of type "string" / "path" take any value; of the callbacks, those below and --no-cache-dir
# (locations) are modelled, not the others (--no-binary, --group, ...). Names the parser does not have are
# ignored ("if option is None: continue").
BOOL, COUNT, INT, FLOAT = "bool", "count", "int", "float"
CHOICE, CHOICES = "choice", "choices"  # store one choice; append: every word a choice
# callbacks (cli/cmdoptions.py) that refuse a value: _handle_no_use_pep517 any value, _handle_python_version
# one that is not 1 to 3 integer parts, _handle_config_settings one without "=" (each: parser.error, exit 2)
NO_VALUE, PYTHON_VERSION, KEY_VALUE = "no value", "python version", "key=value"

_ALWAYS = ((0,), None)


def _since(*version: int) -> tuple:
    return (version, None)


# (long name without "--", kind, choices, (first pip version, first version without it or None), in the
# main parser). From each pip's create_main_parser() and create_command("install").parser, pip 20.3.4 to
# 26.3 (tests/test_pip_options.py compares this table with every sandbox pip). Where a choice list moved
# between versions, any choice some pip accepted counts: a value one pip takes is never called invalid.
# Where the version that added an option is not known, the first sandbox pip that has it is given, so an
# option is never judged on a pip that ignores it.
_OPTIONS = (
    # cli/cmdoptions.py general_group (the main parser and every command's)
    ("debug", BOOL, (), _since(21, 3), True),
    ("disable-pip-version-check", BOOL, (), _ALWAYS, True),
    ("isolated", BOOL, (), _ALWAYS, True),
    ("no-color", BOOL, (), _ALWAYS, True),
    ("no-input", BOOL, (), _ALWAYS, True),
    ("no-proxy-env", BOOL, (), _since(26, 3), True),
    ("no-python-version-warning", BOOL, (), _ALWAYS, True),
    ("require-venv", BOOL, (), _ALWAYS, True),
    ("require-virtualenv", BOOL, (), _ALWAYS, True),
    ("quiet", COUNT, (), _ALWAYS, True),
    ("verbose", COUNT, (), _ALWAYS, True),
    ("timeout", FLOAT, (), _ALWAYS, True),
    ("default-timeout", FLOAT, (), _ALWAYS, True),
    ("retries", INT, (), _ALWAYS, True),
    ("resume-retries", INT, (), _since(25, 1), True),  # pip 25.1 NEWS: --resume-retries
    ("exists-action", CHOICES, ("s", "i", "w", "b", "a"), _ALWAYS, True),
    ("keyring-provider", CHOICE, ("auto", "disabled", "import", "subprocess"), _since(23, 1), True),
    ("use-feature", CHOICES, ("2020-resolver", "fast-deps", "in-tree-build", "no-binary-enable-wheel-cache",
                             "truststore", "build-constraint", "inprocess-build-deps", "venv-isolation"),
     _ALWAYS, True),
    ("use-deprecated", CHOICES, ("legacy-resolver", "out-of-tree-build", "legacy-certs"), _ALWAYS, True),
    # commands/install.py
    ("break-system-packages", BOOL, (), _since(23, 0, 1), False),  # PEP 668, pip 23.0.1
    ("check-build-dependencies", BOOL, (), _since(22, 1), False),
    ("compile", BOOL, (), _ALWAYS, False),
    ("dry-run", BOOL, (), _since(22, 2), False),
    ("force-reinstall", BOOL, (), _ALWAYS, False),
    ("ignore-installed", BOOL, (), _ALWAYS, False),
    ("ignore-requires-python", BOOL, (), _ALWAYS, False),
    ("no-build-isolation", BOOL, (), _ALWAYS, False),
    ("no-clean", BOOL, (), _ALWAYS, False),
    ("no-compile", BOOL, (), _ALWAYS, False),
    ("no-dependencies", BOOL, (), _ALWAYS, False),
    ("no-deps", BOOL, (), _ALWAYS, False),
    ("no-index", BOOL, (), _ALWAYS, False),
    ("no-require-hashes", BOOL, (), _since(26, 3), False),
    ("no-user", BOOL, (), _ALWAYS, False),
    ("no-warn-conflicts", BOOL, (), _ALWAYS, False),
    ("no-warn-script-location", BOOL, (), _ALWAYS, False),
    ("only-dependencies", BOOL, (), _since(26, 3), False),
    ("only-deps", BOOL, (), _since(26, 3), False),
    ("pre", BOOL, (), _ALWAYS, False),
    ("prefer-binary", BOOL, (), _ALWAYS, False),
    ("require-hashes", BOOL, (), _ALWAYS, False),
    ("upgrade", BOOL, (), _ALWAYS, False),
    ("use-pep517", BOOL, (), _ALWAYS, False),
    ("user", BOOL, (), _ALWAYS, False),
    ("progress-bar", CHOICE, ("off", "on", "ascii", "pretty", "emoji", "raw", "auto"), _ALWAYS, False),
    ("root-user-action", CHOICE, ("warn", "ignore"), _since(22, 1), False),
    ("upgrade-strategy", CHOICE, ("only-if-needed", "eager"), _ALWAYS, False),
    ("no-use-pep517", NO_VALUE, (), ((0,), (25, 3)), False),  # gone from pip 25.3 (legacy setup.py installs)
    ("python-version", PYTHON_VERSION, (), _ALWAYS, False),
    ("config-settings", KEY_VALUE, (), _since(22, 1), False),
)
_BY_NAME = {row[0]: row for row in _OPTIONS}


def option_kind(name: str, command: Optional[str], version: Tuple[int, ...]) -> Optional[tuple]:
    """(kind, choices) of `--name` in the parser of `command` (None: the main parser, which has only the
    general options), or None when that parser has no such option or pip takes any value for it. Commands
    other than install are given their general options only."""
    row = _BY_NAME.get(name)
    if row is None:
        return None
    _, kind, choices, (first, gone), general = row
    if version < first or (gone is not None and version >= gone):
        return None
    if not general and command != "install":
        return None
    return kind, choices


def _truth(value: str) -> bool:
    """utils/misc.py strtobool."""
    lowered = value.lower()
    if lowered in ("y", "yes", "t", "true", "on", "1"):
        return True
    if lowered in ("n", "no", "f", "false", "off", "0"):
        return False
    raise ValueError(value)


def value_problem(name: str, value: str, command: Optional[str], version: Tuple[int, ...],
                  show: bool) -> Optional[str]:
    """pip's complaint about `name = value` from a config file or PIP_* variable, or None when pip takes it.
    `show`: the message may repeat the value (a variable's is the caller's own; a file's is not repeated)."""
    found = option_kind(name, command, version)
    if found is None:
        return None
    kind, choices = found
    shown = f"{value!r} " if show else "the value "
    if kind == BOOL:
        try:
            _truth(value)
        except ValueError:
            return (f"{shown}is not a valid value for {name} option, please specify a boolean value like "
                    "yes/no, true/false or 1/0 instead")
        return None
    if kind == NO_VALUE:  # "A value was passed for --no-use-pep517, probably using either the PIP_NO_USE_PEP517..."
        return f"a value was passed for --{name}; use the use-pep517 option instead"
    if kind == PYTHON_VERSION:  # cmdoptions.py _convert_python_version
        parts = value.split(".")
        if len(parts) > 3:
            return f"invalid --{name}: at most three version parts are allowed"
        try:
            [int(part) for part in parts]  # as pip converts them: " 3" and "-1" pass, "" and "x" do not
        except ValueError:
            return f"invalid --{name}: each version part must be an integer"
        return None
    if kind == KEY_VALUE:
        return None if "=" in value else f"arguments to --{name} must be of the form KEY=VAL"
    if kind == COUNT:
        try:
            count = int(_truth(value))
        except ValueError:
            try:
                count = int(value)
            except ValueError:
                count = -1
        if count < 0:
            return (f"{shown}is not a valid value for {name} option, please instead specify either a "
                    "non-negative integer or a boolean value like yes/no or false/true which is equivalent to 1/0")
        return None
    # optparse's Option.check_value (int: int(value, 0)-like radix rules, float, choice), through pip's
    # check_default ("An error occurred during configuration: ...", exit status 3); an append option
    # (exists-action, use-feature) checks each word of the value.
    import optparse

    option = optparse.Option("--" + name, type="choice" if choices else kind, choices=list(choices) or None)
    for word in value.split() if kind == CHOICES else [value]:
        try:
            option.check_value(name, word)
        except optparse.OptionValueError as error:
            return str(error) if show else str(error).replace(repr(word), "the value", 1)
    return None
