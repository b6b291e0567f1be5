"""Command line: the one place that parses arguments and turns exceptions into exit codes and one-line errors."""

from __future__ import annotations

import os
import sys

# Start-up is part of the product (scripts/bench: `pipdoctor --version` within 40 ms): this module imports
# only what every run needs; dataclasses, typing, re and the rest load where they are used.
from pipdoctor import __version__, exitcodes
from pipdoctor.errors import OutputError, UsageError

USAGE = """\
usage: pipdoctor [--json] [--color auto|always|never] [--python PATH] <pip command> [pip args...]
       pipdoctor [--json] [--color auto|always|never] [--uv PATH] uv [uv args...]
       pipdoctor explain [--json] [LOG | - | PDnnn]
       pipdoctor check [--json] [--quiet] [--user NAME | --all-users] [--tool pip|uv]
                       [--cache-dir DIR | --no-cache-dir] [--isolated] [--jobs N]
       pipdoctor fix [--json] [--yes | --dry-run] [--persist] [--user NAME] [--tool pip|uv]
                     [--cache-dir DIR | --no-cache-dir] [--jobs N]
       pipdoctor fix --undo [JOURNAL] [--user NAME] [--tool pip|uv]
       pipdoctor --fix [--yes] [--persist] install ...   (or: pipdoctor install --fix [--yes] ...)
       pipdoctor --fix [--yes] [--uv PATH] uv ...
       pipdoctor --version | --help

Runs pip as you would (pipdoctor install pyyaml = pip install pyyaml, with pip's own output unchanged)
and, when something went wrong, says which directory is really broken, why, and the command that fixes it.

  uv ...           run uv as you would (pipdoctor uv pip install pyyaml = uv pip install pyyaml), everything
                   after `uv` passed to uv untouched, then the same report and its cures
  explain LOG      diagnose a saved pip log (a CI log, a pasted issue); - or no LOG reads stdin
  explain PD101    show the documentation of a finding code
  check            find what will make pip's cache fail on this machine, before it fails (changes nothing),
                   and uv's where the account uses uv; --tool pip|uv checks only that one;
                   as root, --user NAME checks another account, --all-users every account with a home;
                   --quiet prints nothing (exit code only); --cache-dir/--no-cache-dir/--isolated as pip takes
                   them (with --tool uv: as uv takes them, also --no-cache, --no-config);
                   --jobs N walks the cache in N processes (default: one per CPU it may use; 1: no fork)
  fix              run the check, print the plan that cures what it found (each step, the finding, the shell
                   command, whether it needs root) and apply it when confirmed (or --yes); --dry-run only
                   prints; every change is journaled first and `fix --undo [JOURNAL]` reverts it; as root,
                   --user NAME repairs that user's cache; --persist writes an alternate cache to pip's config;
                   covers pip's cache and uv's (where it exists) in one plan; --tool pip|uv only one of them
  --fix            with a pip command or uv: on a cache problem, apply the same plan (confirmed, or --yes)
                   and run the command once more

options:
  --json           print one JSON document on stdout (pip's or uv's own stdout goes to stderr)
  --color WHEN     color the report: auto (default: on a terminal, unless NO_COLOR), always, never
  --python PATH    run PATH -m pip instead of the pip first on PATH (also: PIPDOCTOR_PYTHON)
  --uv PATH        with `uv`: run PATH instead of the uv first on PATH
  --version        print pipdoctor's version
"""

OWN_COMMANDS = ("explain", "check", "fix")
# pipdoctor's own options that may also follow `install` (`pipdoctor install --fix --yes pkg`), but only as
# the very first arguments after it, where no pip option can be waiting for its value.
_RUN_FLAGS = ("--fix", "--yes", "--persist")
# Read logs in blocks this big: large enough for the scanner's C-level search to dominate.
_BLOCK = 1 << 20


