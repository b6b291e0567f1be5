"""Which uv `pipdoctor uv ...` runs: the one named by --uv PATH, else the user's, first on PATH."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipdoctor.runner import InstallerNotFound, explicit_executable, users_tool_on_path


def uv_command(uv: str | None, environ: Mapping[str, str], notice: Callable[[str], None] | None = None) -> list[str]:
    """--uv PATH -> [PATH]; else the first `uv` on environ["PATH"] that is not in pipdoctor's own venv (pip's
    rule: runner.users_tool_on_path). Unlike pip (`python -m pip`) there is no fallback: pipdoctor does not
    bring a uv of its own, so no uv is one clear line."""
    if uv:
        return [explicit_executable(uv, f"--uv {uv}")]
    found = users_tool_on_path("uv", environ, notice, instead="name the uv to run with --uv PATH")
    if found is None:
        raise InstallerNotFound("no uv on PATH; install uv or name it with --uv PATH")
    return [found]
