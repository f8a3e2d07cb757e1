"""Real remote-cache servers for the tests, started on 127.0.0.1 and stopped after.

- ``reapi_server``: BuildGrid (PyPI, in its own venv: it needs Python >= 3.12) serving the
  Remote Execution API over gRPC: ContentAddressableStorage, ActionCache, ByteStream and
  Capabilities, on instance name ``""``.
- ``http_cache_server``: nginx (Debian's nginx-light, WebDAV ``PUT``) serving bazel-remote's
  HTTP protocol: ``GET``/``HEAD``/``PUT`` on ``/ac/<sha256>`` and ``/cas/<sha256>``, also
  below any path prefix (``/<instance>/cas/<sha256>``); a missing key is a 404.

Both are installed by ``scripts/remote-servers`` (``.ci/run`` runs it before the tests). A
server that is not installed fails its fixture with a message naming that script: CI
installs them, so a missing one is an error, never a skip.

tests/conftest.py registers this module as a plugin, so every test can ask for the
fixtures. ``reapi_server`` and ``http_cache_server`` are session-scoped (one process each,
started on first use) and yield a :class:`Server`: ``.url`` (``grpc://127.0.0.1:PORT``,
``http://127.0.0.1:PORT``), ``.instance_name`` (``""``), ``.port``, ``.kill()`` (SIGKILL,
the whole process group), ``.stop()``, ``.start()``, ``.restart()`` (same port),
``.clear()`` (nginx: removes the files; BuildGrid: restarts on empty storage, about 1 s),
``.corrupt(sha256_hex)``, ``.blob_paths(sha256_hex)``, ``.alive()``, ``.logs()``,
``.workdir``. A session server that a test killed or stopped is started again (same
port, same URL) after that test, by the autouse fixture below, so the next test finds it
serving. The servers keep what they store between tests: give each test its own keys,
or call ``.clear()``.
``fresh_reapi_server`` and ``fresh_http_cache_server`` are function-scoped: a private,
empty server for one test, stopped after it. :func:`start_reapi_server` and
:func:`start_http_cache_server` are the context managers behind all of them (other
instance names, BuildGrid with an in-memory CAS, ...).

Where the bytes are (so that a test can corrupt them, which is what ``.corrupt()`` does):

- BuildGrid: a disk CAS (``!disk-storage``) under the server's temp dir, one per instance
  name, the blob of digest ``h`` at ``<dir>/cas-<n>/cas/objects/<h[:2]>/<h[2:]>``;
  BuildGrid never re-hashes what it reads back, so a changed file is served as it is.
  The ActionCache is BuildGrid's in-memory LRU (``!lru-action-cache``): its entries map an
  action digest to an ``ActionResult`` message stored in that CAS, so they are lost when
  the process stops (``restart()`` empties the ActionCache, keeps the CAS files) and an
  entry whose referenced output blobs are missing from the CAS is a miss. With
  ``storage="memory"`` (``!lru-storage``) nothing is on disk and ``corrupt()`` is refused.
- nginx: plain files under ``<dir>/data``, at the request path (``/ac/<h>``,
  ``/cas/<h>``, ``/<instance>/cas/<h>``), written by WebDAV PUT (a temp file renamed
  into place).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = REPO / "scripts" / "remote-servers"
INSTALL_HINT = f"install it with `bash {INSTALL_SCRIPT.relative_to(REPO)}` (.ci/run does)"

START_TIMEOUT = 30.0  # a cold start imports BuildGrid from a cold disk; usually < 1 s
STOP_TIMEOUT = 5.0
LOG_TAIL = 6000  # characters of each log shown when a start fails


class ServerError(RuntimeError):
    """A server that could not be found or started (the message has its logs)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def buildgrid_version() -> str:
    """The BuildGrid version ``scripts/remote-servers`` installs (its one pin)."""
    match = re.search(r"^BUILDGRID_VERSION=(\S+)$", INSTALL_SCRIPT.read_text(), re.MULTILINE)
    assert match, f"no BUILDGRID_VERSION= line in {INSTALL_SCRIPT}"
    return match.group(1)


def buildgrid_venv() -> Path:
    default = REPO / ".cache" / "remote-servers" / "buildgrid"
    return Path(os.environ.get("SODABUILD_BUILDGRID_VENV") or default)