class Options:
    """pipdoctor's own options, wherever they stood on the command line."""

    def __init__(self) -> None:
        self.json = False
        self.color = "auto"
        self.python: str | None = None
        self.uv: str | None = None  # `pipdoctor uv ...`: the uv to run, else the first on PATH
        self.fix = False  # pip commands: cure a cache problem, then run pip once more
        self.yes = False
        self.persist = False

    def color_for(self, fd: int) -> bool:
        return _color_for(fd, self)


class CheckRequest:
    """What `pipdoctor check` was asked: whose caches, and the cache options of the installer checked."""

    def __init__(self) -> None:
        self.user: str | None = None
        self.all_users = False
        self.quiet = False
        self.tool: str | None = None  # --tool pip|uv: only that installer's cache (None: pip's, and uv's if used)
        self.jobs: int | None = None  # --jobs N: the walk's workers (None: one per CPU this process may use)
        # --cache-dir/--no-cache-dir/--isolated (uv: also --no-cache, --no-config), passed on as the installer
        # --tool names spells them: pip's without --tool
        self.cache_args: list[str] = []


def parse_check_args(args: list[str], options: Options) -> CheckRequest:
    request = CheckRequest()
    rest, special = parse_options(args, options, stop_at_positional=False, own=_CHECK_OPTIONS, request=request)
    if special:
        raise _HelpRequested()
    if rest:
        raise UsageError(f"check takes no operand: {rest[0]!r}")
    if request.user is not None and request.all_users:
        raise UsageError("--user and --all-users do not go together")
    uv_only = next((arg for arg in request.cache_args if arg in _UV_CACHE_FLAGS), None)
    if uv_only is not None and request.tool != "uv":
        raise UsageError(f"{uv_only} is uv's: add --tool uv (pip's own are --no-cache-dir and --isolated)")
    return request


# uv's spellings of --no-cache-dir and --isolated (uv-cli/src/lib.rs GlobalArgs), taken with --tool uv
_UV_CACHE_FLAGS = ("--no-cache", "--no-config")


class _HelpRequested(Exception):
    pass


def _check_option(arg: str, args: list[str], index: int, request: CheckRequest) -> int | None:
    """Consume one of check's own options at args[index]; the next index, or None if it is not one."""
    if arg == "--user" or arg.startswith("--user="):
        request.user, index = _take_value(args, index, "--user")
        return index
    if arg == "--all-users":
        request.all_users = True
        return index + 1
    if arg in ("-q", "--quiet"):
        request.quiet = True
        return index + 1
    if arg == "--tool" or arg.startswith("--tool="):
        request.tool, index = _take_value(args, index, "--tool")
        if request.tool not in ("pip", "uv"):
            raise UsageError(f"--tool takes pip or uv, not {request.tool!r}")
        return index
    if arg in ("-j", "--jobs") or arg.startswith("--jobs="):
        request.jobs, index = _take_jobs(args, index)
        return index
    # --isolated: pip skips the user's files and PIP_* (locations); uv, the config files (--no-config)
    if arg in ("--no-cache-dir", "--isolated", *_UV_CACHE_FLAGS):
        request.cache_args.append(arg)
        return index + 1
    if arg == "--cache-dir" or arg.startswith("--cache-dir="):
        value, index = _take_value(args, index, "--cache-dir")
        request.cache_args.extend(["--cache-dir", value])
        return index
    return None


_CHECK_OPTIONS = _check_option


# More workers than this only queue for the same disk and cores; a bound keeps a typo from forking thousands.
MAX_JOBS = 256


def _take_jobs(args: list[str], index: int) -> tuple[int, int]:
    """--jobs N (-j N) of check and fix: how many processes walk the cache."""
    value, index = _take_value(args, index, "--jobs" if args[index] != "-j" else "-j")
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_JOBS:
        raise UsageError(f"--jobs takes a number from 1 to {MAX_JOBS}, not {value!r}")
    return int(value), index


