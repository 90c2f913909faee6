"""`cyray explain ID`: why an object (or the task making it) is not ready, in one
paragraph (cyray.util.explain on the command line; beyond Ray)."""

from __future__ import annotations

import textwrap

from cyray.scripts.cli_util import CliError, add_cluster_options, cluster_address, command


@command("explain")
def _explain(args):
    from cyray.util.explainer import explain

    address = cluster_address(args)
    try:
        text = explain(args.id, address=address)
    except ValueError as e:
        raise CliError(str(e))
    print(textwrap.fill(text, width=100))


def add_commands(sub) -> None:
    parser = sub.add_parser(
        "explain", help="say why an object or task is not ready yet",
        description="Explain in one paragraph why an object (56 hex digits, as ObjectRef.hex()) "
        "or task (48 hex digits) is not ready: the task that makes it, its state, what it "
        "waits for, and what to do.")
    parser.add_argument("id", metavar="ID", help="an object ID or task ID in hex")
    add_cluster_options(parser, timeout=False)
    parser.set_defaults(func=_explain)
