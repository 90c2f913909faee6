"""Copies what workers print to the driver's terminal. Workers write their
stdout/stderr, already prefixed with "(task pid=N)", to files in the session's
logs directory; this thread tails them."""

import glob
import os
import sys
import threading


class LogMonitor:
    def __init__(self, logs_dir, interval=0.05):
        self._logs_dir = logs_dir
        self._interval = interval
        self._offsets = {}
        self._partial = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cyray-log-monitor", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.poll_once()

    def _run(self):
        while not self._stop.wait(self._interval):
            try:
                self.poll_once()
            except Exception:  # a vanished file or a closed stream: try again later
                pass

    def poll_once(self):
        for path in glob.glob(os.path.join(self._logs_dir, "worker-*.*")):
            stream = sys.stderr if path.endswith(".err") else sys.stdout
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            if not chunk:
                continue
            self._offsets[path] = offset + len(chunk)
            text = self._partial.pop(path, b"") + chunk
            lines = text.split(b"\n")
            if lines[-1]:
                self._partial[path] = lines[-1]
            complete = lines[:-1]
            if complete:
                stream.write(b"\n".join(complete).decode("utf-8", "replace") + "\n")
                stream.flush()