def _take_value(args: list[str], index: int, name: str) -> tuple[str, int]:
    arg = args[index]
    if arg.startswith(name + "="):
        return arg[len(name) + 1:], index + 1
    if index + 1 >= len(args):
        raise UsageError(f"{name} needs a value")
    return args[index + 1], index + 2


def parse_options(args: list[str], options: Options, *, stop_at_positional: bool, own=None,
                  request=None) -> tuple[list[str], bool]:
    """Consume pipdoctor's own options (and a subcommand's, via `own`); return the rest and whether
    --help/--version was asked."""
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        taken = own(arg, args, index, request) if own else None
        if taken is not None:
            index = taken
        elif arg == "--json":
            options.json, index = True, index + 1
        elif arg == "--color" or arg.startswith("--color="):
            options.color, index = _take_value(args, index, "--color")
            if options.color not in ("auto", "always", "never"):
                raise UsageError(f"--color takes auto, always or never, not {options.color!r}")
        elif arg == "--python" or arg.startswith("--python="):
            options.python, index = _take_value(args, index, "--python")
        elif (arg == "--uv" or arg.startswith("--uv=")) and own is None and stop_at_positional:
            options.uv, index = _take_value(args, index, "--uv")
        elif arg in _RUN_FLAGS and own is None and stop_at_positional:
            setattr(options, arg[2:], True)
            index += 1
        elif arg in ("-h", "--help", "--version"):
            return [arg], True
        elif arg == "--":
            rest.extend(args[index + 1:])
            break
        elif arg.startswith("-") and arg != "-":
            if stop_at_positional:
                raise UsageError(f"unknown option {arg} (pip's options go after the pip command)")
            raise UsageError(f"unknown option {arg}")
        else:
            if stop_at_positional:
                rest.extend(args[index:])
                break
            rest.append(arg)
            index += 1
    return rest, False


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _refuse_nul(args)
        return _dispatch(args)
    except UsageError as error:
        return _fail(str(error), exitcodes.USAGE, args)
    except OutputError as error:
        _error(str(error))
        return exitcodes.OUTPUT_FAILED
    except KeyboardInterrupt:
        return _fail("interrupted", exitcodes.INTERRUPTED, args, quiet=True)


def _fail(message: str, code: int, args: list[str], quiet: bool = False) -> int:
    """The one-line error on stderr (not for Ctrl-C, which the user saw); under --json also the error document
    on stdout, so a script reading stdout always gets one object (docs/schemas/error.schema.json)."""
    if not quiet:
        _error(message)
    if _wants_json(args):
        _error_document(message, code)
    return code


def _error_document(message: str, code: int) -> None:
    from pipdoctor.report import render_error_json
    from pipdoctor.terminal import write

    try:
        write(1, render_error_json(message, code))
    except OutputError:  # stdout closed or full: the line on stderr has said it
        pass


def _wants_json(args: list[str]) -> bool:
    """--json among pipdoctor's own arguments: before the pip command, or anywhere in explain/check/fix's
    (where it is pipdoctor's, wherever it stands). After a pip command it is pip's argument."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--json":
            return True
        if arg == "--" or not arg.startswith("-"):
            return arg in OWN_COMMANDS and "--json" in args[index + 1:]
        index += 2 if arg in ("--color", "--python", "--uv") else 1  # and its value
    return False


def console() -> None:
    """The `pipdoctor` command: main(), then out at once. The interpreter's teardown would free, one by one,
    the rules and regexes a run loaded while pip ran: ~6 ms on every `pipdoctor install` (scripts/bench,
    overhead), when all that is left to do is to exit with pip's status."""
    from pipdoctor.terminal import hold_standard_fds

    hold_standard_fds()
    code = main()
    for stream in (sys.stdout, sys.stderr):  # None when the fd was closed at start
        try:
            if stream is not None:
                stream.flush()
        except OSError:  # the reader went away: what is left unwritten has no one to read it
            pass
    os._exit(code)