def buildgrid_python() -> Path:
    """BuildGrid's venv's interpreter (it also holds grpcio and BuildGrid's generated
    REAPI modules, ``buildgrid._protos...``: a REAPI client independent of sodabuild's)."""
    venv = buildgrid_venv()
    python = venv / "bin" / "python"
    want = buildgrid_version()
    found = sorted(venv.glob("lib/python3*/site-packages/buildgrid-*.dist-info"))
    versions = [p.name.removeprefix("buildgrid-").removesuffix(".dist-info") for p in found]
    if not python.exists() or not versions:
        raise ServerError(f"BuildGrid is not installed in {venv}: {INSTALL_HINT}")
    if want not in versions:
        raise ServerError(
            f"{venv} holds buildgrid {', '.join(versions)}, not {want}: {INSTALL_HINT}"
        )
    return python


def nginx_binary() -> Path:
    configured = os.environ.get("SODABUILD_NGINX")
    found = configured or shutil.which("nginx")
    if not found and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"  # not on a non-root user's PATH
    if not found or not os.access(found, os.X_OK):
        raise ServerError(f"nginx is not installed: {INSTALL_HINT}")
    return Path(found)


class Server:
    """One server process on 127.0.0.1 (see the module's docstring)."""

    kind = "server"
    scheme = ""

    def __init__(self, workdir: Path, instance_name: str = "") -> None:
        self.workdir = workdir
        self.instance_name = instance_name
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "server.log"
        self.starts = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.alive() else "stopped"
        return f"<{type(self).__name__} {self.url} instance={self.instance_name!r} {state}>"

    # -- to be provided by a kind of server ---------------------------------------------

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _write_config(self) -> None:
        raise NotImplementedError

    def _ready(self) -> bool:
        """True once the server answers (called every few ms until START_TIMEOUT)."""
        raise NotImplementedError

    def _log_files(self) -> list[Path]:
        return [self.log_path]

    def clear(self) -> None:
        """Empty the cache: every blob and every entry."""
        raise NotImplementedError

    def blob_paths(self, sha256_hex: str, kind: str = "cas") -> list[Path]:
        """The files that hold a stored blob (``kind="ac"``: an action's entry)."""
        raise NotImplementedError

    # -- the life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the process (on a free port the first time, on the same port after) and
        wait until it answers."""
        if self.alive():
            return
        fixed_port = self.port != 0
        for attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            logged = {p: p.stat().st_size for p in self._log_files() if p.exists()}
            try:
                self._start_once()
                return
            except ServerError:
                said = "".join(self._read_log(p, logged.get(p, 0)) for p in self._log_files())
                in_use = "in use" in said or "Failed to bind" in said
                if fixed_port or not in_use or attempt == 2:
                    raise
                # another process took the free port between the probe and the bind

    def _start_once(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        command = self._command()
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        if os.access(setpriv, os.X_OK):
            # killed with the test process, even when that one is SIGKILLed (kept across
            # exec): never a server left behind (the signal comes when the thread that
            # started it ends: the fixtures start theirs from pytest's main thread)
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== start {self.starts}: {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches all of it
            )
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise ServerError(self._failure(f"exited with code {code} while starting"))
            try:
                if self._ready():
                    return
            except Exception as error:  # not serving yet (refused, reset, UNAVAILABLE, ...)
                last = f"{type(error).__name__}: {error}"
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(
                    self._failure(f"did not answer within {START_TIMEOUT:.0f} s ({last})")
                )
            time.sleep(0.01)

    @staticmethod
    def _read_log(path: Path, offset: int = 0) -> str:
        if not path.exists():
            return ""
        with open(path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _failure(self, what: str) -> str:
        lines = [f"{self.kind} on {self.url} {what}; its logs:"]
        for path in self._log_files():
            text = path.read_text(errors="replace") if path.exists() else "(no file)"
            lines.append(f"---- {path}\n{text[-LOG_TAIL:]}")
        return "\n".join(lines)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the server (its whole process group): no goodbye to its clients."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self, graceful: bool = True) -> None:
        """Stop the server: SIGTERM, SIGKILL after STOP_TIMEOUT. ``graceful=False``:
        SIGKILL at once, as the fixtures stop theirs (nothing of a test server is worth a
        goodbye, and BuildGrid's graceful stop takes over a second)."""
        if self.process is None:
            return
        if not graceful:
            self.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        self.kill()

    def restart(self) -> None:
        """Stop (if running) and start again on the same port: same URL."""
        self.stop()
        self.start()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self._log_files() if p.exists())

    def corrupt(self, sha256_hex: str, data: bytes | None = None, kind: str = "cas") -> None:
        """Change the stored bytes of a blob (``kind="ac"``: of an action's entry, HTTP
        only): ``data`` replaces them, by default every byte is inverted (same size; an
        empty blob gets one byte). Raises FileNotFoundError when nothing is stored."""
        paths = self.blob_paths(sha256_hex, kind)
        if not paths:
            raise FileNotFoundError(f"{self.kind} on {self.url} stores no {kind} {sha256_hex}")
        for path in paths:
            old = path.read_bytes()
            new = data if data is not None else bytes(b ^ 0xFF for b in old) or b"\0"
            assert new != old, "the corruption would not change the blob"
            path.write_bytes(new)


