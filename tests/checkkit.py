"""Helpers for the `pipdoctor check` tests: run the check and `pip cache dir` as a user, build caches."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from tests import sandbox

PIP_VERSION = sandbox.PIP_VERSIONS[-1]


def _load_script(name: str):
    path = sandbox.REPO / "scripts" / name
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


synthetic = _load_script("make-synthetic-cache")


@dataclass
class CheckRun:
    returncode: int
    output: bytes  # stdout and stderr, interleaved
    doc: Optional[dict]  # the JSON document, when --json was given and stdout parsed

    @property
    def account(self) -> dict:
        return self.doc["accounts"][0]

    @property
    def findings(self) -> list:
        return self.account["findings"]

    @property
    def cache(self) -> dict:
        """The account's cache as pip resolved it: path, disabled, source, not_reached (README, "JSON output");
        the walk's counts and the mount's free space are left out (they change between runs and viewers)."""
        cache = self.account["cache"]
        return {key: cache[key] for key in ("path", "disabled", "source", "not_reached")}

    def codes(self) -> list:
        return [f["code"] for f in self.findings]

    def finding(self, code: str) -> dict:
        matches = [f for f in self.findings if f["code"] == code]
        assert matches, f"no {code} in {self.codes()}:\n{self.output.decode(errors='replace')}"
        return matches[0]

    def problems(self) -> list:
        return [f["code"] for f in self.findings if f["severity"] != "info"]


def parse(proc: subprocess.CompletedProcess) -> CheckRun:
    text = proc.stdout
    doc = None
    start = text.find(b"{")
    if start >= 0:
        try:
            doc = json.loads(text[start:])
        except ValueError:
            doc = None
    return CheckRun(proc.returncode, proc.stdout, doc)


def pipdoctor_bin() -> Path:
    return sandbox.pipdoctor_venv() / "bin" / "pipdoctor"


def pip_python() -> Path:
    return sandbox.python_of(sandbox.pip_venv(PIP_VERSION))


def with_pip(env, python=None) -> dict:
    """env (default pip_env()) with PIPDOCTOR_PYTHON naming the pip the check models, unless already set."""
    env = dict(sandbox.pip_env() if env is None else env)
    env.setdefault("PIPDOCTOR_PYTHON", str(python or pip_python()))
    return env


def check_as(user, *args: str, env=None, cwd=None, mount_setup: Optional[str] = None) -> CheckRun:
    """`pipdoctor check --json ARGS` as the user (setpriv), in pip_env(HOME=user's home) unless env given."""
    argv = [pipdoctor_bin(), "check", "--json", *args]
    env = with_pip(sandbox.pip_env(HOME=str(user.home)) if env is None else env)
    return parse(sandbox.run_as(user, argv, env=env, cwd=cwd, mount_setup=mount_setup, timeout=120))


def check_as_root(*args: str, env=None, cwd=None, mount_setup: Optional[str] = None) -> CheckRun:
    argv = [pipdoctor_bin(), "check", "--json", *args]
    return parse(sandbox.run(argv, env=with_pip(env), cwd=cwd, mount_setup=mount_setup, timeout=300))


def check_as_uid(uid: int, gid: int, *args: str, env=None, cwd=None) -> CheckRun:
    argv = [pipdoctor_bin(), "check", "--json", *args]
    return parse(sandbox.run_as_uid(uid, gid, argv, env=with_pip(env), cwd=cwd, timeout=120))


def pip_cache_dir(run, env, cwd=None, python=None) -> tuple[int, str]:
    """`pip cache dir` with the same runner and environment: (exit status, its output)."""
    python = python or (env or {}).get("PIPDOCTOR_PYTHON") or pip_python()
    proc = run([python, "-m", "pip", "cache", "dir"], env=env, cwd=cwd)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def assert_pip_agrees(result: CheckRun, run, env, cwd=None, python=None) -> None:
    """pip's own `pip cache dir` prints the cache the check resolved; or, where pip cannot print it because
    it disabled the cache, the check predicted exactly that (PD102, or a cache turned off)."""
    status, output = pip_cache_dir(run, env, cwd, python)
    cache = result.account["cache"]
    if status == 0:
        printed = [line for line in output.splitlines() if line.strip()][-1]
        assert printed == cache["path"], (printed, cache)
        assert "PD102" not in result.codes() or cache["disabled"], output
    else:
        assert "cache is disabled" in output or "cache has been disabled" in output, output
        assert cache["disabled"] or "PD102" in result.codes(), (output, result.codes())


def make_cache(root: Path, user, files: int = 40) -> Path:
    """A small cache with pip's layout (wheels/, http-v2/, selfcheck/) owned by the user."""
    synthetic.build_cache(str(root), files, foreign_share=0.0, owner=(user.uid, user.gid), seed=7)
    return root


def deep_entries(root: Path, area: str, count: int) -> list[Path]:
    """`count` leaf entries deep inside wheels/ or http-v2/ (the wheel files' hash dirs, or HTTP files)."""
    found = []
    for dirpath, dirnames, filenames in sorted(os.walk(root / area)):
        dirnames.sort()
        if filenames:
            found.append(Path(dirpath) if area == "wheels" else Path(dirpath, sorted(filenames)[0]))
        if len(found) >= count:
            break
    return found


def chown_to_root(paths: Sequence[Path]) -> None:
    for path in paths:
        sandbox.chown_tree(path, 0, 0) if path.is_dir() else os.lchown(path, 0, 0)


def user_cache(user) -> Path:
    return user.home / ".cache" / "pip"


def new_user_cache(user, files: int = 40) -> Path:
    """~/.cache/pip for the user, with the dirs above it the user's, as pip leaves them."""
    cache_home = user.home / ".cache"
    cache_home.mkdir(mode=0o755)
    os.chown(cache_home, user.uid, user.gid)
    return make_cache(user_cache(user), user, files)


def fs_type(path: Path) -> str:
    proc = subprocess.run(["stat", "-f", "-c", "%T", str(path)], stdout=subprocess.PIPE, text=True)
    return proc.stdout.strip()


def fix_commands(finding: dict) -> list[str]:
    return [f["command"] for f in finding["fixes"]]


def runner_as(user):
    """A run(argv, env, cwd) callable that runs as the user, for helpers that take a runner."""
    return lambda argv, env=None, cwd=None: sandbox.run_as(user, argv, env=env, cwd=cwd)
