"""/metrics: the cluster's state in Prometheus text format (prometheus_client), gathered
from the state API on each scrape (nothing is kept between scrapes):

    cyray_tasks{State}                      task attempts the GCS knows, by state
    cyray_actors{State}                     actors by state
    cyray_nodes{State}                      nodes by state
    cyray_node_resources_total{NodeId,NodeAddress,Resource}
    cyray_node_resources_available{NodeId,NodeAddress,Resource}
    cyray_object_store_used_bytes{NodeId,NodeAddress}  (and _capacity_bytes,
        _num_objects, _spilled_bytes)
    cyray_node_workers{NodeId,NodeAddress}  worker processes (drivers not counted)
    cyray_node_queued_leases{NodeId,NodeAddress}
    cyray_metrics_scrape_errors{Part}       1 for each part that could not be read

Every known state has a sample (0 included), so rates and sums work from the start.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from cyray.dashboard.server import EXECUTOR, GCS_ADDRESS
from cyray.protobuf import common_pb2
from cyray.protobuf import gcs_service_pb2 as gcs_pb2

logger = logging.getLogger("cyray.dashboard")

TIMEOUT_S = 10
TASK_STATES = [name for name in common_pb2.TaskStatus.keys() if name != "NIL"]
ACTOR_STATES = list(gcs_pb2.ActorTableData.ActorState.keys())
NODE_STATES = list(gcs_pb2.GcsNodeInfo.State.keys())


def _by_state(name, documentation, states, rows):
    family = GaugeMetricFamily(name, documentation, labels=["State"])
    counts = dict.fromkeys(states, 0)
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    for state, count in counts.items():
        family.add_metric([state], count)
    return family


class ClusterCollector:
    """A prometheus_client collector that asks the cluster at `address` on each collect()
    (blocking: call generate_latest in a thread)."""

    def __init__(self, address: str):
        self.address = address

    def collect(self):
        from cyray.util import state
        from cyray.util.state import rows
        from cyray.util.state.source import StateSource

        errors = []

        def part(name, fn):
            try:
                return fn()
            except Exception as e:
                logger.warning("/metrics: could not read %s: %s", name, e)
                errors.append(name)
                return None

        tasks = part("tasks", lambda: state.list_tasks(
            self.address, limit=None, timeout=TIMEOUT_S, raise_on_missing_output=False))
        if tasks is not None:
            yield _by_state("cyray_tasks", "Task attempts by state.", TASK_STATES, tasks)
        actors = part("actors", lambda: state.list_actors(
            self.address, limit=None, timeout=TIMEOUT_S, raise_on_missing_output=False))
        if actors is not None:
            yield _by_state("cyray_actors", "Actors by state.", ACTOR_STATES, actors)

        def nodes_and_stats():
            with StateSource(self.address, TIMEOUT_S) as source:
                return source.nodes(), source.all_node_stats()

        got = part("nodes", nodes_and_stats)
        if got is not None:
            nodes, stats = got
            yield _by_state("cyray_nodes", "Nodes by state.", NODE_STATES,
                            [rows.node_row(n) for n in nodes])
            yield from self._node_families(stats)
        scrape = GaugeMetricFamily("cyray_metrics_scrape_errors",
                                   "1 for each part of the cluster's state this scrape could "
                                   "not read.", labels=["Part"])
        for name in ("tasks", "actors", "nodes"):
            scrape.add_metric([name], 1 if name in errors else 0)
        yield scrape

    @staticmethod
    def _node_families(stats):
        node_labels = ["NodeId", "NodeAddress"]
        total = GaugeMetricFamily("cyray_node_resources_total",
                                  "A node's total amount of each resource.",
                                  labels=node_labels + ["Resource"])
        available = GaugeMetricFamily("cyray_node_resources_available",
                                      "A node's amount of each resource not in use.",
                                      labels=node_labels + ["Resource"])
        store = {
            "used_bytes": ("store_used_bytes", "Bytes of objects in a node's object store."),
            "capacity_bytes": ("store_capacity_bytes", "Size of a node's object store."),
            "num_objects": ("store_num_objects", "Objects in a node's object store."),
            "spilled_bytes": ("spilled_bytes", "Bytes a node's object store spilled to disk."),
        }
        store_families = {key: GaugeMetricFamily(f"cyray_object_store_{key}", doc,
                                                 labels=node_labels)
                          for key, (_, doc) in store.items()}
        workers = GaugeMetricFamily("cyray_node_workers",
                                    "Worker processes of a node (drivers not counted).",
                                    labels=node_labels)
        queued = GaugeMetricFamily("cyray_node_queued_leases",
                                   "Worker leases waiting at a node's raylet.",
                                   labels=node_labels)
        for node, reply in stats:
            labels = [node.node_id.hex(), node.node_manager_address]
            for name, amount in sorted(reply.resources_total.items()):
                total.add_metric(labels + [name], amount)
            for name, amount in sorted(reply.resources_available.items()):
                available.add_metric(labels + [name], amount)
            for key, (field, _) in store.items():
                store_families[key].add_metric(labels, getattr(reply, field))
            workers.add_metric(labels, sum(1 for w in reply.workers if not w.is_driver))
            queued.add_metric(labels, len(reply.queued_leases))
        yield total
        yield available
        yield from store_families.values()
        yield workers
        yield queued


def render(address: str, accept: str = ""):
    """(the metrics page, its content type) in the format the scraper's Accept header
    asks for (Prometheus text by default, OpenMetrics when asked); blocking."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(address))
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


async def _metrics(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    body, content_type = await loop.run_in_executor(
        request.app[EXECUTOR], render, request.app[GCS_ADDRESS],
        request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", _metrics)
