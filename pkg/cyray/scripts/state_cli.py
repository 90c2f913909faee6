"""`cyray list`, `cyray get` and `cyray summary`: the state API (cyray.util.state) on the
command line, as Ray's `ray list|get|summary`. `add_commands` also registers the other
observability commands (memory, logs, timeline, stack, kill-actor)."""

from __future__ import annotations

import sys

from cyray.scripts import formatting
from cyray.scripts.cli_util import CliError, add_cluster_options, cluster_address, command

# The resources, as the command line names them, with the state API's row class names.
RESOURCES = ("tasks", "actors", "objects", "nodes", "workers", "jobs", "placement-groups")
SUMMARIES = ("tasks", "actors", "objects")
DEFAULT_LIMIT = 100


def resource_name(text: str, allowed=RESOURCES) -> str:
    """`tasks` from tasks, task, TASKS; placement-groups from placement_group(s)."""
    name = text.strip().lower().replace("_", "-")
    for candidate in (name, name + "s"):
        if candidate in allowed:
            return candidate
    raise CliError(f"unknown resource {text!r}: use one of {', '.join(allowed)}")


def _schema(resource):
    from cyray.util.state import common

    return {"tasks": common.TaskState, "actors": common.ActorState,
            "objects": common.ObjectState, "nodes": common.NodeState,
            "workers": common.WorkerState, "jobs": common.JobState,
            "placement-groups": common.PlacementGroupState}[resource]


def parse_filter(text: str, resource: str):
    """("key", "=" or "!=", "value") from "key=value" / "key!=value", the key checked
    (without case) against the resource's filterable columns."""
    key, predicate, value = None, None, None
    for i, char in enumerate(text):
        if char == "=":
            key, predicate, value = text[:i], "=", text[i + 1:]
            break
        if char == "!" and text[i + 1:i + 2] == "=":
            key, predicate, value = text[:i], "!=", text[i + 2:]
            break
    key = (key or "").strip()
    if not predicate or not key or not value.strip():
        raise CliError(f"bad filter {text!r}: write it as key=value or key!=value, "
                       f"e.g. --filter \"state=FAILED\"")
    columns = _schema(resource).filterable_columns()
    match = {c.lower(): c for c in columns}.get(key.lower())
    if match is None:
        raise CliError(f"unknown filter column {key!r} for {resource}: use one of "
                       f"{', '.join(columns)}")
    return match, predicate, value.strip()


def _lister(resource):
    from cyray.util import state

    return {"tasks": state.list_tasks, "actors": state.list_actors,
            "objects": state.list_objects, "nodes": state.list_nodes,
            "workers": state.list_workers, "jobs": state.list_jobs,
            "placement-groups": state.list_placement_groups}[resource]


@command("list")
def _list(args):
    resource = resource_name(args.resource)
    filters = [parse_filter(f, resource) for f in args.filter or []]
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be 0 or more, not {args.limit}")
    address = cluster_address(args)
    rows = _lister(resource)(address=address, filters=filters, limit=None,
                             timeout=args.timeout, detail=args.detail,
                             raise_on_missing_output=False)
    total = len(rows)
    rows = rows[:args.limit]
    fmt = args.format
    if fmt == "default" and args.detail:
        fmt = "yaml"  # as Ray: detail rows are too wide for a table
    columns = _schema(resource).list_columns(detail=args.detail)
    if not rows and fmt in ("default", "table"):
        print(f"No {resource.replace('-', ' ')} in the cluster"
              f"{' match the filters' if filters and total == 0 else ''}.")
    else:
        print(formatting.rows_output([row.asdict() for row in rows], columns, fmt))
    if total > len(rows):
        print(f"cyray list: {total - len(rows)} more {resource} were left out (--limit "
              f"{args.limit}): raise --limit or narrow the query with --filter",
              file=sys.stderr)


@command("get")
def _get(args):
    from cyray.util import state

    resource = resource_name(args.resource)
    if not args.id:
        raise CliError(f"missing the ID of the {resource[:-1]}: `cyray get {resource} ID` "
                       f"(`cyray list {resource}` shows them)")
    try:
        bytes.fromhex(args.id)
    except ValueError:
        raise CliError(f"{args.id!r} is not an ID: IDs are hex digits (`cyray list {resource}` "
                       "shows them)")
    address = cluster_address(args)
    getter = {"tasks": state.get_task, "actors": state.get_actor, "objects": state.get_objects,
              "nodes": state.get_node, "workers": state.get_worker, "jobs": state.get_job,
              "placement-groups": state.get_placement_group}[resource]
    found = getter(args.id, address=address, timeout=args.timeout)
    rows = found if isinstance(found, list) else [found] if found is not None else []
    if not rows:
        raise CliError(f"no {resource[:-1].replace('-', ' ')} with ID {args.id} in the cluster "
                       f"(`cyray list {resource}` shows them)")
    fmt = "yaml" if args.format == "default" else args.format
    columns = _schema(resource).list_columns(detail=True)
    print(formatting.rows_output([row.asdict() for row in rows], columns, fmt, title="Get"))