# -- BuildGrid -----------------------------------------------------------------------------

# Runs `bgd server start` with BuildGrid's own interpreter. BuildGrid validates a config
# against its JSON schema before loading it, which takes 1.5-4 s of the start on 2 cores;
# the config below is always the same shape (test_remote_servers.py lints it with `bgd
# server lint`), so the launcher skips that step. Should a later BuildGrid rename the
# function, the patch is a no-op and validation just runs.
_BUILDGRID_LAUNCHER = """
import sys
import buildgrid.server.app.settings.parser as parser
parser.validate_config_value = lambda data, strict=False, fail_deprecations=False: None
from buildgrid.server.app.cli import cli
sys.argv = ["bgd", "server", "start", *sys.argv[1:]]
cli()
"""

# gRPC's bytes for a GetCapabilitiesRequest (field 1: instance_name)
_CAPABILITIES = "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities"


def _capabilities_request(instance_name: str) -> bytes:
    name = instance_name.encode()
    assert len(name) < 128
    return b"\x0a" + bytes([len(name)]) + name if name else b""


class BuildGridServer(Server):
    """BuildGrid serving REAPI over gRPC (``grpc://127.0.0.1:PORT``).

    ``instance_names``: the instances it serves, each with its own CAS and ActionCache
    (``.instance_name`` is the first). ``storage``: ``"disk"`` (a CAS on disk under the
    temp dir: ``corrupt()`` works) or ``"memory"`` (``!lru-storage``).
    ``max_concurrent_rpcs``: BuildGrid's limit, past which it answers RESOURCE_EXHAUSTED;
    its default (the thread pool's size, 5 per CPU) refuses 8 parallel clients that each
    keep a few lookups in flight, so it is raised: RPCs over ``threads`` wait in a queue.
    """

    kind = "BuildGrid"
    scheme = "grpc"

    def __init__(
        self,
        workdir: Path,
        instance_names: Sequence[str] = ("",),
        *,
        storage: str = "disk",
        threads: int = 16,
        max_concurrent_rpcs: int = 1000,
        max_cached_refs: int = 1_000_000,
    ) -> None:
        assert instance_names, "at least one instance"
        assert storage in ("disk", "memory"), storage
        super().__init__(workdir, instance_names[0])
        self.python = buildgrid_python()
        self.instance_names = tuple(instance_names)
        self.storage = storage
        self.threads = threads
        self.max_concurrent_rpcs = max_concurrent_rpcs
        self.max_cached_refs = max_cached_refs
        self.config_path = workdir / "buildgrid.yml"
        self.pid_path = workdir / "buildgrid.pid"

    def storage_dir(self, instance_name: str | None = None) -> Path:
        """The disk CAS of an instance (default: ``.instance_name``'s)."""
        name = self.instance_name if instance_name is None else instance_name
        return self._storage_dir(self.instance_names.index(name))

    def _storage_dir(self, index: int) -> Path:
        return self.workdir / f"cas-{index}"

    def _write_config(self) -> None:
        lines = [
            "server:",
            "  - !channel",
            f'    address: "127.0.0.1:{self.port}"',
            "    insecure-mode: true",
            # gRPC's default on Linux lets a second server bind the same port: never here
            "grpc-server-options:",
            "  grpc.so_reuseport: 0",
            "authorization:",
            "  method: none",
            f"thread-pool-size: {self.threads}",
            f"maximum-concurrent-rpcs: {self.max_concurrent_rpcs}",
            "storages:",
        ]
        for index in range(len(self.instance_names)):
            if self.storage == "disk":
                lines += [f"  - !disk-storage &cas{index}", f"    path: {self._storage_dir(index)}"]
            else:
                lines += [f"  - !lru-storage &cas{index}", "    size: 2G"]
        lines.append("caches:")
        for index in range(len(self.instance_names)):
            lines += [
                f"  - !lru-action-cache &ac{index}",
                f"    storage: *cas{index}",
                f"    max-cached-refs: {self.max_cached_refs}",
                "    allow-updates: true",
                "    cache-failed-actions: true",
            ]
        lines.append("instances:")
        for index, name in enumerate(self.instance_names):
            lines += [
                f"  - name: {quote_yaml(name)}",
                "    services:",
                "      - !action-cache",
                f"        cache: *ac{index}",
                "      - !cas",
                f"        storage: *cas{index}",
                "      - !bytestream",
                f"        storage: *cas{index}",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _command(self) -> list[str]:
        self.pid_path.unlink(missing_ok=True)
        return [
            str(self.python),
            "-P",  # not the cwd on sys.path
            "-c",
            _BUILDGRID_LAUNCHER,
            "--pid-file",
            str(self.pid_path),
            str(self.config_path),
        ]

    def _ready(self) -> bool:
        # BuildGrid writes its pid file once its gRPC server has started
        if not self.pid_path.exists():
            return False
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        if importlib.util.find_spec("grpc") is None:
            return True
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            call = channel.unary_unary(_CAPABILITIES)
            reply = call(_capabilities_request(self.instance_name), timeout=5)
        return bool(reply)

    def clear(self) -> None:
        """Empty the CAS and the ActionCache. The ActionCache lives in BuildGrid's memory
        and has no RPC to empty it: the server is restarted (about 1 s), same URL."""
        self.stop(graceful=False)
        for index in range(len(self.instance_names)):
            shutil.rmtree(self._storage_dir(index), ignore_errors=True)
        self.start()

    def blob_paths(self, sha256_hex: str, kind: str = "cas") -> list[Path]:
        if self.storage != "disk":
            raise NotImplementedError("BuildGrid with storage='memory' keeps blobs in memory")
        if kind != "cas":
            raise NotImplementedError(
                "BuildGrid's ActionCache is in memory: corrupt the ActionResult's blob instead"
            )
        relative = Path("cas", "objects", sha256_hex[:2], sha256_hex[2:])
        candidates = (self._storage_dir(i) / relative for i in range(len(self.instance_names)))
        return [path for path in candidates if path.exists()]


def quote_yaml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- nginx ---------------------------------------------------------------------------------

_NGINX_CONF = """\
# bazel-remote's HTTP cache protocol over nginx's WebDAV PUT (tests/remote_servers.py)
daemon off;
master_process off;  # one process: SIGKILL leaves no worker serving behind
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log {dir}/access.log;
    log_not_found off;  # a miss is no error
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    default_type application/octet-stream;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    sendfile on;
    tcp_nodelay on;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/data;
        # /ac/<sha256>, /cas/<sha256>, below any prefix (an instance name, a URL's path)
        location ~ "^(/[^/]+)*/(ac|cas)/[0-9a-f]{{64}}$" {{
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


class NginxServer(Server):
    """nginx serving bazel-remote's HTTP protocol (``http://127.0.0.1:PORT``). Clients put
    ``/<instance_name>`` before ``/ac/`` and ``/cas/`` when ``.instance_name`` is set;
    every prefix is served (as bazel-remote does), each its own namespace."""

    kind = "nginx"
    scheme = "http"

    def __init__(self, workdir: Path, instance_name: str = "") -> None:
        super().__init__(workdir, instance_name)
        self.nginx = nginx_binary()
        self.config_path = workdir / "nginx.conf"
        self.data = workdir / "data"

    def _write_config(self) -> None:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        text = _NGINX_CONF.format(dir=self.workdir, port=self.port)
        self.config_path.write_text(text)

    def _command(self) -> list[str]:
        return [
            str(self.nginx),
            "-p",
            str(self.workdir),
            "-e",
            str(self.workdir / "error.log"),
            "-c",
            str(self.config_path),
        ]

    def _log_files(self) -> list[Path]:
        return [self.log_path, self.workdir / "error.log"]

    def _ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("HEAD", "/cas/" + "0" * 64)
            return connection.getresponse().status == 404
        finally:
            connection.close()

    def clear(self) -> None:
        """Remove every stored file (no restart needed)."""
        if self.data.exists():
            doomed = self.workdir / f"data.cleared.{time.monotonic_ns()}"
            self.data.rename(doomed)  # at once: a request never sees half a tree
            self.data.mkdir()
            shutil.rmtree(doomed, ignore_errors=True)

    def blob_paths(self, sha256_hex: str, kind: str = "cas") -> list[Path]:
        assert kind in ("ac", "cas"), kind
        if not self.data.exists():
            return []
        return sorted(p for p in self.data.rglob(sha256_hex) if p.parent.name == kind)


# -- starting them -------------------------------------------------------------------------


@contextlib.contextmanager
def start_reapi_server(
    workdir: Path | None = None, instance_names: Sequence[str] = ("",), **options: Any
) -> Iterator[BuildGridServer]:
    """A BuildGrid server for the ``with`` block (in a temp dir unless ``workdir``);
    ``options``: BuildGridServer's (storage, threads, max_concurrent_rpcs, ...)."""
    with _workdir(workdir, "buildgrid-") as where:
        server = BuildGridServer(where, instance_names, **options)
        try:
            server.start()
            yield server
        finally:
            server.stop(graceful=False)


@contextlib.contextmanager
def start_http_cache_server(
    workdir: Path | None = None, instance_name: str = ""
) -> Iterator[NginxServer]:
    """An nginx server for the ``with`` block (in a temp dir unless ``workdir``)."""
    with _workdir(workdir, "nginx-") as where:
        server = NginxServer(where, instance_name)
        try:
            server.start()
            yield server
        finally:
            server.stop(graceful=False)


@contextlib.contextmanager
def _workdir(workdir: Path | None, prefix: str) -> Iterator[Path]:
    if workdir is not None:
        yield workdir
        return
    # short paths: nginx and BuildGrid logs name them; /tmp rather than pytest's basetemp
    # so that a kept basetemp does not keep server data
    with tempfile.TemporaryDirectory(prefix=f"sodabuild-{prefix}") as where:
        yield Path(where)


# -- pytest fixtures -----------------------------------------------------------------------

S = TypeVar("S", bound=Server)

# the servers the fixtures started, to start again after a test that killed or stopped one
_running_servers: list[Server] = []


def _serve(starter: contextlib.AbstractContextManager[S]) -> Iterator[S]:
    with contextlib.ExitStack() as stack:
        failure = ""
        try:
            server = stack.enter_context(starter)
        except ServerError as error:
            failure = str(error)
        if failure:  # failed, not skipped: CI installs the servers
            pytest.fail(failure, pytrace=False)
        _running_servers.append(server)
        try:
            yield server
        finally:
            _running_servers.remove(server)


# the session servers, by fixture name: one process each even where a test module also
# binds the fixture (``reapi_server = remote_servers.reapi_server``), which pytest treats
# as a second session fixture of its own
_session: dict[str, Server] = {}


def _session_server(
    name: str, starter: Callable[[], contextlib.AbstractContextManager[S]]
) -> Iterator[S]:
    if name in _session:
        yield _session[name]  # type: ignore[misc]
        return
    for server in _serve(starter()):
        _session[name] = server
        try:
            yield server
        finally:
            del _session[name]


@pytest.fixture(scope="session")
def reapi_server() -> Iterator[BuildGridServer]:
    """BuildGrid on 127.0.0.1 for the session: REAPI over gRPC, instance name ``""``."""
    yield from _session_server("reapi_server", start_reapi_server)


@pytest.fixture(scope="session")
def http_cache_server() -> Iterator[NginxServer]:
    """nginx on 127.0.0.1 for the session: bazel-remote's HTTP protocol."""
    yield from _session_server("http_cache_server", start_http_cache_server)


@pytest.fixture
def fresh_reapi_server() -> Iterator[BuildGridServer]:
    """A private, empty BuildGrid for one test (about 1 s to start)."""
    yield from _serve(start_reapi_server())


@pytest.fixture
def fresh_http_cache_server() -> Iterator[NginxServer]:
    """A private, empty nginx for one test (a few ms to start)."""
    yield from _serve(start_http_cache_server())


@pytest.fixture(autouse=True)
def _revive_remote_servers() -> Iterator[None]:
    """After each test: start again, on the same URL, a session server that the test
    killed or stopped (costs nothing when none is running)."""
    yield
    failures = []
    for server in list(_running_servers):
        if not server.alive():
            try:
                server.start()
            except ServerError as error:
                failures.append(str(error))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


if __name__ == "__main__":  # a manual check: start both, print their URLs, stop on Enter
    with start_reapi_server() as grpc_server, start_http_cache_server() as http_server:
        print(grpc_server, grpc_server.workdir, http_server, http_server.workdir, sep="\n")
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input("serving; Enter stops them\n")
    sys.exit(0)
