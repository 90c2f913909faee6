"""Starts and stops the processes of a local node for `cyray.init()`: the GCS
server (head only) and the raylet, which starts the workers."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import cyray

# Not "cyray": a folder of that name in the current directory would shadow the package.
SESSION_ROOT = os.path.join(tempfile.gettempdir(), "cyray-sessions")
STARTUP_TIMEOUT_S = 30


def raylet_binary():
    path = os.path.join(os.path.dirname(cyray.__file__), "core", "raylet")
    if not os.path.exists(path):
        raise RuntimeError(
            f"the raylet binary is missing at {path}; build cyray first (scripts/build.sh)")
    return path


# How Ray sizes a node's memory (its resource_spec): the object store takes 30% of the
# memory available when the node starts, at most 200 GB (and here at most what /dev/shm has
# free: the store lives there); the `memory` resource is what stays available after it.
OBJECT_STORE_MEMORY_PROPORTION = 0.3
OBJECT_STORE_MAX_MEMORY_BYTES = 200 * 10**9
MIN_OBJECT_STORE_MEMORY = 64 << 20
# Ray refuses to start a node with less memory left for tasks than both of these.
MIN_TASK_MEMORY_BYTES = 100 * 10**6
MIN_TASK_MEMORY_FRACTION = 0.05

# The levels the C++ components and the GCS server know (CYRAY_log_level).
LOG_LEVELS = ("debug", "info", "warning", "error")

_CGROUP_V1_DIR = "/sys/fs/cgroup/memory"
_CGROUP_V2_DIR = "/sys/fs/cgroup"


def _read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _memory_stat(path):
    """{field: bytes} of a cgroup memory.stat file, or None."""
    text = _read_text(path)
    if text is None:
        return None
    stat = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stat[parts[0]] = int(parts[1])
    return stat


def system_memory():
    """Bytes of memory of this machine, or of its cgroup (container) when that is lower."""
    import psutil

    total = psutil.virtual_memory().total
    limit = _read_text(os.path.join(_CGROUP_V1_DIR, "memory.limit_in_bytes"))
    if limit is None:
        limit = _read_text(os.path.join(_CGROUP_V2_DIR, "memory.max"))
    if limit and limit.isdigit():
        return min(total, int(limit))
    return total


def used_memory():
    """Bytes of memory in use, as Ray counts them: the cgroup's working set (its usage
    without the page cache it could drop) when there is a cgroup, else psutil's `used`."""
    import psutil

    stat = _memory_stat(os.path.join(_CGROUP_V1_DIR, "memory.stat"))
    if stat is not None:
        if all(k in stat for k in ("total_rss", "total_cache", "total_inactive_file")):
            return max(0, stat["total_rss"] + stat["total_cache"] - stat["total_inactive_file"])
    else:
        current = _read_text(os.path.join(_CGROUP_V2_DIR, "memory.current"))
        stat = _memory_stat(os.path.join(_CGROUP_V2_DIR, "memory.stat"))
        if current and current.isdigit() and stat and "inactive_file" in stat:
            return max(0, int(current) - stat["inactive_file"])
    return psutil.virtual_memory().used


def available_memory():
    return system_memory() - used_memory()


def default_object_store_memory(available=None):
    """30% of the memory available now (as Ray), at most 200 GB and what /dev/shm has free."""
    if available is None:
        available = available_memory()
    size = min(int(available * OBJECT_STORE_MEMORY_PROPORTION), OBJECT_STORE_MAX_MEMORY_BYTES)
    try:
        size = min(size, shutil.disk_usage("/dev/shm").free)
    except OSError:
        pass
    return max(size, MIN_OBJECT_STORE_MEMORY)


def resolve_memory(memory=None, object_store_memory=None):
    """(memory, object_store_memory) in bytes of the node about to start, each the given
    value or Ray's default: the store as `default_object_store_memory`, and `memory` (the
    resource tasks and actors ask for with memory=...) what is left available after it."""
    available = available_memory()
    if object_store_memory is None:
        object_store_memory = default_object_store_memory(available)
    if memory is None:
        memory = available - object_store_memory
        total = system_memory()
        if memory < MIN_TASK_MEMORY_BYTES and memory < MIN_TASK_MEMORY_FRACTION * total:
            raise ValueError(
                f"After taking into account the object store ({object_store_memory / 1e9:.2f} "
                f"GB), the memory on this node available for tasks and actors "
                f"({memory / 1e9:.2f} GB) is below {MIN_TASK_MEMORY_BYTES / 1e6:.0f} MB and "
                f"{MIN_TASK_MEMORY_FRACTION:.0%} of the total ({total / 1e9:.2f} GB). You can "
                "adjust these settings with cyray.init(memory=<bytes>, "
                "object_store_memory=<bytes>).")
    return int(memory), int(object_store_memory)


