"""`cyray memory`: every process's object references, grouped and totalled, then the object
stores' use (Ray's `ray memory` layout)."""

from __future__ import annotations

from collections import defaultdict

from cyray.scripts import formatting
from cyray.scripts.cli_util import add_cluster_options, cluster_address, command

GROUP_BY = ("NODE_ADDRESS", "STACK_TRACE")
SORT_BY = ("PID", "OBJECT_SIZE", "REFERENCE_TYPE")
UNITS = ("B", "KB", "MB", "GB")
# Ray's reference types, in the order of its summary columns.
SUMMARY_COLUMNS = (("Mem Used by Objects", None), ("Local References", "LOCAL_REFERENCE"),
                   ("Pinned", "PINNED_IN_MEMORY"), ("Used by task", "USED_BY_PENDING_TASK"),
                   ("Captured in Objects", "CAPTURED_IN_OBJECT"),
                   ("Actor Handles", "ACTOR_HANDLE"))
REF_COLUMNS = ("IP Address", "PID", "Type", "Call Site", "Status", "Attempt", "Size",
               "Reference Type", "Object Ref")
CALL_SITE_WIDTH = 48


def _sort_key(sort_by):
    return {"PID": lambda o: o.pid, "OBJECT_SIZE": lambda o: o.object_size,
            "REFERENCE_TYPE": lambda o: o.reference_type}[sort_by]


def _wrap(text, width):
    return "\n".join(text[i:i + width] for i in range(0, len(text), width)) or text


def group_summary(objects, units) -> str:
    """One group's totals: its objects' bytes, and per reference type a count (bytes)."""
    values = []
    for _, ref_type in SUMMARY_COLUMNS:
        if ref_type is None:
            values.append(formatting.size_text(sum(max(o.object_size, 0) for o in objects),
                                               units))
            continue
        mine = [o for o in objects if o.reference_type == ref_type]
        size = formatting.size_text(sum(max(o.object_size, 0) for o in mine), units)
        values.append(f"{len(mine)}, ({size})")
    return formatting.table([label for label, _ in SUMMARY_COLUMNS], [values])


def references_table(objects, units, no_format) -> str:
    rows = [[o.ip, o.pid, o.type, o.call_site, o.task_status, o.attempt_number,
             formatting.size_text(o.object_size, units), o.reference_type, o.object_id]
            for o in objects]
    if no_format:
        return "\n".join(" | ".join(str(v) for v in row) for row in [list(REF_COLUMNS)] + rows)
    for row in rows:
        row[3] = _wrap(row[3], CALL_SITE_WIDTH)
    return formatting.table(REF_COLUMNS, rows)


def store_stats(node_stats) -> str:
    """The object stores' use summed over the alive nodes, then node by node."""
    used = sum(s.store_used_bytes for _, s in node_stats)
    capacity = sum(s.store_capacity_bytes for _, s in node_stats)
    count = sum(s.store_num_objects for _, s in node_stats)
    spilled = sum(s.spilled_bytes for _, s in node_stats)
    pulls = sum(len(s.pulls_in_progress) for _, s in node_stats)
    full = 100 * used / capacity if capacity else 0.0
    out = ["--- Aggregate object store stats across all nodes ---",
           f"Plasma memory usage {formatting.mib(used)} of {formatting.mib(capacity)} "
           f"({full:.2f}% full), {count} objects, on {len(node_stats)} node(s)",
           f"Spilled {formatting.mib(spilled)}",
           f"Objects being pulled from other nodes: {pulls}"]
    if len(node_stats) > 1:
        out.append("")
        out.append("--- Object store stats per node ---")
        rows = [[node.node_manager_address, node.node_id.hex()[:12],
                 formatting.mib(s.store_used_bytes), formatting.mib(s.store_capacity_bytes),
                 s.store_num_objects, formatting.mib(s.spilled_bytes)]
                for node, s in node_stats]
        out.append(formatting.table(["IP Address", "Node ID", "Used", "Capacity", "Objects",
                                     "Spilled"], rows))
    return "\n".join(out) + "\n"


def memory_report(objects, node_stats, group_by="NODE_ADDRESS", sort_by="OBJECT_SIZE",
                  units="B", no_format=False, stats_only=False, num_entries=None) -> str:
    if stats_only:
        return store_stats(node_stats)
    label = group_by.lower().replace("_", " ")
    objects = sorted(objects, key=_sort_key(sort_by))
    groups = defaultdict(list)
    for obj in objects:
        groups[obj.ip if group_by == "NODE_ADDRESS" else obj.call_site].append(obj)
    out = [f"\n{formatting.banner('Object references status')}",
           f"Grouping by {label}...  Sorting by {sort_by.lower().replace('_', ' ')}...  "
           f"Display {num_entries if num_entries is not None else 'all'} entries per group..."
           "\n"]
    if not groups:
        out.append("No object references in the cluster.\n")
    for key, members in groups.items():
        out.append(f"--- Summary for {label}: {key} ---")
        out.append(group_summary(members, units) + "\n")
        out.append(f"--- Object references for {label}: {key} ---")
        out.append(references_table(members[:num_entries], units, no_format) + "\n")
    if all(o.call_site == "disabled" for o in objects):
        out.append("To record callsite information for each ObjectRef created, set env "
                   "variable CYRAY_record_ref_creation_sites=1\n")
    out.append(store_stats(node_stats))
    return "\n".join(out)


@command("memory")
def _memory(args):
    from cyray.util.state import list_objects
    from cyray.util.state.source import StateSource

    address = cluster_address(args)
    objects = [] if args.stats_only else list_objects(
        address=address, limit=None, timeout=args.timeout, detail=True,
        raise_on_missing_output=False)
    with StateSource(address, args.timeout) as source:
        node_stats = source.all_node_stats()
    print(memory_report(objects, node_stats, args.group_by, args.sort_by, args.units,
                        args.no_format, args.stats_only, args.num_entries), end="")


def add_command(sub) -> None:
    memory = sub.add_parser("memory", help="the object references every process holds, and "
                            "the object stores' use", description="Print the object references "
                            "held in the cluster, grouped and totalled, and the object stores' "
                            "use (as `ray memory`).")
    memory.add_argument("--group-by", type=str.upper, choices=GROUP_BY, default="NODE_ADDRESS")
    memory.add_argument("--sort-by", type=str.upper, choices=SORT_BY, default="OBJECT_SIZE",
                        help="ascending order of each group's references")
    memory.add_argument("--units", type=str.upper, choices=UNITS, default="B",
                        help="of the sizes (decimal: 1 KB = 1000 B)")
    memory.add_argument("--no-format", action="store_true",
                        help="one unaligned line per reference, fields separated by |")
    memory.add_argument("--stats-only", action="store_true",
                        help="only the object stores' use")
    memory.add_argument("--num-entries", "--n", type=int, default=None,
                        help="at most this many references per group")
    add_cluster_options(memory)
    memory.set_defaults(func=_memory)
