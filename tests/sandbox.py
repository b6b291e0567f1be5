"""Test sandbox: clean pip environments, cached pip venvs, tiny sdists and throwaway unprivileged users."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent

# Debian's python: readable by every user, unlike the pyenv python under /root (mode 0700).
READABLE_PYTHON = Path("/usr/bin/python3")
PIP_VERSIONS = ("20.3.4", "21.3.1", "22.3.1", "23.3.2", "24.3.1", "25.3", "26.3")
# The pips whose urllib3 adds zstd to Accept-Encoding when zstd can be imported (26.1, 26.1.1), and the first
# that pins the header again (26.1.2, NEWS.rst #14012): recorded only for the HTTP cache's Vary scenarios.
ACCEPT_ENCODING_PIPS = ("26.1", "26.1.1", "26.1.2")
# What makes zstd importable for those pips on Python 3.11: their urllib3 imports `backports.zstd` before
# Python 3.14 (26.1 src/pip/_vendor/urllib3/util/request.py:24-32; `zstandard` is not looked at).
ZSTD_WHEELS = {"backports.zstd": "1.8.0"}
# uv releases the uv tests and recordings run, old to new: 0.4.x prints `Caused by:` chains, 0.9.x is the
# last before the read-only cache fails on its lock (0.10.1), 0.13.9 the newest when this was written.
UV_VERSIONS = ("0.4.30", "0.9.30", "0.13.9")
PATH = "/usr/local/bin:/usr/bin:/bin"

# Build backend for the tiny sdists: every pip in PIP_VERSIONS builds a pyproject.toml sdist with these
# under build isolation on Python 3.11 (checked by scripts/record-logs, scenario `healthy`).
# setuptools >= 70.1 ships bdist_wheel itself, so `wheel` is only there for pipdoctor's own pyproject.toml.
BUILD_WHEELS = {"setuptools": "80.9.0", "wheel": "0.45.1"}
# pipdoctor's install_requires (setup.cfg), pinned so the wheelhouse is complete or not, never "stale".
PIPDOCTOR_DEPS = {"psutil": "7.2.2", "colorama": "0.4.6", "packaging": "26.3"}
# The fleet test's control node (tests/fleetkit.py): ansible-core and its dependencies, pinned like the rest of the wheelhouse (scripts/fetch-wheels).
# 2.17 is the newest ansible-core whose controller still runs on Debian 12's Python 3.11 and manages 3.7+.
ANSIBLE_WHEELS = {
    "ansible-core": "2.17.14",
    "jinja2": "3.1.6",
    "markupsafe": "3.0.4",
    "pyyaml": "6.0.4",
    "resolvelib": "1.0.1",
    "cryptography": "51.0.1",
    "cffi": "2.1.1",
    "pycparser": "3.12",
}

# World-traversable (0755) home of everything that an unprivileged user runs or owns during tests.
SANDBOX = Path(os.environ.get("PIPDOCTOR_SANDBOX", "/var/tmp/pipdoctor-sandbox"))
_VENV_READY = ".pipdoctor-sandbox-ready"


def pip_env(**extra: Optional[str]) -> dict:
    """The environment every pip runs in: none of the machine's PIP_* settings, no config file, English.

    `extra` adds or overrides variables; a value of None removes one (e.g. HOME=None).
    """
    env = {
        "PATH": PATH,
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def wheelhouse() -> Path:
    """Where scripts/fetch-wheels put the wheels that tests install offline."""
    return Path(os.environ.get("PIPDOCTOR_WHEELHOUSE", REPO / ".cache" / "wheelhouse"))


def wheel_pattern(name: str, version: str) -> str:
    """The glob of name==version's wheel files: a wheel's name escapes every run of -_. as _ (PEP 491)."""
    return f"{re.sub(r'[-_.]+', '_', name)}-{version}-*.whl"


def wheel_file(name: str, version: str) -> Path:
    """The wheelhouse's wheel for name==version; a clear error when fetch-wheels has not been run."""
    matches = sorted(wheelhouse().glob(wheel_pattern(name, version)))
    if not matches:
        raise FileNotFoundError(f"no {name}=={version} wheel in {wheelhouse()}: run scripts/fetch-wheels")
    return matches[0]


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive flock, so parallel test sessions build each shared venv once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _check_run(argv: Sequence, **kwargs) -> None:
    proc = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout.decode()}")