def _refuse_nul(args: list[str]) -> None:
    """execve(2) cannot pass a NUL byte, but main() is also called with a list: say so in one line rather
    than fail deep inside open() or posix_spawn()."""
    for arg in args:
        if "\0" in arg:
            raise UsageError(f"an argument holds a NUL byte: {arg!r}")


def _error(message: str) -> None:
    """`pipdoctor: error: MESSAGE` as one line on stderr, whatever the message holds (a path's newline or
    escape bytes are shown escaped)."""
    from pipdoctor.terminal import tell, terminal_safe

    tell(f"pipdoctor: error: {terminal_safe(message)}\n")


def _dispatch(args: list[str]) -> int:
    options = Options()
    rest, special = parse_options(args, options, stop_at_positional=True)
    if special or not rest:
        if rest == ["--version"]:
            from pipdoctor.terminal import write

            write(1, f"pipdoctor {__version__}\n")
            return exitcodes.OK
        if special:
            return _show_usage(1)
        if options.json:  # `pipdoctor --json` alone: the usage for the person, the error for the script
            _error_document("no command given (pipdoctor --help lists them)", exitcodes.USAGE)
        return _show_usage(2, exitcodes.USAGE)
    command, command_args = rest[0], rest[1:]
    if options.uv is not None and command != "uv":
        raise UsageError("--uv goes with `pipdoctor uv ...` (it names the uv to run)")
    if command == "explain":
        operands, special = parse_options(command_args, options, stop_at_positional=False)
        if special:
            return _show_usage()
        return _explain(operands, options)
    try:
        if command == "check":
            return _check(parse_check_args(command_args, options), options)
        if command == "fix":
            from pipdoctor.fixing import run_fix

            return run_fix(parse_fix_args(command_args, options), options, _environ(options))
    except _HelpRequested:
        return _show_usage()
    if command == "install":
        while len(rest) > 1 and rest[1] in _RUN_FLAGS:
            setattr(options, rest.pop(1)[2:], True)
    if (options.yes or options.persist) and not options.fix:
        raise UsageError("--yes and --persist go with --fix (or with `pipdoctor fix`)")
    if command == "uv":
        _refuse_pip_options_for_uv(options)
        if options.fix:
            from pipdoctor.fixing import run_install_fix
            from pipdoctor.installers.uv import UV

            return run_install_fix(command_args, options, _environ(options), UV)
        return _run_installer("uv", command_args, options)
    if options.fix:
        from pipdoctor.fixing import run_install_fix

        return run_install_fix(rest, options, _environ(options))
    return _run_installer("pip", rest, options)


def _show_usage(fd: int = 1, code: int = exitcodes.OK) -> int:
    from pipdoctor.terminal import TerminalText, write

    write(fd, TerminalText(USAGE))
    return code


