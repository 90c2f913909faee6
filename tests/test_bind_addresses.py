"""A local cluster listens on loopback only: the GCS, the raylet, every worker's core
worker server and the driver's."""

import ipaddress

import psutil
from conftest import cyray_processes

import cyray as ray


def _listening(proc):
    try:
        return [c.laddr for c in proc.net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _is_loopback(ip):
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # gRPC binds ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def test_every_server_binds_loopback(ray_start_shared, actors):
    @ray.remote
    class Actor:
        def ping(self):
            return "pong"

    actor = Actor.remote()
    actors.append(actor)
    assert ray.get(actor.ping.remote(), timeout=30) == "pong"
    procs = cyray_processes() + [psutil.Process()]
    addresses = [(proc.pid, addr) for proc in procs for addr in _listening(proc)]
    # The GCS, the raylet, the driver and at least one worker serve gRPC.
    assert len({pid for pid, _ in addresses}) >= 4, addresses
    exposed = [(pid, addr) for pid, addr in addresses if not _is_loopback(addr.ip)]
    assert not exposed, f"servers reachable beyond loopback: {exposed}"