def _sandbox_root() -> Path:
    with umask(0o022):
        SANDBOX.mkdir(parents=True, exist_ok=True)
    SANDBOX.chmod(0o755)
    return SANDBOX


def new_venv(path: Path, pip_version: str, *requirements) -> None:
    """A venv from READABLE_PYTHON, with pip installed offline by running pip straight from its wheel."""
    shutil.rmtree(path, ignore_errors=True)
    _check_run([READABLE_PYTHON, "-m", "venv", "--without-pip", path])
    pip = wheel_file("pip", pip_version) / "pip"
    argv = [
        path / "bin" / "python",
        pip,
        "install",
        "--quiet",
        "--no-cache-dir",
        "--no-index",
        "--find-links",
        wheelhouse(),
    ]
    _check_run(argv + [f"pip=={pip_version}", *requirements], env=pip_env(HOME=str(path)))
    (path / _VENV_READY).touch()


def pip_venv(version: str) -> Path:
    """A world-readable venv with exactly pip==version, built once and then reused (treat it as read-only)."""
    return _shared_venv(f"pip-{version}", version)


def uv_venv(version: str) -> Path:
    """A world-readable venv holding uv==version (its binary is bin/uv), built once and then reused."""
    return _shared_venv(f"uv-{version}", PIP_VERSIONS[-1], f"uv=={version}")


def _shared_venv(name: str, pip_version: str, *requirements) -> Path:
    """The sandbox's venv `name`, made once (under a lock: tests run side by side) and reused."""
    path = _sandbox_root() / "venvs" / name
    if (path / _VENV_READY).exists():
        return path
    with umask(0o022), exclusive_lock(SANDBOX / "venvs" / ".lock"):
        if not (path / _VENV_READY).exists():
            new_venv(path, pip_version, *requirements)
    return path


def copy_venv(venv: Path, dest: Path) -> Path:
    """A private copy of a venv (symlinks kept); `dest/bin/python -m pip` then installs into the copy."""
    shutil.copytree(venv, dest, symlinks=True)
    return dest


_SOURCE_SKIP = {
    ".git",
    ".venv",
    ".cache",
    "build",
    "dist",
    "tests",
    "scripts",
    "__pycache__",
    ".pytest_cache",
}


def _source_files() -> list:
    """The source tree's files, and its links to dirs (pipdoctor/docs_pages -> docs/codes) as entries."""
    files = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        files += [Path(dirpath, d) for d in sorted(dirnames) if Path(dirpath, d).is_symlink()]
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _SOURCE_SKIP and not d.endswith(".egg-info") and not Path(dirpath, d).is_symlink()
        )
        files += [Path(dirpath, f) for f in sorted(filenames) if not f.endswith((".pyc", ".pyo"))]
    return files


def pipdoctor_venv() -> Path:
    """A world-readable venv with pipdoctor installed (not editable) from the current source tree.

    Keyed by a hash of the source, so an edit makes the next call build a fresh one (~5 s, offline).
    """
    files = _source_files()
    digest = hashlib.sha256()
    for f in files:
        content = os.readlink(f).encode() if f.is_symlink() else f.read_bytes()
        digest.update(str(f.relative_to(REPO)).encode() + b"\0" + content + b"\0")
    path = _sandbox_root() / "venvs" / f"pipdoctor-{digest.hexdigest()[:16]}"
    if (path / _VENV_READY).exists():
        return path
    with umask(0o022), exclusive_lock(SANDBOX / "venvs" / ".lock"):
        if not (path / _VENV_READY).exists():
            # pip builds a source dir in place (build/, *.egg-info): build from a copy, not from the checkout.
            with tempfile.TemporaryDirectory(prefix="pipdoctor-src-") as tmp:
                for f in files:
                    target = Path(tmp, f.relative_to(REPO))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if f.is_symlink():
                        os.symlink(os.readlink(f), target)
                    else:
                        shutil.copy2(f, target)
                new_venv(path, PIP_VERSIONS[-1], tmp)
        _prune_pipdoctor_venvs(keep=path)
    return path