def _summary_table(data, resource) -> str:
    """Ray's `ray summary` text: the cluster totals, then one row per group."""
    cluster = dict(data["cluster"])
    groups = cluster.pop("summary")
    summary_by = cluster.pop("summary_by")
    head = f"\n{formatting.banner(resource.capitalize() + ' Summary')}\nStats:\n{'-' * 36}\n"
    head += formatting.to_yaml(cluster, explicit_start=False)
    if resource == "objects":
        parts = []
        for call_site, entry in groups.items():
            headers = sorted(entry)
            parts.append(call_site.replace("|", "\n|") + "\n" + formatting.table(
                [h.upper() for h in headers], [[entry[h] for h in headers]]))
        body = "\n\n".join(parts) or "(no objects)"
    else:
        headers = sorted({key for entry in groups.values() for key in entry})
        body = formatting.table([h.upper() for h in headers],
                                [[entry.get(h) for h in headers] for entry in groups.values()],
                                index=True) if groups else f"(no {resource})"
    return f"{head}\nTable (group by {summary_by}):\n{'-' * 36}\n{body}\n"


@command("summary")
def _summary(args):
    from cyray.util import state

    resource = resource_name(args.resource, SUMMARIES)
    address = cluster_address(args)
    summarize = {"tasks": state.summarize_tasks, "actors": state.summarize_actors,
                 "objects": state.summarize_objects}[resource]
    data = summarize(address=address, timeout=args.timeout, raise_on_missing_output=False)
    if args.format == "json":
        print(formatting.to_json(data))
    elif args.format == "yaml":
        print(formatting.to_yaml(data), end="")
    else:
        print(_summary_table(data, resource))


def add_commands(sub) -> None:
    """Registers list, get, summary and the other observability commands on the `cyray`
    parser's subparsers; each sets `func`, its handler."""
    from cyray.scripts import debug_cli, explain_cli, logs_cli, memory_cli

    choices = ", ".join(RESOURCES)
    lister = sub.add_parser("list", help="list the cluster's tasks, actors, objects, nodes, "
                            "workers, jobs or placement groups",
                            description="List a resource of the cluster (as `ray list`). "
                            'Example: cyray list tasks --filter "state=FAILED" --limit 10')
    lister.add_argument("resource", metavar="RESOURCE", help=choices)
    lister.add_argument("-f", "--filter", action="append", metavar="KEY=VALUE",
                        help="keep rows whose column KEY is (key=value) or is not (key!=value) "
                        "VALUE; repeat it for several conditions (all must hold)")
    lister.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                        help=f"at most this many rows (default {DEFAULT_LIMIT})")
    lister.add_argument("--detail", action="store_true",
                        help="every column (printed as YAML unless --format says otherwise)")
    lister.add_argument("--format", choices=formatting.FORMATS, default="default")
    add_cluster_options(lister)
    lister.set_defaults(func=_list)

    getter = sub.add_parser("get", help="one task, actor, object, node, worker or job by ID",
                            description="Print one resource by its ID with every column "
                            "(as `ray get`). Example: cyray get actors 8199ae3f...")
    getter.add_argument("resource", metavar="RESOURCE", help=choices)
    getter.add_argument("id", metavar="ID", nargs="?")
    getter.add_argument("--format", choices=formatting.FORMATS, default="default",
                        help="default: YAML")
    add_cluster_options(getter)
    getter.set_defaults(func=_get)

    summary = sub.add_parser("summary", help="tasks, actors or objects counted by name and "
                             "state", description="Summarize tasks (by function), actors (by "
                             "class) or objects (by call site), as `ray summary`.")
    summary.add_argument("resource", metavar="RESOURCE", help=", ".join(SUMMARIES))
    summary.add_argument("--format", choices=("default", "json", "yaml"), default="default")
    add_cluster_options(summary)
    summary.set_defaults(func=_summary)

    memory_cli.add_command(sub)
    logs_cli.add_command(sub)
    debug_cli.add_commands(sub)
    explain_cli.add_commands(sub)
