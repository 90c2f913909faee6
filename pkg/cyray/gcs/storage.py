"""Storage behind the GCS tables: a small key-value interface and its in-memory implementation.

Every GCS table (nodes, jobs, internal KV namespaces) is a named table of bytes keys and bytes
values. The server only talks to `GcsStorage`, so a Redis-backed implementation (one Redis hash
per table) can replace `InMemoryStorage` without touching the services. Methods are synchronous:
the server calls them from its event loop, and each call is atomic with respect to the others.
"""

from __future__ import annotations

import abc
from typing import Dict, List, Optional, Tuple


class GcsStorage(abc.ABC):
    """Named tables of bytes -> bytes. Table names are `str`; keys and values are `bytes`."""

    @abc.abstractmethod
    def get(self, table: str, key: bytes) -> Optional[bytes]:
        """Returns the value stored under `key`, or None when there is none."""

    @abc.abstractmethod
    def put(self, table: str, key: bytes, value: bytes, overwrite: bool = True) -> bool:
        """Stores `value` under `key`; returns True when the key was newly added.

        With overwrite=False an existing value is left as it is (and False is returned).
        """

    @abc.abstractmethod
    def delete(self, table: str, key: bytes) -> bool:
        """Removes `key`; returns True when it existed."""

    @abc.abstractmethod
    def keys(self, table: str, prefix: bytes = b"") -> List[bytes]:
        """Returns the keys of `table` that start with `prefix`."""

    @abc.abstractmethod
    def items(self, table: str) -> List[Tuple[bytes, bytes]]:
        """Returns every (key, value) pair of `table`."""


class InMemoryStorage(GcsStorage):
    """Tables held in a dict of dicts; lost when the process exits. Not thread-safe."""

    def __init__(self) -> None:
        self._tables: Dict[str, Dict[bytes, bytes]] = {}

    def get(self, table: str, key: bytes) -> Optional[bytes]:
        return self._tables.get(table, {}).get(key)

    def put(self, table: str, key: bytes, value: bytes, overwrite: bool = True) -> bool:
        entries = self._tables.setdefault(table, {})
        added = key not in entries
        if added or overwrite:
            entries[key] = value
        return added

    def delete(self, table: str, key: bytes) -> bool:
        entries = self._tables.get(table)
        if entries is None or key not in entries:
            return False
        del entries[key]
        if not entries:
            del self._tables[table]
        return True

    def keys(self, table: str, prefix: bytes = b"") -> List[bytes]:
        return [key for key in self._tables.get(table, {}) if key.startswith(prefix)]

    def items(self, table: str) -> List[Tuple[bytes, bytes]]:
        return list(self._tables.get(table, {}).items())
