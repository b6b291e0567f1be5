"""A small fleet on one machine for the Ansible collection's test: managed hosts reached over real SSH.

Each host is Debian's sshd (`sshd -D -f CONFIG`) on its own loopback address 127.0.0.N, in its own private
mount namespace (`unshare -m`) where its own /etc (a copy of the machine's with the host's own passwd, group
and shadow; read-only), /home, /root, /opt (pipdoctor's venv) and /var/lib (root's journal store) are bound in
from the host's directory, then / is remounted read-only (the seal of tests/sealed.py: pipdoctor runs there as
root on planted, attacker-made state). So a user exists on
one host only, and what a playbook changes lands in that host's directory. The control node is
ansible-core from the wheelhouse, in a venv of the test sandbox, installed offline once and reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

from tests import checkkit, fixkit, sandbox


COLLECTIONS = sandbox.REPO / "collections"
COLLECTION = COLLECTIONS / "ansible_collections" / "pipdoctor" / "fleet"
SSHD = Path("/usr/sbin/sshd")
SHELL = "/bin/sh"


def ansible_venv() -> Path:
    """A venv with ansible-core (the control node), built once from the wheelhouse and then reused."""
    pins = [f"{name}=={version}" for name, version in sandbox.ANSIBLE_WHEELS.items()]
    path = sandbox._sandbox_root() / "venvs" / f"ansible-core-{sandbox.ANSIBLE_WHEELS['ansible-core']}"
    if (path / sandbox._VENV_READY).exists():
        return path
    with sandbox.umask(0o022), sandbox.exclusive_lock(sandbox.SANDBOX / "venvs" / ".lock"):
        if not (path / sandbox._VENV_READY).exists():
            packaging = f"packaging=={sandbox.PIPDOCTOR_DEPS['packaging']}"
            sandbox.new_venv(path, sandbox.PIP_VERSIONS[-1], *pins, packaging)
    return path


def pipdoctor_wheel(dest: Path) -> Path:
    """pipdoctor's wheel built from this checkout (offline: the wheelhouse has the build backend)."""
    venv = sandbox.pipdoctor_venv()  # the same source, so the same version as the tests' pipdoctor
    src = dest / "src"
    shutil.copytree(sandbox.REPO, src, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "build", "dist", "tests", "scripts",
                                                  "collections", "__pycache__", "*.egg-info"))
    argv = [venv / "bin" / "python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--find-links",
            sandbox.wheelhouse(), "--wheel-dir", dest, src]
    sandbox._check_run(argv, env=sandbox.pip_env(HOME=str(dest)))
    (wheel,) = dest.glob("pipdoctor-*.whl")
    return wheel


@dataclass
class Account:
    """A user that exists on one host only (its line in that host's passwd), home under the host's /home."""

    name: str
    uid: int
    gid: int
    host_home: Path  # where the home is on the machine (the host sees /home/NAME)

    @property
    def home(self) -> str:
        return f"/home/{self.name}"