def parse_fix_args(args: list[str], options: Options):
    """`fix`'s options: --yes, --dry-run, --undo [JOURNAL], --persist, --user NAME, --tool pip|uv,
    --cache-dir/--no-cache-dir."""
    from pipdoctor.fixing import FixRequest

    request = FixRequest()

    def own(arg: str, args: list, index: int, req) -> int | None:
        if arg in ("-y", "--yes"):
            req.yes = True
        elif arg in ("-n", "--dry-run"):
            req.dry_run = True
        elif arg == "--persist":
            req.persist = True
        elif arg == "--undo":
            req.undo = True
            if index + 1 < len(args) and not args[index + 1].startswith("-"):
                req.journal = args[index + 1]
                return index + 2
        elif arg.startswith("--undo="):
            req.undo, req.journal = True, arg[len("--undo="):]
        elif arg == "--user" or arg.startswith("--user="):
            req.user, index = _take_value(args, index, "--user")
            return index
        elif arg in ("-j", "--jobs") or arg.startswith("--jobs="):
            req.jobs, index = _take_jobs(args, index)
            return index
        elif arg == "--no-cache-dir":
            req.pip_args.append(arg)
        elif arg == "--cache-dir" or arg.startswith("--cache-dir="):
            value, index = _take_value(args, index, "--cache-dir")
            req.pip_args.extend(["--cache-dir", value])
            return index
        elif arg == "--tool" or arg.startswith("--tool="):
            req.tool, index = _take_value(args, index, "--tool")
            if req.tool not in ("pip", "uv"):
                raise UsageError(f"--tool takes pip or uv, not {req.tool!r}")
            return index
        else:
            return None
        return index + 1

    rest, special = parse_options(args, options, stop_at_positional=False, own=own, request=request)
    if special:
        raise _HelpRequested()
    if rest:
        raise UsageError(f"fix takes no operand: {rest[0]!r} (a journal goes right after --undo)")
    request.yes = request.yes or options.yes
    request.persist = request.persist or options.persist
    if options.fix:
        raise UsageError("--fix goes with a pip command; `pipdoctor fix` fixes already")
    if request.yes and request.dry_run:
        raise UsageError("--yes and --dry-run do not go together")
    if request.undo and (request.dry_run or request.persist or request.pip_args or request.jobs is not None):
        raise UsageError("--undo takes only a JOURNAL, --tool, --user, --yes and --json")
    return request


def _environ(options: Options):
    """The environment the check models pip from: --python PATH counts as PIPDOCTOR_PYTHON, so the check
    reads that interpreter's pip (its version, its site pip.conf) like the run does."""
    if options.python is None:
        return os.environ
    return {**os.environ, "PIPDOCTOR_PYTHON": options.python}


def _check(request: CheckRequest, options: Options) -> int:
    from pipdoctor.diagnose import diagnose_check
    from pipdoctor.findings import has_problem
    from pipdoctor.report import render_check_human, render_check_json
    from pipdoctor.terminal import write

    from pipdoctor.progress import on_terminal

    with on_terminal("check", quiet=options.json or request.quiet) as progress:
        reports = diagnose_check(request, _environ(options), progress)
    code = exitcodes.FINDINGS if any(has_problem(r.findings) for r in reports) else exitcodes.OK
    if request.quiet:
        return code
    if options.json:
        write(1, render_check_json(reports, code))
    else:
        write(1, render_check_human(reports, color=_color_for(1, options), summary=request.all_users, cure=True))
    return code


def _explain(operands: list[str], options: Options) -> int:
    if len(operands) > 1:
        raise UsageError("explain takes one LOG (or - for stdin, or a code like PD101)")
    target = operands[0] if operands else "-"
    if _is_code(target):
        return _show_doc(target.upper(), options)
    from pipdoctor.classifier import LogScanner, classify
    from pipdoctor.remediation import suggest
    from pipdoctor.rules import TRIGGERS

    scanner = LogScanner(TRIGGERS)
    _feed_log(target, scanner, options.json)
    findings = [suggest(f) for f in classify(scanner.finish())]
    from pipdoctor.findings import has_problem

    code = exitcodes.FINDINGS if has_problem(findings) else exitcodes.OK
    from pipdoctor.report import render_human, render_json
    from pipdoctor.terminal import write

    if options.json:
        write(1, render_json("explain", findings, code, log=None if target == "-" else target))
    elif findings:
        from pipdoctor.findings import fix_acts_on
        from pipdoctor.report import EXPLAIN_CURES

        cures = EXPLAIN_CURES[findings[0].tool] if fix_acts_on(findings[0]) else ()
        write(1, render_human(findings, color=_color_for(1, options), headline=_headline(findings), cures=cures))
    else:
        write(1, "pipdoctor: no known problem found in this log.\n")
    return code


def _color_for(fd: int, options: Options) -> bool:
    from pipdoctor.report import use_color

    return use_color(options.color, os.isatty(fd), os.environ)


def _headline(findings) -> str:
    first = findings[0]
    return f"pipdoctor: root cause: {first.code} {first.name}"


