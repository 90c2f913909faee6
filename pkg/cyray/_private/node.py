"""Starts and stops the processes of a local node for `cyray.init()`: the GCS
server (head only) and the raylet, which starts the workers."""

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


def default_object_store_memory():
    """30% of the machine's memory (as Ray), at most what /dev/shm has free."""
    import psutil

    size = int(psutil.virtual_memory().total * 0.3)
    try:
        size = min(size, shutil.disk_usage("/dev/shm").free)
    except OSError:
        pass
    return max(size, 64 << 20)


def detect_num_gpus():
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


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


class LocalNode:
    """The processes of one node started by this driver (head node with GCS)."""

    def __init__(self, resources, node_ip_address="127.0.0.1", head=True, gcs_address=None,
                 object_store_memory=None, die_with_parent=True, gcs_port=0):
        self.resources = resources
        # Started by a driver: end with it. Started by `cyray start`: outlive it.
        self.die_with_parent = die_with_parent
        self.gcs_port = gcs_port
        self.object_store_memory = object_store_memory or default_object_store_memory()
        self.node_ip_address = node_ip_address
        self.head = head
        self.gcs_address = gcs_address
        self.node_id = cyray.NodeID.from_random()
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        os.makedirs(SESSION_ROOT, exist_ok=True)
        prune_old_sessions()
        self.session_dir = tempfile.mkdtemp(prefix=f"session_{stamp}_{os.getpid()}_",
                                            dir=SESSION_ROOT)
        self.logs_dir = os.path.join(self.session_dir, "logs")
        os.makedirs(self.logs_dir)
        self.raylet_socket = os.path.join(self.session_dir, "raylet.sock")
        self.gcs_process = None
        self.raylet_process = None

    def _spawn(self, args, log_name):
        out = open(os.path.join(self.logs_dir, f"{log_name}.out"), "ab")
        err = open(os.path.join(self.logs_dir, f"{log_name}.err"), "ab")
        try:
            # A new session: Ctrl-C in the driver's terminal does not reach them;
            # they end with the driver through --parent-pid instead.
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
        finally:
            out.close()
            err.close()

    def start(self):
        parent = ["--parent-pid", str(os.getpid())] if self.die_with_parent else []
        gcs_port_file = os.path.join(self.session_dir, "gcs_port")
        if self.head:
            self.gcs_process = self._spawn(
                [sys.executable, "-m", "cyray.gcs.server", "--port", str(self.gcs_port),
                 "--port-file", gcs_port_file, *parent], "gcs_server")
        resources = ",".join(f"{k}={v}" for k, v in self.resources.items())
        ready_file = os.path.join(self.session_dir, "raylet_ready")
        try:
            if self.head:
                port = _wait_for_file(gcs_port_file, self.gcs_process, "gcs_server")
                self.gcs_address = f"{self.node_ip_address}:{port}"
            self.raylet_process = self._spawn(
                [raylet_binary(), f"--gcs-address={self.gcs_address}",
                 f"--raylet-socket-name={self.raylet_socket}",
                 f"--python-executable={sys.executable}", f"--session-dir={self.session_dir}",
                 f"--node-ip-address={self.node_ip_address}", f"--node-id={self.node_id.hex()}",
                 f"--resources={resources}", f"--ready-file={ready_file}",
                 *(["--parent-pid=" + parent[1]] if parent else []),
                 f"--object-store-memory={self.object_store_memory}"]
                + (["--head"] if self.head else []), "raylet")
            _wait_for_file(ready_file, self.raylet_process, "raylet")
            if self.head:
                with open(_latest_address_file(), "w") as f:
                    f.write(self.gcs_address)
        except BaseException:
            self.kill_all()
            raise

    def kill_all(self, timeout=3.0):
        """Ends the raylet (which ends its workers), then the GCS server."""
        for proc in (self.raylet_process, self.gcs_process):
            if proc is not None and proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in (self.raylet_process, self.gcs_process):
            if proc is None:
                continue
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.raylet_process = self.gcs_process = None

    def remove_session_dir(self):
        shutil.rmtree(self.session_dir, ignore_errors=True)


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
    """(raylet socket, logs dir) of the alive node at `node_ip_address`."""
    from cyray._raylet import GcsClient
    from cyray.protobuf import gcs_service_pb2

    client = GcsClient(gcs_address)
    try:
        client.wait_until_ready(5000)
    except Exception as e:
        raise ConnectionError(f"could not reach a cyray GCS at {gcs_address}: {e}") from None
    for raw in client.get_all_node_info():
        info = gcs_service_pb2.GcsNodeInfo()
        info.ParseFromString(raw)
        if info.state == info.ALIVE and info.node_manager_address == node_ip_address:
            return info.raylet_socket_name, os.path.join(info.session_dir, "logs")
    raise ConnectionError(f"the cluster at {gcs_address} has no alive node at "
                          f"{node_ip_address} to connect this driver to")