@dataclass
class Host:
    name: str
    address: str
    port: int
    root: Path  # the host's directory: etc/, home/, root/, opt/, varlib/, ssh/
    accounts: list = field(default_factory=list)
    process: Optional[subprocess.Popen] = None

    @property
    def store(self) -> Path:
        """Root's journal store of this host, as the machine sees it."""
        return self.root / "varlib" / "pipdoctor"

    def add_account(self, name: str, uid: int) -> Account:
        home = self.root / "home" / name
        home.mkdir(mode=0o755)
        os.chown(home, uid, uid)
        for table, line in (("passwd", f"{name}:x:{uid}:{uid}::/home/{name}:{SHELL}"),
                            ("group", f"{name}:x:{uid}:"), ("shadow", f"{name}:*:19000:0:99999:7:::")):
            with open(self.root / "etc" / table, "a") as out:
                out.write(line + "\n")
        account = Account(name, uid, uid, home)
        self.accounts.append(account)
        return account

    def mount_setup(self) -> str:
        """The host's namespace: its own files bound in, then / read-only (tests/sealed.py's seal)."""
        q = lambda path: shlex.quote(str(path))  # noqa: E731
        # The whole /etc, not its passwd alone: useradd on the machine (other tests) renames a new passwd over
        # the old one, and since Linux 3.18 that detaches a bind on the file in every other namespace.
        lines = [f"mount --bind {q(self.root / d)} {target}" for d, target in
                 (("etc", "/etc"), ("home", "/home"), ("rootdir", "/root"), ("opt", "/opt"), ("varlib", "/var/lib"))]
        lines.append("mount -o remount,bind,ro /etc")
        lines += ["mount -t tmpfs -o mode=1777 tmpfs /tmp", "mount -t tmpfs -o mode=0755 tmpfs /run",
                  "mkdir -m 0755 /run/sshd", "mount -o remount,bind,ro /"]
        return "\n".join(lines)

    def start(self) -> None:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                self.mount_setup() + '\nexec "$@"', "sh", SSHD, "-D", "-e", "-f", self.root / "ssh" / "sshd_config"]
        with open(self.root / "sshd.log", "ab") as log:
            self.process = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=sandbox.pip_env(), start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd of {self.name} exited {self.process.returncode}:\n{self.log()}")
            with socket.socket() as probe:
                probe.settimeout(0.2)
                if probe.connect_ex((self.address, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"sshd of {self.name} does not listen on {self.address}:{self.port}:\n{self.log()}")

    def stop(self) -> None:
        """Kill every process of the host (its sshd, and the sessions, which leave its process group), as a
        host that goes down: an open connection (ansible's ssh ControlPersist) dies with it."""
        if not self.process or self.process.poll() is not None:
            return
        namespace = os.readlink(f"/proc/{self.process.pid}/ns/mnt")
        if namespace == os.readlink("/proc/self/ns/mnt"):  # never: start() waited for sshd, in its own namespace
            raise RuntimeError(f"{self.name}'s sshd shares the test's mount namespace; not killing it")
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                if os.readlink(f"/proc/{pid}/ns/mnt") == namespace:
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass  # gone meanwhile, or not ours to look at (the machine's init)
        self.process.wait(timeout=10)

    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run(self, argv: Sequence, uid: Optional[int] = None, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        """Run argv inside the host (its mount namespace, so its users and files), as root or as uid."""
        if uid is not None:
            argv = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--init-groups", "--", *argv]
        return sandbox.run(["nsenter", "--target", str(self.process.pid), "--mount", "--", *argv], env=env)


def free_port(addresses: Sequence[str]) -> int:
    """One TCP port free on every address (the hosts share it, as real hosts all listen on 22)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for address in addresses:
                with socket.socket() as s:
                    s.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port on the fleet's addresses")


def system_tables() -> dict:
    """The machine's passwd/group/shadow lines of system accounts only (uid/gid < 1000 and nobody), root's
    with no password (`*`, not locked: sshd refuses a locked account a key login): a host starts with no
    regular user (others' tests add theirs to the real files)."""
    tables = {}
    for table in ("passwd", "group", "shadow"):
        lines = Path("/etc", table).read_text().splitlines()
        if table == "shadow":
            system = {line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines()
                      if int(line.split(":")[2]) < 1000 or line.startswith("nobody:")}
            kept = [line for line in lines if line.split(":")[0] in system]
            kept = [("root:*:" + line.split(":", 2)[2]) if line.startswith("root:") else line for line in kept]
        else:
            kept = [line for line in lines
                    if int(line.split(":")[2]) < 1000 or line.split(":")[0] in ("nobody", "nogroup")]
        tables[table] = "\n".join(kept) + "\n"
    return tables


def copy_etc(dest: Path) -> None:
    """A copy of the machine's /etc (owners and modes kept); a file that vanishes meanwhile (useradd's
    locks and backups, made and removed by other tests) is no error."""
    proc = subprocess.run(["cp", "-a", "/etc", str(dest)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    errors = [line for line in proc.stdout.splitlines() if not line.endswith("No such file or directory")]
    if proc.returncode != 0 and errors:
        raise RuntimeError(f"cp -a /etc {dest} exited {proc.returncode}:\n{proc.stdout}")


def make_host(base: Path, name: str, address: str, port: int, client_key: Path) -> Host:
    root = base / name
    for sub in ("home", "rootdir", "opt", "varlib", "ssh"):
        (root / sub).mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    copy_etc(root / "etc")
    (root / "rootdir").chmod(0o700)
    for table, text in system_tables().items():
        (root / "etc" / table).write_text(text)
    (root / "etc" / "shadow").chmod(0o640)
    ssh = root / "ssh"
    sandbox._check_run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh / "host_key"])
    shutil.copy(client_key.with_suffix(".pub"), ssh / "authorized_keys")
    (ssh / "sshd_config").write_text(
        f"ListenAddress {address}:{port}\n"
        f"HostKey {ssh / 'host_key'}\n"
        f"AuthorizedKeysFile {ssh / 'authorized_keys'}\n"
        "PidFile none\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\nLogLevel ERROR\n"
        "Subsystem sftp internal-sftp\n"
    )
    return Host(name, address, port, root)


def client_key(base: Path) -> Path:
    key = base / "id_ed25519"
    sandbox._check_run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    return key


def write_inventory(path: Path, hosts: Sequence[Host], key: Path) -> Path:
    lines = ["[fleet]"]
    for host in hosts:
        lines.append(f"{host.name} ansible_host={host.address} ansible_port={host.port}")
    lines += ["", "[fleet:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={key}",
              "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
              "-o ConnectTimeout=5'",
              "ansible_python_interpreter=/usr/bin/python3", ""]
    path.write_text("\n".join(lines))
    return path


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def recap(self, host: str) -> dict:
        """The PLAY RECAP counters of a host (ok, changed, unreachable, failed, ...)."""
        for line in self.output.splitlines():
            parts = line.split()
            if parts and parts[0] == host and ":" in line and "ok=" in line:
                return {k: int(v) for k, v in (p.split("=") for p in parts[2:])}
        raise AssertionError(f"no recap for {host}:\n{self.output}")


def ansible_env(home: Path) -> dict:
    return sandbox.pip_env(
        HOME=str(home),
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_LOCAL_TEMP=str(home / ".ansible-tmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(home / "cp"),
        ANSIBLE_PIPELINING="True",
        ANSIBLE_CONFIG=str(home / "ansible.cfg"),  # an empty one: no /etc/ansible/ansible.cfg of the machine
        LC_ALL="C.UTF-8",
    )


def playbook_argv(home: Path, inventory: Path, name: str, *args: str) -> list:
    """ansible-playbook of one of the collection's playbooks (pipdoctor.fleet.NAME), to run with ansible_env(home)."""
    (home / "ansible.cfg").touch()
    return [str(a) for a in (ansible_venv() / "bin" / "ansible-playbook", "-i", inventory, f"pipdoctor.fleet.{name}",
                             *args)]


def playbook(home: Path, inventory: Path, name: str, *args: str, timeout: float = 300) -> PlaybookRun:
    """Run a playbook to its end: its exit status, stdout and stderr."""
    proc = sandbox.run(playbook_argv(home, inventory, name, *args), env=ansible_env(home), cwd=home, timeout=timeout)
    return PlaybookRun(proc.returncode, proc.stdout.decode("utf-8", "replace"))


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def run_module(name: str, args: dict, scratch: Path, check_mode: bool = False, env: Optional[dict] = None,
               mount_setup: Optional[str] = None) -> tuple:
    """Run one of the collection's modules as Ansible does on a node (its arguments in a JSON file, the
    result on stdout) with the control node's Python: (exit status, result)."""
    args_file = scratch / f"{name}-args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}}))
    env = dict(sandbox.pip_env() if env is None else env, PYTHONPATH=str(COLLECTIONS))
    argv = [ansible_venv() / "bin" / "python", COLLECTION / "plugins" / "modules" / f"{name}.py", args_file]
    proc = sandbox.run(argv, env=env, separate_stderr=True, mount_setup=mount_setup)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"{name} printed no JSON (exit {proc.returncode}):\n{proc.stdout!r}\n{proc.stderr!r}")


class Fleet:
    """Hosts made, planted, started and with pipdoctor installed by the collection's role (running_fleet)."""

    def __init__(self, base: Path, addresses: Mapping[str, str]):
        self.base = base
        self.control = base / "control"  # the control node's HOME and working dir
        self.control.mkdir()
        self.key = client_key(base)
        port = free_port(list(addresses.values()))
        self.hosts = {name: make_host(base, name, address, port, self.key) for name, address in addresses.items()}
        self.inventory = write_inventory(base / "inventory.ini", list(self.hosts.values()), self.key)
        self.caches = {}  # (host, account) -> the account's cache as the machine sees it
        self.planted = {}  # (host, account) -> the cache's listing when planted (owners, inodes)

    def plant(self, spec: Mapping[str, Mapping[str, Optional[str]]], uid_base: int = 62000) -> None:
        """spec: {host: {account: who owns part of its cache}}: None (nobody else: healthy), "root" (wheels/
        root's, as after `sudo pip install`) or another account of the host (http-v2/ theirs)."""
        uid = uid_base
        for host_name, accounts in spec.items():
            host = self.hosts[host_name]
            made = {}
            for name in accounts:
                uid += 1
                made[name] = host.add_account(name, uid)
                user = sandbox.User(name, uid, uid, made[name].host_home)
                self.caches[host_name, name] = checkkit.new_user_cache(user, files=30)
            for name, intruder in accounts.items():
                if intruder == "root":
                    sandbox.chown_tree(self.caches[host_name, name] / "wheels", 0, 0)
                elif intruder:
                    other = made[intruder]
                    sandbox.chown_tree(self.caches[host_name, name] / "http-v2", other.uid, other.gid)
            for name in accounts:
                self.planted[host_name, name] = fixkit.listing(self.caches[host_name, name])

    def install(self) -> None:
        """pipdoctor's wheel (this checkout) and its dependencies' wheels, through the role pipdoctor.fleet.install."""
        wheelhouse = self.base / "wheels"
        wheelhouse.mkdir()
        pipdoctor_wheel(wheelhouse)
        for name, version in sandbox.PIPDOCTOR_DEPS.items():
            shutil.copy(sandbox.wheel_file(name, version), wheelhouse)
        run = self.playbook("install", "-e", f"pipdoctor_wheelhouse={wheelhouse}")
        if run.returncode != 0:
            raise RuntimeError(f"the install playbook exited {run.returncode}:\n{run.output}")

    def playbook(self, name: str, *args: str) -> PlaybookRun:
        return playbook(self.control, self.inventory, name, "-e", "pipdoctor_become=false", *args)

    def playbook_watched(self, name: str, *args: str, on_line, timeout: float = 300) -> PlaybookRun:
        """Run a playbook and call on_line(line) with each line of its output as it comes (to act mid-run)."""
        argv = playbook_argv(self.control, self.inventory, name, "-e", "pipdoctor_become=false", *args)
        lines = []
        with subprocess.Popen(argv, env=ansible_env(self.control), cwd=self.control, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
            for line in proc.stdout:
                lines.append(line)
                on_line(line)
            proc.wait(timeout=timeout)
        return PlaybookRun(proc.returncode, "".join(lines))

    def ansible_argv(self, *args: str) -> list:
        """An ad-hoc `ansible` command against the fleet, with ansible_env(self.control)."""
        (self.control / "ansible.cfg").touch()
        return [str(ansible_venv() / "bin" / "ansible"), "-i", str(self.inventory), *args]

    def listings(self) -> dict:
        return {key: fixkit.listing(cache) for key, cache in self.caches.items()}


@contextlib.contextmanager
def running_fleet(spec: Mapping[str, Mapping[str, Optional[str]]], addresses: Mapping[str, str]) -> Iterator[Fleet]:
    """A fleet of sshd hosts with the planted accounts and pipdoctor installed; torn down afterwards."""
    ansible_venv()
    base = sandbox._sandbox_root() / f"fleet-{secrets.token_hex(4)}"
    with sandbox.umask(0o022):
        base.mkdir()
    fleet = None
    try:
        fleet = Fleet(base, addresses)
        fleet.plant(spec)
        for host in fleet.hosts.values():
            host.start()
        fleet.install()
        yield fleet
    finally:
        for host in fleet.hosts.values() if fleet else ():
            host.stop()
        shutil.rmtree(base, ignore_errors=True)