def _is_code(text: str) -> bool:
    """PD101, pd101: a finding code rather than a log file name."""
    return len(text) == 5 and text[:2].upper() == "PD" and text[2:].isascii() and text[2:].isdigit()


def _feed_log(target: str, scanner, json: bool) -> None:
    """Stream a log file (or stdin) into the scanner, one block in memory at a time, so a huge log streams;
    refuse in one line what is not a text log: a directory, binary data (a NUL byte in any block, so /dev/zero
    is refused at its first one), an unreadable or closed input. A FIFO is opened without waiting for a writer
    (a blocking open(2) would wait for ever): with no writer it reads as an empty log. Each read takes what
    is there (a slow pipe's few kB too), so the progress line on a terminal follows a slow source."""
    import stat

    from pipdoctor.progress import on_terminal

    name = "standard input" if target == "-" else target
    try:
        fd = 0 if target == "-" else os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror}") from None
    try:
        mode = os.fstat(fd)
        if stat.S_ISDIR(mode.st_mode):
            raise UsageError(f"cannot read {target}: it is a directory")
        if fd:
            os.set_blocking(fd, True)
        total = mode.st_size if stat.S_ISREG(mode.st_mode) else None
        # A log typed or pasted at the terminal: the person is the source, and a line would cut into the echo.
        with on_terminal("explain", quiet=json or os.isatty(fd), total=total, unit="bytes") as progress:
            while True:
                block = os.read(fd, _BLOCK)
                if not block:
                    break
                if b"\0" in block:
                    raise UsageError(f"{name} is not a text log (it holds binary data)")
                scanner.feed(block)
                progress.advance(len(block))
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror}") from None
    finally:
        if fd:
            os.close(fd)


def _show_doc(code: str, options: Options) -> int:
    from pipdoctor.docs import doc_page, documented_codes

    page = doc_page(code)
    if page is None:
        raise UsageError(f"unknown code {code}; the codes are {', '.join(documented_codes())}")
    from pipdoctor.terminal import TerminalText, write

    write(1, TerminalText(page if page.endswith("\n") else page + "\n"))  # pipdoctor's own page
    return exitcodes.OK


def _refuse_pip_options_for_uv(options: Options) -> None:
    """pipdoctor's option that means something only for pip, given before `uv`: one line, not a silent no-op
    (--fix, --yes and --persist go with uv too). (After `uv` every argument is uv's: `pipdoctor uv pip install
    --python X` is uv's own --python.)"""
    if options.python is not None:
        raise UsageError("--python names pip's Python; with uv, --uv PATH names the uv to run (uv's own "
                         "--python goes after the uv command)")


def _run_installer(installer: str, args: list[str], options: Options) -> int:
    """`pipdoctor <pip command> ...` (installer "pip", args from the pip command on) and `pipdoctor uv ...`
    (installer "uv", args after `uv`): the installer's run, then the report; the exit status is the run's."""
    from pipdoctor.wrapper import report_run, watch_installer

    environ = _environ(options)
    run, log = watch_installer(installer, args, options, environ)
    if run.returncode == 0 and not log.lines and not options.json:
        return 0  # the installer is content and no rule could match anything: not a word more (no live check)
    from pipdoctor.diagnose import diagnose_run
    from pipdoctor.installers.pip import PIP
    from pipdoctor.installers.uv import UV
    from pipdoctor.report import render_run_json
    from pipdoctor.terminal import write

    diagnosis = diagnose_run(log, args, environ, failed=run.returncode != 0,
                             installer=PIP if installer == "pip" else UV)
    pip_args = args if installer == "pip" else None  # pip's cures name its command; uv's are `fix --tool uv`
    if options.json:
        write(1, render_run_json(args[0] if pip_args else installer, run, diagnosis, run.returncode, installer))
    else:
        report_run(run, diagnosis, options, pip_args, installer, uv_args=() if pip_args else args)
    return run.returncode
