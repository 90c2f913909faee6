"""`cyray timeline`, `cyray stack`, `cyray kill-actor`, and the waiting and infeasible
requests that `cyray status -v` adds (Ray's "Pending Demands" / "Infeasible")."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import datetime

from cyray.scripts.cli_util import CliError, add_cluster_options, cluster_address, command

# ---- status -v -----------------------------------------------------------------------


def _shape_text(shape) -> str:
    return repr({name: float(amount) for name, amount in shape})


def _demand_lines(leases):
    """Lines "{shape}: N+ pending tasks/actors (names)" for queued leases. Each caller asks
    for a few leases of a shape at a time and says how many tasks wait behind them, so a
    caller's count is the larger of the two."""
    by_owner = defaultdict(lambda: [0, 0, set()])
    for lease in leases:
        shape = tuple(sorted(lease.shape.items()))
        entry = by_owner[(lease.owner_worker_id, shape)]
        entry[0] += 1
        entry[1] = max(entry[1], lease.backlog_size)
        entry[2].add(lease.task_name or "?")
    by_shape = defaultdict(lambda: [0, set()])
    for (_, shape), (leased, backlog, names) in by_owner.items():
        by_shape[shape][0] += max(leased, backlog)
        by_shape[shape][1] |= names
    return [f"{_shape_text(shape)}: {count}+ pending tasks/actors ({', '.join(sorted(names))})"
            for shape, (count, names) in sorted(by_shape.items())]


def demands_report(address: str, timeout: float = 30) -> str:
    """What `cyray status -v` adds: the requests waiting at each node for resources, and
    those that no alive node can ever fit."""
    from cyray.util.state.source import StateSource

    with StateSource(address, timeout) as source:
        node_stats = source.all_node_stats()
    out = ["", "Pending Demands:"]
    infeasible = []
    for node, stats in node_stats:
        infeasible += [lease for lease in stats.queued_leases if lease.infeasible]
        waiting = [lease for lease in stats.queued_leases if not lease.infeasible]
        if waiting:
            out.append(f" node {node.node_id.hex()[:12]} ({node.node_manager_address}):")
            out += [f"  {line}" for line in _demand_lines(waiting)]
    if len(out) == 2:
        out.append(" (no resource demands)")
    out.append("Infeasible:")
    out += [f" {line}: no alive node has these resources; add a node that has them, or "
            "lower the request" for line in _demand_lines(infeasible)]
    if not infeasible:
        out.append(" (no infeasible requests)")
    return "\n".join(out)


# ---- timeline ------------------------------------------------------------------------

@command("timeline")
def _timeline(args):
    from cyray._private.timeline import timeline_events
    from cyray.scripts.formatting import to_json

    address = cluster_address(args)
    path = args.output or f"timeline-{datetime.now().strftime('%Y-%m-%d_%H-%M-%S')}.json"
    events = timeline_events(address)
    try:
        with open(path, "w") as f:
            f.write(to_json(events))
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror}")
    print(f"Trace file written to {os.path.abspath(path)} ({len(events)} events).")
    print("Open it at https://ui.perfetto.dev (Open trace file), or in Chrome at "
          "chrome://tracing (Load).")


# ---- stack ---------------------------------------------------------------------------

def _local_addresses():
    import psutil

    found = {"127.0.0.1", "localhost"}
    for addresses in psutil.net_if_addrs().values():
        found.update(a.address for a in addresses)
    return found


def _processes(address, timeout):
    """[(pid, what, node)] of the cyray processes of this machine's nodes: workers, drivers
    and the GCS server (Python), and the raylets (native)."""
    import psutil

    from cyray.util.state.source import StateSource

    with StateSource(address, timeout) as source:
        node_stats = source.all_node_stats()
    local = _local_addresses()
    found = []
    mine = [(node, stats) for node, stats in node_stats if node.node_manager_address in local]
    markers = {}
    for node, stats in mine:
        label = f"node {node.node_id.hex()[:12]}"
        for worker in stats.workers:
            if worker.pid and psutil.pid_exists(worker.pid):
                kind = "driver" if worker.is_driver else \
                    "actor worker" if worker.is_actor_worker else "worker"
                found.append((worker.pid, kind, label))
        markers[f"--node-id={node.node_id.hex()}"] = ("raylet", label)
        if node.is_head_node and stats.log_dir:
            markers[os.path.dirname(stats.log_dir)] = ("gcs server", label)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        for marker, (kind, label) in markers.items():
            if marker in cmdline and ("raylet" in cmdline if kind == "raylet"
                                      else "cyray.gcs.server" in cmdline):
                found.append((proc.info["pid"], kind, label))
    return found


