"""`cyray logs`: list a node's log files, or print (and follow) one: by name, or the one of
an actor, a task or a worker process (Ray's `ray logs`).

    cyray logs                      # the head node's log files, grouped
    cyray logs 'worker-*'           # those matching a glob (one match: printed)
    cyray logs raylet.out --tail 50
    cyray logs actor --id ACTOR_ID [--err] [--follow]
    cyray logs task --id TASK_ID
    cyray logs worker --pid PID
"""

from __future__ import annotations

import argparse
import sys

from cyray.scripts.cli_util import CliError, add_cluster_options, cluster_address, command

KINDS = ("cluster", "actor", "task", "worker")
DEFAULT_TAIL = 1000


def _print_lines(lines, tail):
    printed = 0
    for line in lines:
        print(line, flush=True)
        printed += 1
    if tail is not None and tail > 0 and printed >= tail:
        print(f"cyray logs: showed at most the last {tail} lines (--tail N for more, --tail -1 "
              "for the whole file)", file=sys.stderr)


def _node_label(args):
    if args.node_id:
        return f"Node ID: {args.node_id}"
    if args.node_ip:
        return f"Node IP: {args.node_ip}"
    return "Head node"


def _list_or_print(args, address, pattern):
    from cyray.util.state import get_log, list_logs

    groups = list_logs(address=address, node_id=args.node_id, node_ip=args.node_ip,
                       glob_filter=pattern, timeout=args.timeout)
    names = [name for files in groups.values() for name in files]
    if pattern and len(names) == 1:
        _print_lines(get_log(address=address, node_id=args.node_id, node_ip=args.node_ip,
                             filename=names[0], follow=args.follow, tail=args.tail,
                             timeout=args.timeout), args.tail)
        return
    if pattern and not names:
        raise CliError(f"no log file matches {pattern!r} on the {_node_label(args).lower()}: "
                       "`cyray logs` lists them")
    print(_node_label(args))
    for group, files in groups.items():
        print(f"{group}:")
        for name in files:
            print(f"  {name}")


@command("logs")
def _logs(args):
    from cyray.util.state import get_log

    what, pattern = args.what, args.glob
    if what not in KINDS:
        # `cyray logs raylet.out`: Ray's alias of `cyray logs cluster raylet.out`.
        if pattern is not None:
            raise CliError(f"unexpected argument {pattern!r}: give one file name or glob, or "
                           f"one of {', '.join(KINDS[1:])} with --id/--pid")
        what, pattern = "cluster", what
    if what != "cluster" and pattern is not None:
        raise CliError(f"`cyray logs {what}` takes no file name: pass --id or --pid")
    address = cluster_address(args)
    if what == "cluster":
        _list_or_print(args, address, pattern)
        return
    suffix = "err" if args.err else "out"
    common = dict(address=address, node_id=args.node_id, node_ip=args.node_ip,
                  follow=args.follow, tail=args.tail, timeout=args.timeout, suffix=suffix)
    if what == "actor":
        if not args.id and args.pid is None:
            raise CliError("`cyray logs actor` needs --id ACTOR_ID (or --pid PID): "
                           "`cyray list actors` shows them")
        if args.id:
            _check_id(args.id, "actor", 16)
            lines = get_log(actor_id=args.id, **common)
        else:
            lines = get_log(pid=args.pid, **common)
    elif what == "task":
        if not args.id:
            raise CliError("`cyray logs task` needs --id TASK_ID: `cyray list tasks` shows "
                           "them")
        _check_id(args.id, "task", 24)
        lines = get_log(task_id=args.id, attempt_number=args.attempt_number, **common)
    else:
        if args.pid is None:
            raise CliError("`cyray logs worker` needs --pid PID: `cyray list workers` shows "
                           "them")
        lines = get_log(pid=args.pid, **common)
    _print_lines(lines, args.tail)


def _check_id(text, kind, size):
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != size:
        article = "an" if kind == "actor" else "a"
        raise CliError(f"{text!r} is not {article} {kind} ID ({2 * size} hex digits): "
                       f"`cyray list {kind}s` shows them")


def add_command(sub) -> None:
    logs = sub.add_parser("logs", help="list the log files of a node, or print one (of a "
                          "file name, actor, task or worker)", description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    logs.add_argument("what", nargs="?", metavar="FILE|actor|task|worker",
                      help="a log file name or glob (default: list them all), or whose log "
                      "to print")
    logs.add_argument("glob", nargs="?", metavar="GLOB",
                      help="after `cluster`: the file name or glob")
    logs.add_argument("-a", "--id", help="the actor's or task's ID")
    logs.add_argument("-pid", "--pid", type=int, help="the worker process's pid")
    logs.add_argument("--attempt-number", type=int, default=0,
                      help="the task's attempt (default 0)")
    logs.add_argument("-id", "--node-id", help="the node whose logs to read (default: the "
                      "head node, or the actor's/task's node)")
    logs.add_argument("-ip", "--node-ip", help="the node, by its ip address")
    logs.add_argument("-f", "--follow", action="store_true",
                      help="keep printing what is appended (Ctrl-C ends it)")
    logs.add_argument("-t", "--tail", type=int, default=DEFAULT_TAIL,
                      help=f"print the last N lines (default {DEFAULT_TAIL}; -1: the whole "
                      "file)")
    logs.add_argument("--err", action="store_true",
                      help="a worker's stderr (.err file) instead of its stdout (.out)")
    add_cluster_options(logs)
    logs.set_defaults(func=_logs)
