"""What the `cyray` subcommands share: one-line usage errors, the cluster address and token
of a command, and turning the state API's errors into one clear line (no traceback)."""

from __future__ import annotations

import argparse
import functools
import os
import sys

NO_CLUSTER_HINT = ("start one with `cyray start --head` (or cyray.init() in a driver), or "
                   "pass the GCS address of a running cluster with --address HOST:PORT")


class CliError(Exception):
    """Bad input or an unreachable cluster: printed as `cyray <command>: <message>`."""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line of stderr (and exit code 2, as argparse)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def add_cluster_options(parser, timeout=True):
    parser.add_argument("--address", help="the cluster's GCS address HOST:PORT (default: "
                        "$CYRAY_ADDRESS, else the cluster this machine started last)")
    if timeout:
        parser.add_argument("--timeout", type=int, default=30,
                            help="seconds to wait for the cluster's answers (default 30)")


def cluster_address(args) -> str:
    """The GCS address the command talks to, with its token found (or a CliError)."""
    from cyray._private.node import find_auth_token, resolve_address

    given = getattr(args, "address", None)
    try:
        address = resolve_address(given or "auto")
    except ConnectionError:
        raise CliError(f"no running cyray cluster found on this machine: {NO_CLUSTER_HINT}")
    except ValueError:
        raise CliError(f"--address {given!r} is not a GCS address: pass it as HOST:PORT, "
                       "as `cyray start --head` printed it")
    token = getattr(args, "token", None)
    if token:
        os.environ["CYRAY_AUTH_TOKEN"] = token
    try:
        find_auth_token(address)
    except ConnectionError:
        which = "" if given else " (the cluster this machine started last)"
        raise CliError(f"no running cyray cluster found at {address}{which}: {NO_CLUSTER_HINT}. "
                       "(A cluster of another machine also needs its token in "
                       "$CYRAY_AUTH_TOKEN: file auth_token of its head's session directory)")
    args.address = address
    return address


def explain_state_error(error, address=None) -> str:
    text = str(error)
    if "UNAVAILABLE" in text or "DEADLINE_EXCEEDED" in text:
        where = f" at {address}" if address else ""
        return (f"no cluster answers{where}: is it still running? ({text}). Pass the "
                "address of a running cluster with --address HOST:PORT, or start one with "
                "`cyray start --head`")
    if "UNAUTHENTICATED" in text or "cluster token" in text:
        return (f"the cluster refused this process's token ({text}): pass the token of the "
                "cluster in $CYRAY_AUTH_TOKEN")
    return text


def command(name):
    """Runs a subcommand's handler: bad input and cluster errors end it with one line on
    stderr and exit code 1; Ctrl-C with 130; a closed pipe (`| head`) quietly."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(args):
            from cyray.util.state.exception import RayStateApiException

            try:
                return fn(args)
            except CliError as e:
                fail(name, str(e))
            except RayStateApiException as e:
                fail(name, explain_state_error(e, getattr(args, "address", None)))
            except KeyboardInterrupt:
                sys.exit(130)
            except BrokenPipeError:
                # The reader went away (`cyray logs ... | head`): stop without a traceback.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                sys.exit(0)

        return run

    return wrap


def fail(name, message, code=1):
    print(f"cyray {name}: {message}", file=sys.stderr)
    sys.exit(code)