@command("stack")
def _stack(args):
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise CliError("py-spy is not installed (no `py-spy` on PATH): install it with "
                       "`pip install py-spy`, then run `cyray stack` again")
    address = cluster_address(args)
    processes = _processes(address, args.timeout)
    if not processes:
        raise CliError(f"no process of the cluster at {address} runs on this machine")
    failed = 0
    for pid, kind, label in processes:
        if kind == "raylet":
            print(f"--- {kind} pid {pid} ({label}): a C++ process, which py-spy cannot dump; "
                  f"try `gdb -p {pid} -batch -ex 'thread apply all bt'`\n")
            continue
        print(f"--- Stack dump of {kind} pid {pid} ({label}) ---", flush=True)
        command_line = [py_spy, "dump", "--pid", str(pid)] + (["--native"] if args.native
                                                               else [])
        try:
            done = subprocess.run(command_line, capture_output=True, text=True,
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            failed += 1
            print(f"py-spy did not answer within {args.timeout} s\n")
            continue
        print(done.stdout.rstrip("\n"))
        if done.returncode != 0:
            failed += 1
            print(f"py-spy failed (exit {done.returncode}): {done.stderr.strip()}")
        print(flush=True)
    if failed:
        raise CliError(f"{failed} of {len(processes)} process(es) could not be dumped (py-spy "
                       "needs the right to trace them: run as their user or as root)")


# ---- kill-actor ----------------------------------------------------------------------

@command("kill-actor")
def _kill_actor(args):
    from cyray.util.state.source import StateSource

    if not args.actor_id and not args.name:
        raise CliError("pass the actor's ID (`cyray list actors` shows them) or --name NAME")
    address = cluster_address(args)
    with StateSource(address, args.timeout) as source:
        actors = source.actors()
        if args.actor_id:
            wanted = args.actor_id.lower()
            found = [a for a in actors if a.actor_id.hex() == wanted]
            what = f"ID {args.actor_id}"
        else:
            found = [a for a in actors if a.name == args.name and a.state != a.DEAD and
                     (args.namespace is None or a.ray_namespace == args.namespace)]
            what = f"name {args.name!r}" + (f" in namespace {args.namespace!r}"
                                              if args.namespace is not None else "")
        if not found:
            raise CliError(f"no actor with {what} in the cluster: `cyray list actors` shows "
                           "them")
        if len(found) > 1:
            raise CliError(f"{len(found)} actors have {what} (in namespaces "
                           f"{', '.join(sorted(a.ray_namespace for a in found))}): pass "
                           "--namespace")
        actor = found[0]
        if actor.state == actor.DEAD:
            print(f"Actor {actor.actor_id.hex()} ({actor.class_name}) is already dead.")
            return
        source.kill_actor(actor.actor_id, force=args.force, no_restart=args.no_restart)
    how = "Killed" if args.force else "Asked to end (after the calls it has received)"
    print(f"{how}: actor {actor.actor_id.hex()} ({actor.class_name}"
          f"{', ' + repr(actor.name) if actor.name else ''}).")


def add_commands(sub) -> None:
    timeline = sub.add_parser("timeline", help="write the cluster's tasks as a Chrome trace "
                              "(Perfetto, chrome://tracing)")
    timeline.add_argument("--output", "-o", help="the file to write (default: "
                          "timeline-<date>_<time>.json in the current directory)")
    add_cluster_options(timeline, timeout=False)
    timeline.set_defaults(func=_timeline)

    stack = sub.add_parser("stack", help="the Python stacks of this machine's cyray "
                           "processes (with py-spy)")
    stack.add_argument("--native", action="store_true",
                       help="with the C/C++ frames of each Python process (py-spy --native)")
    add_cluster_options(stack)
    stack.set_defaults(func=_stack)

    kill = sub.add_parser("kill-actor", help="end an actor, by ID or name")
    kill.add_argument("actor_id", nargs="?", metavar="ACTOR_ID")
    kill.add_argument("--name", help="the name of a named actor (instead of its ID)")
    kill.add_argument("--namespace", help="the named actor's namespace")
    kill.add_argument("--force", action="store_true",
                      help="end it at once (default: after the calls it has received)")
    kill.add_argument("--no-restart", action="store_true",
                      help="with --force: do not restart it even if it may restart")
    add_cluster_options(kill)
    kill.set_defaults(func=_kill_actor)


def status_verbose(args, address) -> None:
    """Prints what `cyray status -v` adds to the node list."""
    if getattr(args, "token", None):
        os.environ["CYRAY_AUTH_TOKEN"] = args.token
    from cyray.util.state.exception import RayStateApiException

    try:
        print(demands_report(address))
    except RayStateApiException as e:
        sys.exit(f"cyray status: {e}")
