"""The worker process the raylet starts: `python -m cyray.workers.default_worker
--raylet-socket-name=... --gcs-address=... --startup-token=N ...`. It connects its
core worker to the raylet and runs pushed tasks until told to exit."""

import argparse
import os
import signal
import sys

import setproctitle


class _PrefixedStream:
    """Prefixes each line with "(task pid=N) " so the driver shows where it came from."""

    def __init__(self, stream, worker):
        self._stream = stream
        self._worker = worker
        self._pending = ""
        self._pid = os.getpid()

    def _prefix(self):
        name = self._worker.current_task_name
        return f"({name} pid={self._pid}) " if name else f"(pid={self._pid}) "

    def write(self, text):
        text = self._pending + text
        lines = text.split("\n")
        self._pending = lines.pop()
        if lines:
            prefix = self._prefix()
            self._stream.write("".join(prefix + line + "\n" for line in lines))
            self._stream.flush()
        return len(text)

    def flush(self):
        if self._pending:
            self._stream.write(self._prefix() + self._pending + "\n")
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node-ip-address", required=True)
    parser.add_argument("--node-id", default="")
    parser.add_argument("--raylet-socket-name", required=True)
    parser.add_argument("--gcs-address", required=True)
    parser.add_argument("--session-dir", required=True)
    parser.add_argument("--startup-token", type=int, required=True)
    return parser.parse_args(argv)


def _on_sigterm(worker):
    """SIGTERM from the raylet (its node stops, or the worker is no longer wanted): between
    tasks, leave the task loop (checked between waits) and exit cleanly. Inside a task, end
    by the signal instead: a SystemExit raised in the task's code would become its result,
    where its caller must see that the worker died (and retry, or raise ActorDiedError)."""
    if worker.tasks_running > 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    sys.exit(0)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    setproctitle.setproctitle("cyray::IDLE")

    from cyray._private import worker as worker_module
    from cyray._raylet import CoreWorker

    worker = worker_module.global_worker
    worker.mode = worker_module.WORKER_MODE
    worker.node_ip_address = args.node_ip_address
    worker.gcs_address = args.gcs_address
    sys.stdout = _PrefixedStream(sys.stdout, worker)
    sys.stderr = _PrefixedStream(sys.stderr, worker)
    signal.signal(signal.SIGTERM, lambda *_: _on_sigterm(worker))
    # SIGINT interrupts a task only when it was cancelled (cancel sends it).
    signal.signal(signal.SIGINT, worker.on_sigint)

    from cyray._raylet import set_cluster_token

    # The raylet passes on the cluster token its starter gave it.
    set_cluster_token(os.environ.get("CYRAY_AUTH_TOKEN", ""))
    core_worker = CoreWorker(False, args.raylet_socket_name, args.gcs_address,
                             args.node_ip_address, args.startup_token)
    core_worker.connect()
    worker.core_worker = core_worker
    try:
        core_worker.run_task_loop()
    finally:
        core_worker.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        if worker.actor is not None:
            # An actor may have executor threads still inside user code; they
            # end with the process.
            os._exit(0)


if __name__ == "__main__":
    main()
