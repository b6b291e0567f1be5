"""scripts/bench's toolkit: figures with goals, timing, import profiles, the pty children and their pip-shaped output.

Imports only the standard library at module level: the pty section runs this file as a program
(`python benchlib.py write|relay|runner ...`) under the clean venv's python, where pipdoctor is installed.
"""

from __future__ import annotations

import errno
import json
import os
import random
import statistics
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

MB = 10**6  # figures are in MB = 10^6 bytes, as `dd` and download speeds count them


# --- figures and goals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    op: str  # "<=" or ">="
    limit: float

    def met(self, value: float) -> bool:
        return {"<=": value <= self.limit, "<": value < self.limit, ">=": value >= self.limit}[self.op]


@dataclass
class Figure:
    """One printed number; with a goal it is judged PASS or MISS."""

    name: str
    value: float
    unit: str  # "ms", "x", "MB/s", "MB", "" (a count)
    goal: Optional[Goal] = None
    detail: str = ""  # spread or context, printed after the value
    signed: bool = False  # a difference: print +/-

    @property
    def passed(self) -> Optional[bool]:
        return None if self.goal is None else self.goal.met(self.value)


@dataclass
class SectionResult:
    name: str
    title: str = ""
    figures: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # evidence worth reading: import times, profiles
    error: Optional[str] = None  # the section could not measure (a setup failure, a failed sanity check)
    seconds: float = 0.0
    load: tuple = ()  # 1-minute load average before and after

    def add(self, *args, **kwargs) -> Figure:
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        return figure


class BenchError(Exception):
    """A section cannot give a trustworthy figure (its sanity check failed): reported, never a PASS."""


def format_value(value: float, unit: str, signed: bool = False) -> str:
    sign = "+" if signed else ""
    if unit == "x":
        return f"{value:{sign}.2f}x"
    if unit == "":
        return f"{value:{sign}.0f}"
    digits = 0 if abs(value) >= 100 and unit != "ms" else 1
    return f"{value:{sign}.{digits}f} {unit}"


def render_human(result: SectionResult) -> str:
    lines = [f"{result.name}: {result.title}" if result.title else result.name]
    for figure in result.figures:
        value = format_value(figure.value, figure.unit, figure.signed)
        row = f"  {figure.name:<34} {value:>12}"
        if figure.goal is not None:
            goal = f"goal {figure.goal.op} {format_value(figure.goal.limit, figure.unit, figure.signed)}"
            row += f"   {goal:<20} {'PASS' if figure.passed else 'MISS'}"
        if figure.detail:
            row += f"   {figure.detail}" if figure.goal is not None else f"   {'':<20}      {figure.detail}"
        lines.append(row.rstrip())
    if result.error:
        lines.append(f"  ERROR: {result.error}")
    for note in result.notes:
        lines.extend("  " + line for line in note.splitlines())
    load = " -> ".join(f"{x:.1f}" for x in result.load)
    lines.append(f"  ({result.seconds:.0f} s, load average {load})")
    return "\n".join(lines)


def as_json(result: SectionResult) -> dict:
    return {
        "name": result.name,
        "title": result.title,
        "error": result.error,
        "seconds": round(result.seconds, 2),
        "load_average": [round(x, 2) for x in result.load],
        "figures": [
            {
                "name": f.name,
                "value": round(f.value, 4),
                "unit": f.unit,
                "goal": None if f.goal is None else {"op": f.goal.op, "limit": f.goal.limit},
                "pass": f.passed,
                "detail": f.detail,
            }
            for f in result.figures
        ],
        "notes": result.notes,
    }


# --- timing -------------------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def iqr(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def spread_ms(values: Sequence[float]) -> str:
    low, high = iqr(values)
    return f"IQR {low * 1000:.1f}-{high * 1000:.1f} ms, n={len(values)}"


def time_run(argv: Sequence[str], env: dict, *, cwd: str = "/", ok: Sequence[int] = (0,)) -> float:
    """Wall time of one run, output discarded; a failed run (an exit status not in ok) is a broken bench,
    not a slow one."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}")
    return elapsed


def interleaved(commands: dict, rounds: int, *, warmup: int = 1) -> dict:
    """Runs each command once per round, reversing the order every other round (A B, B A, A B ...), so a
    machine that gets busier or quieter during the run weighs on every command alike. {label: [seconds]}."""
    labels = list(commands)
    times: dict = {label: [] for label in labels}
    for index in range(warmup + rounds):
        order = labels if index % 2 == 0 else labels[::-1]
        for label in order:
            argv, env = commands[label]
            elapsed = time_run(argv, env)
            if index >= warmup:
                times[label].append(elapsed)
    return times


# --- import profiles ----------------------------------------------------------------------------------------


def parse_importtime(stderr: str) -> list:
    """-X importtime's lines as (depth, module, self us, cumulative us), in the order Python printed them."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, cumulative, name = line.split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2  # "| name", two more spaces per level
        rows.append((depth, name.strip(), int(head.split(":")[1]), int(cumulative)))
    return rows