def _prune_pipdoctor_venvs(keep: Path, max_age: float = 24 * 3600) -> None:
    """Drop day-old builds of older sources (a parallel session may still be using a recent one)."""
    for old in keep.parent.glob("pipdoctor-*"):
        if old != keep and time.time() - old.stat().st_mtime > max_age:
            shutil.rmtree(old, ignore_errors=True)


def build_sdist(
    dest_dir: Path,
    name: str = "pdtiny",
    version: str = "1.0",
    broken: bool = False,
    requires: Sequence[str] = ("setuptools>=61",),
) -> Path:
    """A tiny real sdist (pyproject.toml, setuptools backend, one module), byte-for-byte reproducible.

    `broken=True` adds a setup.py that fails while building the wheel (not while getting the build
    requirements), the way a failing compiler does: pip reports "Failed building wheel for NAME".
    """
    module = name.replace("-", "_")
    base = f"{module}-{version}"
    files = {
        "pyproject.toml": (
            "[build-system]\n"
            f"requires = [{', '.join(repr(r).replace(chr(39), chr(34)) for r in requires)}]\n"
            'build-backend = "setuptools.build_meta"\n\n'
            "[project]\n"
            f'name = "{name}"\n'
            f'version = "{version}"\n'
            'description = "A tiny package for pipdoctor\'s tests"\n\n'
            "[tool.setuptools]\n"
            f'py-modules = ["{module}"]\n'
        ),
        f"{module}.py": f'"""{name}: a tiny package for pipdoctor\'s tests."""\n\nVERSION = "{version}"\n',
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    if broken:
        files["setup.py"] = (
            "import sys\n\n"
            "from setuptools import setup\n\n"
            'if "bdist_wheel" in sys.argv:\n'
            f'    sys.exit("error: {name} fails to build on purpose (pipdoctor test fixture)")\n'
            "setup()\n"
        )
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{base}.tar.gz"
    raw = io.BytesIO()
    # 2024-01-01: fixed, and after 1980 (zip, hence wheels, cannot store older timestamps).
    mtime = 1704067200
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member_name in [base] + [f"{base}/{f}" for f in sorted(files)]:
            data = files.get(member_name[len(base) + 1 :], None)
            info = tarfile.TarInfo(member_name)
            info.mtime = mtime
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                payload = data.encode()
                info.size, info.mode = len(payload), 0o644
                tar.addfile(info, io.BytesIO(payload))
    with open(target, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=mtime) as gz:
        gz.write(raw.getvalue())
    target.chmod(0o644)
    return target


# --- users -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path


def homes_base() -> Path:
    """World-traversable parent of the throwaway users' homes."""
    base = _sandbox_root() / "homes"
    with umask(0o022):
        base.mkdir(exist_ok=True)
    return base


def remove_user(name: str) -> None:
    """Delete a user, its group and its home dir, if they exist (also cleans up after a crashed run)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    _check_run(["userdel", name])
    subprocess.run(["groupdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if entry.pw_dir.startswith(str(SANDBOX) + "/"):
        chattr_clear(Path(entry.pw_dir))
        shutil.rmtree(entry.pw_dir, ignore_errors=True)


def chattr_clear(path: Path) -> None:
    """Drop immutable/append-only flags below path, so rmtree can remove what a test made immutable."""
    if path.exists():
        subprocess.run(
            ["chattr", "-R", "-i", "-a", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


@contextlib.contextmanager
def unprivileged_user(prefix: str = "pdt", name: Optional[str] = None) -> Iterator[User]:
    """A real throwaway user (useradd) with an own group and an empty 0755 home; removed afterwards.

    `name` gives a fixed name (recordings use one, so that logs are stable); by default it is unique.
    """
    name = name or f"{prefix}{secrets.token_hex(4)}"
    try:
        yield add_user(name)
    finally:
        remove_user(name)


def add_user(name: str) -> User:
    """useradd a user with an own group and an empty 0755 home under homes_base(); remove_user(name) undoes it
    (scripts/demo --keep leaves one behind on purpose)."""
    if os.geteuid() != 0:
        raise PermissionError("a throwaway user needs root (useradd)")
    home = homes_base() / name
    remove_user(name)
    shutil.rmtree(home, ignore_errors=True)
    _check_run(
        ["useradd", "--no-create-home", "--home-dir", home, "--user-group", "--shell", "/bin/sh", name]
    )
    entry = pwd.getpwnam(name)
    home.mkdir(mode=0o755)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return User(name, entry.pw_uid, entry.pw_gid, home)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """chown -R without following symlinks (a venv's bin/python links to /usr/bin/python3)."""
    os.chown(path, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in dirnames + filenames:
            os.chown(os.path.join(dirpath, entry), uid, gid, follow_symlinks=False)


def run(
    argv: Sequence,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[Path] = None,
    timeout: float = 300,
    mount_setup: Optional[str] = None,
    separate_stderr: bool = False,
) -> subprocess.CompletedProcess:
    """Run argv with env (default pip_env()); result.stdout is stdout and stderr interleaved, as bytes,
    unless separate_stderr keeps them apart (to parse `--json` output, or to compare pip's streams).

    mount_setup: a shell script that root runs first in a new private mount namespace (`unshare -m`);
    argv then runs in that namespace, so its mounts exist for this one command only.
    """
    argv = [str(a) for a in argv]
    if mount_setup:
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-ec",
            mount_setup + '\nexec "$@"',
            "sh",
            *argv,
        ]
    return subprocess.run(
        argv,
        env=pip_env() if env is None else dict(env),
        cwd=str(cwd or "/"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
        timeout=timeout,
    )


def run_as(
    user: User, argv: Sequence, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None, **kwargs
) -> subprocess.CompletedProcess:
    """run() as the user, with its groups from /etc/group; env defaults to pip_env(HOME=user's home)."""
    env = pip_env(HOME=str(user.home)) if env is None else env
    cwd = cwd or (user.home if user.home.is_dir() else "/")
    setpriv = ["setpriv", "--reuid", str(user.uid), "--regid", str(user.gid), "--init-groups", "--"]
    return run(setpriv + list(argv), env=env, cwd=cwd, **kwargs)


def run_as_uid(
    uid: int, gid: int, argv: Sequence, groups: Sequence[int] = (), **kwargs
) -> subprocess.CompletedProcess:
    """run() as a bare uid:gid that needs no passwd entry; no supplementary groups unless given."""
    group_opt = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return run(["setpriv", "--reuid", str(uid), "--regid", str(gid), *group_opt, "--", *argv], **kwargs)


def python_of(venv: Path) -> Path:
    return Path(venv) / "bin" / "python"



# --- a local HTTPS index -------------------------------------------------------------------------------


def self_signed_cert(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """(cert, key) for host, made now by openssl; the cert is world-readable: any user's pip can trust it."""
    cert, key = Path(directory, "cert.pem"), Path(directory, "key.pem")
    _check_run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
                "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
                "-keyout", key, "-out", cert])
    cert.chmod(0o644)
    key.chmod(0o600)
    return cert, key


def write_simple_index(root: Path, dists: Sequence[Path]) -> Path:
    """A PEP 503 simple index of dists under root/simple/, files under root/files/, with PyPI's
    #sha256= fragments; returns root/simple."""
    simple, files = Path(root, "simple"), Path(root, "files")
    projects: dict = {}
    with umask(0o022):
        files.mkdir(parents=True, exist_ok=True)
        for dist in dists:
            shutil.copy(dist, files / dist.name)
            # name-version...: the project is all before the first "-" (wheel and sdist names escape it).
            project = dist.name.split("-")[0].replace("_", "-").replace(".", "-").lower()
            projects.setdefault(project, []).append(dist.name)
        for project, names in projects.items():
            digests = {n: hashlib.sha256((files / n).read_bytes()).hexdigest() for n in names}
            links = "".join(
                f'<a href="../../files/{n}#sha256={digests[n]}">{n}</a><br>\n' for n in sorted(names)
            )
            (simple / project).mkdir(parents=True, exist_ok=True)
            (simple / project / "index.html").write_text(
                f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
        (simple / "index.html").write_text(
            "<!DOCTYPE html>\n<html><body>\n"
            + "".join(f'<a href="{p}/">{p}</a><br>\n' for p in sorted(projects)) + "</body></html>\n")
    return simple


@contextlib.contextmanager
def https_server(root: Path, cert: Path, key: Path, max_age: int = 600, vary: bool = False) -> Iterator[int]:
    """Serve root over HTTPS on 127.0.0.1 (a free port, yielded) from a thread, with the Cache-Control
    a package index sends (PyPI: max-age), so pip's HTTP cache stores the responses.

    vary: also send PyPI's `Vary: Accept-Encoding`, so pip's cache keeps the request's Accept-Encoding
    with each response and serves it only to a request with the same one (cachecontrol serialize.py,
    prepare_response). Off by default: it changes the bytes of every entry the other recordings damage."""
    import http.server
    import ssl
    import threading

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def end_headers(self):
            self.send_header("Cache-Control", f"max-age={max_age}, public")
            if vary:
                self.send_header("Vary", "Accept-Encoding")
            super().end_headers()

        def log_message(self, format, *args):  # noqa: A002 - quiet; the recordings are pip's output only
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

# --- the sandbox on disk (scripts/test says where it is, its size, and removes it with --clean) ---------------


def disk_usage(top: Path) -> int:
    """Bytes allocated below top, as `du -s` counts them: symlinks not followed, other mounts not entered."""
    try:
        device = os.lstat(top).st_dev
    except OSError:
        return 0
    total = 0
    for dirpath, dirnames, filenames in os.walk(top, onerror=lambda error: None):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_blocks * 512
        dirnames[:] = [d for d in dirnames if _same_device(os.path.join(dirpath, d), device)]
    return total + os.lstat(top).st_blocks * 512


def _same_device(path: str, device: int) -> bool:
    try:
        return os.lstat(path).st_dev == device
    except OSError:
        return False


def summary(top: Path = SANDBOX) -> Optional[str]:
    """The line scripts/test ends with: where the sandbox is, its size, how to remove it (None: no sandbox)."""
    if not top.is_dir():
        return None
    return (f"test sandbox: {top} holds {disk_usage(top) / 1e6:.0f} MB (pip venvs, test users' homes); "
            "remove it with scripts/test --clean")


def clean(top: Path = SANDBOX) -> None:
    """Remove the sandbox: the users a crashed run left (their homes are in it), then the tree, immutable
    flags first (a test's chattr +i)."""
    homes = str(top / "homes") + "/"
    for entry in pwd.getpwall():
        if entry.pw_dir.startswith(homes) and os.geteuid() == 0:
            remove_user(entry.pw_name)
    if os.geteuid() == 0:
        chattr_clear(top)
    shutil.rmtree(top, ignore_errors=True)
    if top.exists():
        raise OSError(f"could not remove all of {top}")


if __name__ == "__main__":  # pragma: no cover - a quick manual check: python tests/sandbox.py
    for v in PIP_VERSIONS:
        print(v, pip_venv(v))
    print(pipdoctor_venv())
    sys.exit(0)
