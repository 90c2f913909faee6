"""The `cyray` command: start, stop and inspect clusters that outlive one driver.

    cyray start --head [--num-cpus N] [--num-gpus N] [--resources '{"x": 1}'] [--port P]
                [--memory BYTES] [--object-store-memory BYTES] [--labels '{"zone": "a"}']
    cyray start --address HOST:PORT     # another raylet joining that cluster
    cyray start --head --include-dashboard [--dashboard-host H] [--dashboard-port P]
    cyray status [--address HOST:PORT] [-v]   # -v: also waiting and infeasible requests
    cyray stop

What the cluster is doing (Ray's state CLI; each takes --address HOST:PORT):

    cyray list tasks|actors|objects|nodes|workers|jobs|placement-groups
               [--filter "key=value"|"key!=value"]... [--limit N] [--detail]
               [--format default|json|yaml|table]
    cyray get RESOURCE ID             cyray summary tasks|actors|objects
    cyray memory [--group-by ...] [--sort-by ...] [--units B|KB|MB|GB] [--stats-only]
    cyray logs [GLOB | actor --id ID | task --id ID | worker --pid PID] [-f] [--tail N] [--err]
    cyray timeline [--output FILE]    cyray stack    cyray kill-actor ACTOR_ID [--force]
"""

import argparse
import glob
import json
import os
import shutil
import signal
import sys

PIDS_FILE = "cli_pids.json"


def parse_labels(text):
    """The node labels of `cyray start --labels`: a JSON object of strings (as older Ray
    releases take), or key=value pairs separated by commas (as newer ones do)."""
    from cyray._private.node import check_labels

    if not text:
        return {}
    if text.lstrip().startswith("{"):
        try:
            labels = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--labels is not valid JSON: {e}") from None
    else:
        labels = {}
        for pair in text.split(","):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"--labels: expected key=value, got {pair!r}")
            labels[key.strip()] = value.strip()
    try:
        return check_labels(labels)
    except TypeError as e:
        raise ValueError(f"--labels: {e}") from None


def _start(args):
    from cyray._private.node import LocalNode, resolve_address
    from cyray._private.worker import _node_resources

    if not args.head and not args.address:
        sys.exit("cyray start: pass --head to start a new cluster, or --address HOST:PORT "
                 "to join one")
    if not args.head and args.include_dashboard:
        sys.exit("cyray start: --include-dashboard goes with --head: the dashboard is served "
                 "by the head node's GCS")
    from cyray._private.node import find_auth_token
    from cyray._raylet import set_cluster_token

    resources = json.loads(args.resources) if args.resources else None
    try:
        labels = parse_labels(args.labels)
    except ValueError as e:
        sys.exit(f"cyray start: {e}")
    gcs_address = None if args.head else resolve_address(args.address)
    token = args.token if args.head else find_auth_token(gcs_address, args.token)
    set_cluster_token(token or "")
    node = LocalNode(_node_resources(args.num_cpus, args.num_gpus, resources, args.memory,
                                     args.object_store_memory),
                     head=args.head,
                     gcs_address=gcs_address,
                     object_store_memory=args.object_store_memory, die_with_parent=False,
                     gcs_port=args.port, node_ip_address=args.node_ip_address, auth_token=token,
                     labels=labels, node_name=args.node_name,
                     include_dashboard=args.include_dashboard,
                     dashboard_host=args.dashboard_host, dashboard_port=args.dashboard_port)
    node.start()
    pids = [p.pid for p in (node.gcs_process, node.raylet_process) if p is not None]
    with open(os.path.join(node.session_dir, PIDS_FILE), "w") as f:
        json.dump(pids, f)
    print(f"cyray started: node {node.node_id.hex()[:12]} in {node.session_dir}")
    print(f"  GCS address: {node.gcs_address}")
    print(f"  connect a driver with cyray.init(address='{node.gcs_address}') "
          "or cyray.init(address='auto'); end it with `cyray stop`")
    if not args.node_ip_address.startswith("127."):
        print(f"  this node listens on {args.node_ip_address}: it is reachable from the network. "
              "Its servers take only calls that carry the cluster token (file auth_token in "
              f"{node.session_dir}); give it to other machines with --token or "
              "CYRAY_AUTH_TOKEN. The token travels in plaintext: use a network you trust.")
    if node.dashboard_url:
        print(f"  dashboard: http://{node.dashboard_url}/ (metrics at /metrics)")
        from cyray.dashboard import needs_token

        if needs_token(args.dashboard_host):
            print("  the dashboard takes only requests with the cluster token: open "
                  "/?token=<token> once, or send 'Authorization: Bearer <token>'")