def import_profile(python, argv: list, env: dict, runs: int) -> tuple[dict, list]:
    """Median self/cumulative microseconds per module over `runs` runs of `python -X importtime argv`."""
    per_module: dict = {}
    order: list = []
    for _ in range(runs):
        proc = subprocess.run([str(python), "-X", "importtime", *argv], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd="/")
        for depth, name, self_us, cumulative in parse_importtime(proc.stderr):
            if name not in per_module:
                order.append((depth, name))
            per_module.setdefault(name, []).append((self_us, cumulative))
    medians = {name: (median([s for s, _ in v]), median([c for _, c in v])) for name, v in per_module.items()}
    return medians, order


def describe_imports(medians: dict, order: list, what: str) -> str:
    """The top-level imports by cumulative time, and what pipdoctor's own top modules pull in."""
    top = sorted(((medians[n][1], n) for d, n in order if d == 0), reverse=True)
    total = sum(c for c, _ in top)
    lines = [f"-X importtime of {what} (median of runs, ms; total {total / 1000:.1f}):"]
    for cumulative, name in top[:6]:
        lines.append(f"  {cumulative / 1000:6.1f}  {name}")
    # What pipdoctor's modules import directly: the part pipdoctor can change. Python prints a module
    # after everything it imported, so a top-level module's direct imports are the depth-1 lines before it.
    children: list = []
    pending: list = []
    for depth, name in order:
        if depth == 1:
            pending.append(name)
        elif depth == 0:
            if name.startswith("pipdoctor"):
                children.extend((medians[child][1], child, name) for child in pending)
            pending = []
    if children:
        lines.append("imported by pipdoctor's own modules (cumulative ms):")
        for cumulative, name, parent in sorted(children, reverse=True)[:8]:
            lines.append(f"  {cumulative / 1000:6.1f}  {name}  (from {parent})")
    return "\n".join(lines)


def describe_self_times(medians: dict, what: str, top: int = 10) -> str:
    """Where import time goes: the modules with the most time of their own (median ms)."""
    total = sum(self_us for self_us, _ in medians.values())
    lines = [f"-X importtime of {what}: {total / 1000:.1f} ms importing {len(medians)} modules; "
             f"most time of their own (ms, cumulative in brackets):"]
    ranked = sorted(medians.items(), key=lambda item: item[1][0], reverse=True)[:top]
    lines.append("  " + ", ".join(f"{name} {own / 1000:.1f} ({cum / 1000:.1f})" for name, (own, cum) in ranked))
    return "\n".join(lines)


# --- the pty section's payload: pip-shaped output ---------------------------------------------------------