def detect_num_gpus():
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


# Every node has the resource "node:<its ip>" (1 unit), the head also this one, as in Ray:
# a task can ask for a little of either to run on that node.
HEAD_NODE_RESOURCE = "node:__internal_head__"
# The label every node carries, set by cyray: its node id in hex. Ray's name, so that
# programs written for Ray select on it unchanged.
NODE_ID_LABEL = "ray.io/node-id"
RESERVED_LABEL_PREFIX = "ray.io/"


def node_resources_with_defaults(resources, node_ip_address, head):
    """`resources` plus the resources every node has: node:<ip>, and on the head
    node:__internal_head__."""
    out = dict(resources)
    out[f"node:{node_ip_address}"] = 1.0
    if head:
        out[HEAD_NODE_RESOURCE] = 1.0
    return out


def check_labels(labels):
    """A copy of `labels` (None: none) after checking it is a dict of str to str that the
    raylet's --labels=k1=v1,k2=v2 flag can carry; ValueError or TypeError otherwise."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise TypeError(f"labels must be a dict of str to str, got {type(labels).__name__}")
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"labels must be a dict of str to str, got {key!r}: {value!r}")
        for what, text in (("key", key), ("value", value)):
            if not text or "," in text or "=" in text:
                raise ValueError(f"label {what} {text!r} is invalid: it must be non-empty "
                                 "and contain neither ',' nor '='")
        if key.startswith(RESERVED_LABEL_PREFIX):
            raise ValueError(f"label key {key!r}: the prefix {RESERVED_LABEL_PREFIX!r} is "
                             "reserved for labels that cyray sets")
    return dict(labels)


def check_system_config(system_config):
    """{CYRAY_<knob>: text} environment of the config knobs in `system_config` (Ray's
    _system_config: {knob name: value}); ValueError for a knob cyray does not have."""
    if not system_config:
        return {}
    if not isinstance(system_config, dict):
        raise TypeError("_system_config must be a dict of config knob names to values")
    from cyray._raylet import config

    known = config()
    env = {}
    for name, value in system_config.items():
        if name not in known:
            raise ValueError(f"_system_config: cyray has no config knob {name!r}; it has "
                             f"{sorted(known)}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[f"CYRAY_{name}"] = str(value)
    return env


def _wait_for_file(path, process, what, timeout=STARTUP_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} during start-up; "
                               f"see its log in {os.path.dirname(path)}/logs")
        time.sleep(0.005)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def _last_error(logs_dir, name):
    """The message of a log file's last ERROR line as ": message" ("" without one), to
    say why a process exited."""
    try:
        with open(os.path.join(logs_dir, name), errors="replace") as f:
            lines = [line.strip() for line in f if " ERROR " in line]
    except OSError:
        return ""
    return f": {lines[-1].split(': ', 1)[-1]}" if lines else ""


class LocalNode:
    """The processes of one node started by this driver (head node with GCS)."""

    def __init__(self, resources, node_ip_address="127.0.0.1", head=True, gcs_address=None,
                 object_store_memory=None, die_with_parent=True, gcs_port=0, log_level=None,
                 auth_token=None, labels=None, node_name=None, system_config=None,
                 include_dashboard=False, dashboard_host="127.0.0.1", dashboard_port=None):
        labels = check_labels(labels)
        if include_dashboard and not head:
            raise ValueError("the dashboard is served by the head node's GCS: start the head "
                             "with it (include_dashboard / --include-dashboard)")
        # The dashboard (served by the GCS; off unless asked): host, port (None: 8265 when
        # free, else a free one; 0: a free one), and once started its "host:port".
        self.include_dashboard = include_dashboard
        self.dashboard_host = dashboard_host
        self.dashboard_port = dashboard_port
        self.dashboard_url = None
        # Config knobs for the processes of this node (environment CYRAY_<knob>).
        self.system_config_env = check_system_config(system_config)
        self.resources = node_resources_with_defaults(resources, node_ip_address, head)
        # The raylet's node name in the GCS (None: its ip address).
        self.node_name = node_name
        # The cluster token: a new one for a head node (256 bits from the OS), the
        # cluster's for a node that joins. Every RPC between cyray processes carries it.
        self.auth_token = auth_token or (new_auth_token() if head else None)
        if not self.auth_token:
            raise ValueError("a node that joins a cluster needs the cluster's token")
        # For the processes started here: "debug", "info", "warning" or "error" (None: the
        # CYRAY_log_level environment variable, or the config knob's default).
        self.log_level = log_level
        # Started by a driver: end with it. Started by `cyray start`: outlive it.
        self.die_with_parent = die_with_parent
        self.gcs_port = gcs_port
        self.object_store_memory = (object_store_memory or resources.get("object_store_memory")
                                    or default_object_store_memory())
        self.node_ip_address = node_ip_address
        self.head = head
        self.gcs_address = gcs_address
        self.node_id = cyray.NodeID.from_random()
        self.labels = {**labels, NODE_ID_LABEL: self.node_id.hex()}
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        os.makedirs(SESSION_ROOT, exist_ok=True)
        prune_old_sessions()
        self.session_dir = tempfile.mkdtemp(prefix=f"session_{stamp}_{os.getpid()}_",
                                            dir=SESSION_ROOT)
        self.logs_dir = os.path.join(self.session_dir, "logs")
        os.makedirs(self.logs_dir)
        self.raylet_socket = os.path.join(self.session_dir, "raylet.sock")
        write_secret(os.path.join(self.session_dir, AUTH_TOKEN_FILE), self.auth_token)
        self.gcs_process = None
        self.raylet_process = None

    def _spawn(self, args, log_name):
        out = open(os.path.join(self.logs_dir, f"{log_name}.out"), "ab")
        err = open(os.path.join(self.logs_dir, f"{log_name}.err"), "ab")
        try:
            # A new session: Ctrl-C in the driver's terminal does not reach them;
            # they end with the driver through --parent-pid instead.
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True, env=self._env())
        finally:
            out.close()
            err.close()

    def _env(self):
        """The environment of the processes started here (the raylet passes it on to its
        workers)."""
        env = dict(os.environ)
        env.update(self.system_config_env)
        env[AUTH_TOKEN_ENV] = self.auth_token
        if self.log_level is not None:
            env["CYRAY_log_level"] = self.log_level
        return env

    def start(self):
        parent = ["--parent-pid", str(os.getpid())] if self.die_with_parent else []
        log_level = self._env().get("CYRAY_log_level", "info").lower()
        if log_level not in LOG_LEVELS:
            log_level = "info"
        gcs_port_file = os.path.join(self.session_dir, "gcs_port")
        dashboard_port_file = os.path.join(self.session_dir, "dashboard_port")
        dashboard = [] if not self.include_dashboard else [
            "--dashboard-host", self.dashboard_host, "--dashboard-port-file", dashboard_port_file,
            "--dashboard-port",
            "auto" if self.dashboard_port is None else str(self.dashboard_port)]
        if self.head:
            self.gcs_process = self._spawn(
                [sys.executable, "-m", "cyray.gcs.server", "--port", str(self.gcs_port),
                 "--host", self.node_ip_address,
                 "--port-file", gcs_port_file, f"--log-level={log_level}", *dashboard, *parent],
                "gcs_server")
        resources = ",".join(f"{k}={v}" for k, v in self.resources.items())
        labels = ",".join(f"{k}={v}" for k, v in self.labels.items())
        ready_file = os.path.join(self.session_dir, "raylet_ready")
        try:
            if self.head:
                try:
                    port = _wait_for_file(gcs_port_file, self.gcs_process, "gcs_server")
                except RuntimeError as e:
                    raise RuntimeError(f"{e}{_last_error(self.logs_dir, 'gcs_server.err')}") \
                        from None
                self.gcs_address = f"{self.node_ip_address}:{port}"
                if self.include_dashboard:
                    from cyray.dashboard import dashboard_url

                    self.dashboard_url = dashboard_url(
                        self.dashboard_host, int(_wait_for_file(
                            dashboard_port_file, self.gcs_process, "gcs_server")),
                        self.node_ip_address)
            self.raylet_process = self._spawn(
                [raylet_binary(), f"--gcs-address={self.gcs_address}",
                 f"--raylet-socket-name={self.raylet_socket}",
                 f"--python-executable={sys.executable}", f"--session-dir={self.session_dir}",
                 f"--node-ip-address={self.node_ip_address}", f"--node-id={self.node_id.hex()}",
                 f"--resources={resources}", f"--labels={labels}",
                 f"--ready-file={ready_file}",
                 *([f"--node-name={self.node_name}"] if self.node_name else []),
                 *(["--parent-pid=" + parent[1]] if parent else []),
                 f"--object-store-memory={self.object_store_memory}"]
                + (["--head"] if self.head else []), "raylet")
            _wait_for_file(ready_file, self.raylet_process, "raylet")
            with open(os.path.join(self.session_dir, GCS_ADDRESS_FILE), "w") as f:
                f.write(self.gcs_address)
            if self.head:
                with open(_latest_address_file(), "w") as f:
                    f.write(self.gcs_address)
        except BaseException:
            self.kill_all()
            raise

    def kill_all(self, timeout=3.0):
        """Ends the raylet (which ends its workers), then the GCS server."""
        stop_processes([self.raylet_process, self.gcs_process], timeout)
        self.raylet_process = self.gcs_process = None

    def remove_session_dir(self):
        shutil.rmtree(self.session_dir, ignore_errors=True)


def stop_processes(procs, timeout=3.0, sig=signal.SIGTERM):
    """Sends `sig` to every subprocess.Popen of `procs` (None entries skipped) that still
    runs, waits up to `timeout` seconds for them all, then SIGKILLs and reaps the rest."""
    procs = [p for p in procs if p is not None]
    for proc in procs:
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


KEEP_OLD_SESSIONS = 10


def prune_old_sessions(keep=KEEP_OLD_SESSIONS):
    """Removes the session dirs of clusters that are gone (their logs kept for the
    `keep` most recent), so killed drivers do not fill the disk."""
    import glob

    import psutil

    dead = []
    for path in glob.glob(os.path.join(SESSION_ROOT, "session_*")):
        parts = os.path.basename(path).split("_")
        try:
            pid = int(parts[3])
        except (IndexError, ValueError):
            continue
        alive = psutil.pid_exists(pid) or os.path.exists(os.path.join(path, "cli_pids.json"))
        if not alive:
            dead.append((os.path.getmtime(path), path))
    for _, path in sorted(dead)[:-keep] if len(dead) > keep else []:
        shutil.rmtree(path, ignore_errors=True)


AUTH_TOKEN_FILE = "auth_token"
AUTH_TOKEN_ENV = "CYRAY_AUTH_TOKEN"
GCS_ADDRESS_FILE = "gcs_address"


def new_auth_token():
    import secrets

    return secrets.token_hex(32)


def write_secret(path, text):
    """Writes `text` to a new file only its owner can read (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def find_auth_token(gcs_address, explicit=None):
    """The token of the cluster at `gcs_address`: `explicit`, else $CYRAY_AUTH_TOKEN, else
    the token file of a session on this machine that belongs to that cluster."""
    if explicit:
        return explicit
    if os.environ.get(AUTH_TOKEN_ENV):
        return os.environ[AUTH_TOKEN_ENV]
    def newest_first(path):
        try:
            return -os.path.getmtime(path)
        except OSError:  # removed meanwhile by another driver
            return 0.0

    for session in sorted(glob.glob(os.path.join(SESSION_ROOT, "session_*")),
                          key=newest_first):
        try:
            with open(os.path.join(session, GCS_ADDRESS_FILE)) as f:
                if f.read().strip() != gcs_address:
                    continue
            with open(os.path.join(session, AUTH_TOKEN_FILE)) as f:
                return f.read().strip()
        except OSError:
            continue
    raise ConnectionError(
        f"no token for the cyray cluster at {gcs_address}: every call to a cluster carries its "
        f"token. On the cluster's head node it is in the session directory "
        f"({SESSION_ROOT}/session_*/{AUTH_TOKEN_FILE}); pass it with "
        f"cyray.init(address=..., _token=...), `--token`, or the {AUTH_TOKEN_ENV} environment "
        "variable.")


def resolve_address(address):
    """"host:port" of the GCS for init(address=...); "auto" means the cluster
    this machine started last."""
    if address == "auto":
        address = os.environ.get("CYRAY_ADDRESS") or _read_latest_address()
        if not address:
            raise ConnectionError(
                "init(address='auto') found no running cluster on this machine; start one "
                "with cyray.init() in another process or pass its GCS address host:port")
    if address.count(":") != 1 or not address.rsplit(":", 1)[1].isdigit():
        raise ValueError(f"init(address={address!r}): expected the GCS address as host:port")
    return address


def _latest_address_file():
    return os.path.join(SESSION_ROOT, "latest_gcs_address")


def _read_latest_address():
    try:
        with open(_latest_address_file()) as f:
            return f.read().strip()
    except OSError:
        return ""


def find_local_node(gcs_address, node_ip_address):
    """(raylet socket, logs dir) of the alive node at `node_ip_address`; the head node
    when several nodes share that address (as in a test cluster on one machine)."""
    from cyray._raylet import GcsClient
    from cyray.protobuf import gcs_service_pb2

    client = GcsClient(gcs_address)
    try:
        client.wait_until_ready(5000)
    except Exception as e:
        raise ConnectionError(f"could not reach a cyray GCS at {gcs_address}: {e}") from None
    matches = []
    for raw in client.get_all_node_info():
        info = gcs_service_pb2.GcsNodeInfo()
        info.ParseFromString(raw)
        if info.state == info.ALIVE and info.node_manager_address == node_ip_address:
            matches.append(info)
    if not matches:
        raise ConnectionError(f"the cluster at {gcs_address} has no alive node at "
                              f"{node_ip_address} to connect this driver to")
    info = max(matches, key=lambda n: n.is_head_node)
    return info.raylet_socket_name, os.path.join(info.session_dir, "logs")