def _stop(args):
    import psutil

    from cyray._private.node import SESSION_ROOT

    stopped = 0
    for pids_file in glob.glob(os.path.join(SESSION_ROOT, "*", PIDS_FILE)):
        with open(pids_file) as f:
            pids = json.load(f)
        procs = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                if any(k in " ".join(proc.cmdline()) for k in ("raylet", "cyray.gcs.server")):
                    procs.append(proc)
            except psutil.Error:
                pass
        for proc in procs:  # the raylet first: it ends its workers
            proc.send_signal(signal.SIGTERM)
        gone, alive = psutil.wait_procs(procs, timeout=args.grace)
        for proc in alive:
            proc.kill()
        stopped += len(procs)
        shutil.rmtree(os.path.dirname(pids_file), ignore_errors=True)
    print(f"cyray stop: ended {stopped} process(es)")


def _status(args):
    from cyray._private.node import resolve_address
    from cyray._raylet import GcsClient
    from cyray.protobuf import gcs_service_pb2

    from cyray._private.node import find_auth_token
    from cyray._raylet import set_cluster_token

    address = resolve_address(args.address or "auto")
    try:
        set_cluster_token(find_auth_token(address, args.token))
    except ConnectionError as e:
        sys.exit(f"cyray status: {e}")
    client = GcsClient(address)
    try:
        client.wait_until_ready(3000)
        raw_nodes = client.get_all_node_info()
    except Exception as e:
        if "cluster token" in str(e):
            sys.exit(f"cyray status: the cluster at {address} refused this process's token. "
                     "Its token is in the head node's session directory (file auth_token); "
                     "pass it with --token or CYRAY_AUTH_TOKEN.")
        sys.exit(f"cyray status: no cluster answers at {address}: {e}")
    print(f"cluster at {address}")
    for raw in raw_nodes:
        info = gcs_service_pb2.GcsNodeInfo()
        info.ParseFromString(raw)
        state = "ALIVE" if info.state == info.ALIVE else f"DEAD ({info.death_reason})"
        total = dict(info.resources_total)
        free = dict(info.resources_available)
        print(f"  node {info.node_id.hex()[:12]} {info.node_manager_address} {state}"
              f"{' head' if info.is_head_node else ''}")
        for name in sorted(total):
            print(f"    {name}: {free.get(name, 0):g} of {total[name]:g} free")
        if info.labels:
            print("    labels: " + ", ".join(f"{k}={v}" for k, v in sorted(info.labels.items())))
    if args.verbose:
        from cyray.scripts.debug_cli import status_verbose

        status_verbose(args, address)


def main(argv=None):
    from cyray.scripts import state_cli
    from cyray.scripts.cli_util import Parser

    parser = Parser(prog="cyray", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a node (and with --head, a cluster)")
    start.add_argument("--head", action="store_true")
    start.add_argument("--address", help="GCS address HOST:PORT of the cluster to join")
    start.add_argument("--port", type=int, default=0, help="GCS port (head; 0 picks one)")
    start.add_argument("--token", help="the cluster token (default: a new one for --head; "
                       "for --address, $CYRAY_AUTH_TOKEN or the token file of the head's "
                       "session on this machine)")
    start.add_argument("--node-ip-address", default="127.0.0.1",
                       help="the address this node's servers bind (default 127.0.0.1: this "
                            "machine only); another address makes the node reachable from "
                            "the network")
    start.add_argument("--num-cpus", type=float)
    start.add_argument("--num-gpus", type=float)
    start.add_argument("--resources", help='custom resources as JSON, e.g. \'{"ssd": 1}\'')
    start.add_argument("--memory", type=int,
                       help="bytes of the node's memory resource (default: what is available "
                            "after the object store, as Ray)")
    start.add_argument("--object-store-memory", type=int)
    start.add_argument("--labels", help='node labels as JSON, e.g. \'{"zone": "a"}\', or as '
                       "key=value pairs separated by commas")
    start.add_argument("--node-name", help="the node's name (default: its ip address)")
    start.add_argument("--include-dashboard", action="store_true",
                       help="serve the dashboard and /metrics from the head's GCS")
    start.add_argument("--dashboard-host", default="127.0.0.1",
                       help="address the dashboard binds (default 127.0.0.1; any other asks "
                            "every request for the cluster token)")
    start.add_argument("--dashboard-port", type=int, default=None,
                       help="dashboard port (default 8265 when free, else a free one; 0 picks "
                            "a free one)")
    stop = sub.add_parser("stop", help="end every node started by `cyray start`")
    stop.add_argument("--grace", type=float, default=5.0,
                      help="seconds to wait after SIGTERM before SIGKILL")
    status = sub.add_parser("status", help="show the cluster's nodes and resources")
    status.add_argument("--address")
    status.add_argument("--token", help="the cluster token (default: $CYRAY_AUTH_TOKEN or the "
                        "head's session on this machine)")
    status.add_argument("-v", "--verbose", action="store_true",
                        help="also the requests waiting for resources, per node, and those "
                        "no node can ever fit")
    state_cli.add_commands(sub)
    args = parser.parse_args(argv)
    handlers = {"start": _start, "stop": _stop, "status": _status}
    handlers.get(args.command, getattr(args, "func", None))(args)


if __name__ == "__main__":
    main()