# pip's lines come from the recorded fixtures (tests/data/logs) where they exist. The fixtures hold only the
# pdtiny scenarios (no downloads, no C build), so the rest are written in the exact shape of pip's output:
# pip 23-26 "Collecting"/"Downloading"/"Using cached"/"Requirement already satisfied" lines, rich's
# progress bar as CI logs show it (one final line) and as a terminal capture holds it (\r redraws with
# color codes), gcc's command lines and -Wall warnings from a setuptools build_ext, and urllib3's retry
# warning (an [Errno 101] line, which the scanner's trigger matches and must keep, then dismiss).
_PACKAGES = [
    ("requests", "2.31.0", "py3-none-any", 62.6), ("charset_normalizer", "3.3.2",
     "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", 140.3), ("idna", "3.6", "py3-none-any", 61.6),
    ("urllib3", "2.2.1", "py3-none-any", 121.1), ("certifi", "2024.2.2", "py3-none-any", 163.8),
    ("numpy", "1.26.4", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", 18300.0),
    ("pandas", "2.2.1", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", 13000.0),
    ("python_dateutil", "2.9.0.post0", "py2.py3-none-any", 229.9), ("pytz", "2024.1", "py2.py3-none-any", 505.5),
    ("six", "1.16.0", "py2.py3-none-any", 11.1), ("PyYAML", "6.0.1",
     "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", 757.7), ("click", "8.1.7", "py3-none-any", 97.9),
]
_C_SOURCES = ["yaml/_yaml.c", "src/_cffi_backend.c", "numpy/core/src/multiarray/ctors.c", "src/lxml/etree.c",
              "psycopg2/psycopgmodule.c", "src/greenlet/greenlet.cpp"]
_WARNINGS = [
    ("variable '__pyx_v_done' set but not used", "-Wunused-but-set-variable", "  int __pyx_v_done;"),
    ("unused variable 'i'", "-Wunused-variable", "    Py_ssize_t i;"),
    ("comparison of integer expressions of different signedness: 'int' and 'size_t' {aka 'long unsigned int'}",
     "-Wsign-compare", "    for (k = 0; k < len; k++) {"),
    ("'tp_print' is deprecated", "-Wdeprecated-declarations", "    0, /*tp_print*/"),
]
_BAR = "\u2501"  # rich's progress bar glyph


def _kb(size: float) -> str:
    return f"{size / 1000:.1f} MB" if size >= 1000 else f"{size:.1f} kB"


def _wheel(name: str, version: str, tag: str) -> str:
    return f"{name}-{version}-{tag}.whl"


def _install_session(rng: random.Random, terminal: bool) -> Iterator[str]:
    """One `pip install -r requirements.txt`: resolve, download (with progress), already satisfied."""
    chosen = rng.sample(_PACKAGES, rng.randint(3, len(_PACKAGES)))
    for name, version, tag, size in chosen:
        project = name.replace("_", "-").lower()
        yield f"Collecting {project}>={version.split('.')[0]}.0 (from -r requirements.txt (line {rng.randint(1, 40)}))"
        if rng.random() < 0.3:
            yield f"  Using cached {_wheel(name, version, tag)}.metadata ({rng.uniform(2, 40):.1f} kB)"
        else:
            yield f"  Downloading {_wheel(name, version, tag)}.metadata ({rng.uniform(2, 40):.1f} kB)"
        if rng.random() < 0.02:
            yield ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after "
                   "connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection "
                   f"object at 0x7f{rng.randrange(16**10):010x}>: Failed to establish a new connection: [Errno 101] "
                   f"Network is unreachable')': /simple/{project}/")
    for name, version, tag, size in chosen:
        yield f"Downloading {_wheel(name, version, tag)} ({_kb(size)})"
        if terminal:  # a terminal capture: rich redraws the bar with \r and color codes, \n only at the end
            # rich refreshes 10 times a second: a fast download is a few redraws, a slow one a long line.
            speed = rng.uniform(0.05, 1) if rng.random() < 0.1 else rng.uniform(5, 90)  # MB/s
            steps = max(2, min(int(size / 1000 / speed * 10), 1000))
            redraws = []
            for step in range(1, steps + 1):
                done = size * step / steps
                filled = 40 * step // steps
                redraws.append(f"\x1b[2K   \x1b[38;2;249;38;114m{_BAR * filled}\x1b[0m"
                               f"\x1b[38;5;237m{_BAR * (40 - filled)}\x1b[0m \x1b[32m{done:.1f}/{size:.1f} kB\x1b[0m"
                               f" \x1b[31m{speed:.1f} MB/s"
                               f"\x1b[0m eta \x1b[36m0:00:{(steps - step) // 10 % 60:02d}\x1b[0m")
            yield "\r".join(redraws)
        else:  # a CI log: rich prints the finished bar once
            amount, unit = _kb(size).split()
            yield f"   {_BAR * 40} {amount}/{amount} {unit} {rng.uniform(1, 90):.1f} MB/s eta 0:00:00"
    for name, version, tag, size in rng.sample(_PACKAGES, 4):
        project = name.replace("_", "-").lower()
        yield (f"Requirement already satisfied: {project}>={version.split('.')[0]} in ./venv/lib/python3.11/"
               f"site-packages (from -r requirements.txt (line {rng.randint(1, 40)})) ({version})")
    yield "Installing collected packages: " + ", ".join(n.replace("_", "-").lower() for n, *_ in chosen)
    yield "Successfully installed " + " ".join(f"{n.replace('_', '-').lower()}-{v}" for n, v, *_ in chosen)


def _build_session(rng: random.Random) -> Iterator[str]:
    """A C extension built from an sdist with -v: setuptools' build_ext and gcc's warnings."""
    tmp = f"/tmp/pip-install-{rng.randrange(36**8):08x}"
    yield "  running build_ext"
    for source in rng.sample(_C_SOURCES, rng.randint(1, 3)):
        obj = f"build/temp.linux-x86_64-cpython-311/{source[:-2]}.o"
        yield f"  building '{source.split('/')[-1].split('.')[0]}' extension"
        yield f"  creating build/temp.linux-x86_64-cpython-311/{os.path.dirname(source)}"
        flags = " ".join(f"-I{tmp}/include/{d}" for d in ("", "ext", "third_party", "build")) + " " + " ".join(
            f"-D{name}=1" for name in ("NDEBUG", "CYTHON_TRACE", "HAVE_CONFIG_H", "_GNU_SOURCE")[: rng.randint(1, 4)])
        yield (f"  gcc -pthread -Wno-unused-result -Wsign-compare -DNDEBUG -g -fwrapv -O2 -Wall -fPIC {flags} "
               f"-I/usr/include/python3.11 -c {source} -o {obj}")
        for _ in range(rng.randint(0, 12)):
            message, flag, code = rng.choice(_WARNINGS)
            line, col = rng.randint(100, 90000), rng.randint(3, 30)
            yield f"  {source}: In function '__pyx_pf_{rng.randrange(10**6)}_{source.split('/')[-1][:-2]}_parse':"
            yield f"  {source}:{line}:{col}: warning: {message} [{flag}]"
            yield f"   {line} | {code}"
            yield f"        | {' ' * col}^~~~~~~~~~"
        yield (f"  gcc -pthread -shared {obj} -L/usr/lib/x86_64-linux-gnu -o build/lib.linux-x86_64-cpython-311/"
               f"{source[:-2]}.cpython-311-x86_64-linux-gnu.so")


def fixture_logs(fixtures: Path) -> dict:
    """{scenario/pip-version: (log bytes, primary code)} from tests/data/logs."""
    logs = {}
    for log in sorted(fixtures.glob("*/*.log")):
        meta = json.loads(log.with_suffix(".json").read_text())
        logs[f"{log.parent.name}/{log.stem}"] = (log.read_bytes(), meta.get("primary"))
    return logs


def filler_block(fixtures: Path, size: int, seed: int = 2024) -> bytes:
    """About `size` bytes of whole lines of a successful pip run's output: no finding in it."""
    rng = random.Random(seed)
    healthy = [data for name, (data, primary) in fixture_logs(fixtures).items() if primary is None]
    parts: list = []
    total = 0
    while total < size:
        pick = rng.random()
        if pick < 0.2 and healthy:
            text = rng.choice(healthy).decode()
        elif pick < 0.45:
            text = "\n".join(_build_session(rng)) + "\n"
        else:
            text = "\n".join(_install_session(rng, terminal=rng.random() < 0.1)) + "\n"
        data = text.encode()
        parts.append(data)
        total += len(data)
    return b"".join(parts)


# --- the pty section's child programs ------------------------------------------------------------------------


def pty_payload(fixtures: Path) -> bytes:
    """What the writer repeats: pip-like output of mixed line lengths (empty to ~90 kB progress redraws)."""
    return filler_block(fixtures, 4 * MB, seed=7)


def write_sizes(seed: int = 11) -> list:
    """The writer's write(2) sizes: pip logs a line per write, a build tool writes what it buffered."""
    rng = random.Random(seed)
    sizes = []
    for _ in range(997):
        pick = rng.random()
        sizes.append(rng.randint(1, 200) if pick < 0.4 else rng.randint(200, 16384) if pick < 0.8
                     else rng.randint(16384, 65536))
    return sizes


def expected_on_terminal(payload: bytes, total: int) -> int:
    """Bytes a terminal receives for `total` bytes of the repeated payload: ONLCR makes each \\n \\r\\n."""
    whole, rest = divmod(total, len(payload))
    return total + whole * payload.count(b"\n") + payload[:rest].count(b"\n")


def run_writer(fixtures: Path, total: int) -> int:
    payload = pty_payload(fixtures)
    doubled = memoryview(payload + payload)
    offset = 0
    left = total
    sizes = write_sizes()
    index = 0
    while left:
        size = min(sizes[index % len(sizes)], left)
        index += 1
        view = doubled[offset: offset + size]
        while view:
            written = os.write(1, view)
            view = view[written:]
        offset = (offset + size) % len(payload)
        left -= size
    return 0


def run_relay(argv: Sequence[str]) -> int:
    """The baseline: the child on a pty of its own, copied to fd 1 by the plainest loop there is."""
    master, slave = os.openpty()
    settings = termios.tcgetattr(slave)
    settings[1] &= ~termios.OPOST  # as the runner does: fd 1's terminal turns \n into \r\n, once
    termios.tcsetattr(slave, termios.TCSANOW, settings)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    while True:
        try:
            data = os.read(master, 65536)
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            break
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
    return proc.wait()


def run_runner(argv: Sequence[str], scan: bool) -> int:
    """pipdoctor's runner, with the scanner `pipdoctor install` feeds (scan) or a no-op on_output."""
    from pipdoctor.runner import run_installer

    on_output: Callable[[bytes], None] = lambda chunk: None
    scanner = None
    if scan:
        from pipdoctor.classifier import LogScanner
        from pipdoctor.rules import TRIGGERS

        scanner = LogScanner(TRIGGERS)
        on_output = scanner.feed
    run = run_installer(argv[:1], argv[1:], on_output=on_output)
    if scanner is not None:
        scanner.finish()
    return run.returncode


def main(args: list) -> int:
    command = args.pop(0)
    if command == "write":
        return run_writer(Path(args[0]), int(args[1]))
    if command == "relay":
        return run_relay(args)
    if command == "runner":
        scan = args[0] == "--scan"
        return run_runner(args[1:], scan)
    raise SystemExit(f"benchlib: unknown program {command!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
