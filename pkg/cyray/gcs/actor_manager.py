"""The GCS actor manager: registers actors (and their names), places each on a
node by leasing a worker from its raylet, runs the creation task there, tracks
the actor's state (ALIVE, RESTARTING, DEAD) for callers that long-poll it, and
restarts or buries actors when their worker or owner dies."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import time
from typing import Dict, Optional, Tuple

import grpc
import grpc.aio

from cyray._private import actor_death
from cyray.gcs.auth import client_interceptors
from cyray.protobuf import common_pb2
from cyray.protobuf import core_worker_pb2 as cw_pb2
from cyray.protobuf import core_worker_pb2_grpc as cw_grpc
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import gcs_service_pb2_grpc as gcs_grpc
from cyray.protobuf import node_manager_pb2 as nm_pb2
from cyray.protobuf import node_manager_pb2_grpc as nm_grpc

logger = logging.getLogger("cyray.gcs")

Actor = gcs_pb2.ActorTableData
TASK_EXECUTION_EXCEPTION_METADATA = b"E%d" % common_pb2.TASK_EXECUTION_EXCEPTION
LEASE_RETRY_DELAY_S = 0.2


class ActorEntry:
    def __init__(self, table: Actor, spec: common_pb2.TaskSpec) -> None:
        self.table = table
        self.spec = spec
        self.raylet_address: Optional[str] = None
        # The node the actor's worker runs on.
        self.node_id: bytes = b""
        self.worker_id: bytes = b""
        self.no_restart = False


def _describe_creation_error(ret: common_pb2.ReturnObject) -> str:
    if ret.metadata == TASK_EXECUTION_EXCEPTION_METADATA:
        try:
            return str(pickle.loads(ret.data))
        except Exception as e:  # the error's class may not load here
            return f"(the creation error could not be decoded: {e})"
    return ret.data.decode("utf-8", "replace")


class ActorManager(gcs_grpc.ActorInfoGcsServiceServicer):
    """Every actor of the cluster. Runs on the GCS event loop; no locks needed."""

    def __init__(self, nodes) -> None:
        self._nodes = nodes
        # The lease owner the raylets see for actor workers.
        self._gcs_worker_id = os.urandom(28)
        self._actors: Dict[bytes, ActorEntry] = {}
        self._named: Dict[Tuple[str, str], bytes] = {}
        self._by_worker: Dict[bytes, bytes] = {}
        self._changed = asyncio.Condition()
        self._channels: Dict[str, grpc.aio.Channel] = {}
        self._tasks = set()

    # ---- helpers -------------------------------------------------------------------

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                address, interceptors=client_interceptors(),
                options=[("grpc.max_receive_message_length", -1),
                         ("grpc.max_send_message_length", -1), ("grpc.enable_http_proxy", 0)])
            self._channels[address] = channel
        return channel

    def _raylet_stub(self, address: str):
        return nm_grpc.NodeManagerServiceStub(self._channel(address))

    def _worker_stub(self, address: str):
        return cw_grpc.CoreWorkerServiceStub(self._channel(address))

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _set_state(self, entry: ActorEntry, state: int, death_cause: str = "",
                         death_error_type: int = 0) -> None:
        entry.table.state = state
        entry.table.version += 1
        if state == Actor.ALIVE and not entry.table.start_time_ms:
            entry.table.start_time_ms = int(time.time() * 1000)
        if state == Actor.DEAD:
            entry.table.end_time_ms = int(time.time() * 1000)
            entry.table.death_cause = death_cause
            entry.table.death_error_type = death_error_type
            key = (entry.table.ray_namespace, entry.table.name)
            if entry.table.name and self._named.get(key) == entry.table.actor_id:
                del self._named[key]
        async with self._changed:
            self._changed.notify_all()

    def _first_raylet(self, entry: ActorEntry) -> Optional[str]:
        """The raylet asked first for the actor's lease: its owner's node when alive, else
        any alive node. Its scheduling policy places the actor anywhere in the cluster (the
        lease is spilled back to the node it picks), and holds it while no node fits."""
        alive = self._nodes.alive_nodes()
        for node in alive:
            if node.node_id == entry.table.owner_address.node_id:
                alive = [node]
                break
        if not alive:
            return None
        return f"{alive[0].node_manager_address}:{alive[0].node_manager_port}"

    async def _return_worker(self, entry: ActorEntry, disconnect: bool,
                             forget: bool = True) -> None:
        """Gives the actor's worker back to its raylet (killed when `disconnect`).
        With forget=False the worker's death report still reaches the actor."""
        if not entry.raylet_address or not entry.worker_id:
            return
        stub = self._raylet_stub(entry.raylet_address)
        try:
            await stub.ReturnWorker(nm_pb2.ReturnWorkerRequest(
                worker_id=entry.worker_id, disconnect_worker=disconnect,
                disconnect_reason="actor ended"), timeout=5)
        except grpc.aio.AioRpcError as e:
            logger.warning("could not return the worker of actor %s: %s",
                           entry.table.actor_id.hex(), e.details())
        if forget:
            self._by_worker.pop(entry.worker_id, None)
            entry.worker_id = b""

    # ---- scheduling ------------------------------------------------------------------

    async def _schedule(self, entry: ActorEntry) -> None:
        address, grant_or_reject = None, False
        while entry.table.state in (Actor.PENDING_CREATION, Actor.RESTARTING):
            if address is None:
                address, grant_or_reject = self._first_raylet(entry), False
            if address is None:
                # No alive node at all: wait for one to join.
                await asyncio.sleep(LEASE_RETRY_DELAY_S)
                continue
            resource_spec = common_pb2.TaskSpec()
            resource_spec.CopyFrom(entry.spec)
            resource_spec.ClearField("args")
            resource_spec.caller_address.worker_id = self._gcs_worker_id
            stub = self._raylet_stub(address)
            try:
                lease = await stub.RequestWorkerLease(nm_pb2.RequestWorkerLeaseRequest(
                    resource_spec=resource_spec, grant_or_reject=grant_or_reject))
            except grpc.aio.AioRpcError as e:
                logger.warning("lease for actor %s at %s failed: %s",
                               entry.table.actor_id.hex(), address, e.details())
                address = None
                await asyncio.sleep(LEASE_RETRY_DELAY_S)
                continue
            if lease.retry_at_raylet_address.port:
                target = lease.retry_at_raylet_address
                address, grant_or_reject = f"{target.ip_address}:{target.port}", True
                continue
            if lease.rejected:
                address = None
                continue
            if lease.infeasible:
                await self._set_state(entry, Actor.DEAD, (
                    f"The actor {entry.table.class_name} cannot be scheduled: "
                    f"{lease.failure_message}."), common_pb2.ACTOR_UNSCHEDULABLE_ERROR)
                return
            if lease.canceled:
                address = None
                await asyncio.sleep(LEASE_RETRY_DELAY_S)
                continue
            if entry.table.state == Actor.DEAD:  # killed while waiting for the lease
                entry.raylet_address, entry.worker_id = address, lease.worker_address.worker_id
                await self._return_worker(entry, disconnect=False)
                return
            entry.raylet_address = address
            entry.node_id = lease.worker_address.node_id
            entry.worker_id = lease.worker_address.worker_id
            self._by_worker[entry.worker_id] = entry.table.actor_id
            await self._create_on(entry, lease)
            return

    async def _create_on(self, entry: ActorEntry, lease) -> None:
        worker = lease.worker_address
        stub = self._worker_stub(f"{worker.ip_address}:{worker.port}")
        request = cw_pb2.PushTaskRequest(intended_worker_id=worker.worker_id,
                                         task_spec=entry.spec)
        # The incarnation: an actor reads it as was_current_actor_reconstructed.
        request.task_spec.attempt_number = entry.table.num_restarts
        request.resource_mapping.extend(lease.resource_mapping)
        try:
            reply = await stub.PushTask(request)
        except grpc.aio.AioRpcError:
            # The worker died while creating: handled like any actor worker death
            # (the raylet reports it).
            return
        if reply.is_application_error:
            cause = _describe_creation_error(reply.return_objects[0]) \
                if reply.return_objects else "unknown error"
            await self._set_state(entry, Actor.DEAD,
                                  f"The actor died because of an error raised in its creation "
                                  f"task: {cause}")
            await self._return_worker(entry, disconnect=True)
            return
        if entry.table.state == Actor.DEAD:
            await self._return_worker(entry, disconnect=True)
            return
        entry.table.address.CopyFrom(worker)
        entry.table.pid = lease.worker_pid
        await self._set_state(entry, Actor.ALIVE)

    # ---- failures ------------------------------------------------------------------

    async def on_worker_failure(self, request: gcs_pb2.ReportWorkerFailureRequest) -> None:
        actor_id = self._by_worker.pop(request.worker_id, None)
        logger.debug("worker %s failed (intentional=%s, actor=%s)", request.worker_id.hex()[:8],
                     request.intentional, actor_id.hex() if actor_id else None)
        if actor_id is not None:
            entry = self._actors[actor_id]
            entry.worker_id = b""
            await self._on_actor_worker_died(entry, request.intentional, request.message)
        # Non-detached actors share the fate of their owner.
        for entry in list(self._actors.values()):
            if (entry.table.owner_address.worker_id == request.worker_id
                    and not entry.table.is_detached and entry.table.state != Actor.DEAD):
                await self._kill(entry, "The actor's owner died.")

    async def on_node_dead(self, node, expected: bool = False) -> None:
        """Actors whose worker ran on a dead node restart elsewhere (per max_restarts) or die
        with the node's death as the cause (`expected` when the node shut down by itself);
        the raylet that would report their workers is gone with it. Non-detached actors
        whose owner ran there die with it, as when a raylet reports the owner's death."""
        owner_died = (f"The actor's owner died: its node {node.node_id.hex()} "
                      f"({node.node_manager_address}) died: {node.death_reason}.")
        for entry in list(self._actors.values()):
            table = entry.table
            if table.state == Actor.DEAD:
                continue
            orphaned = table.owner_address.node_id == node.node_id and not table.is_detached
            if entry.node_id == node.node_id:
                self._by_worker.pop(entry.worker_id, None)
                entry.worker_id = b""
                entry.raylet_address = None
                entry.node_id = b""
                entry.no_restart = entry.no_restart or orphaned
                await self._restart_or_bury(entry, actor_death.node_died(table, node, expected))
            elif orphaned:
                await self._kill(entry, owner_died)

    async def _on_actor_worker_died(self, entry: ActorEntry, intentional: bool,
                                    message: str) -> None:
        table = entry.table
        if table.state == Actor.DEAD:
            return
        if intentional:
            await self._set_state(entry, Actor.DEAD,
                                  "The actor exited intentionally (exit_actor or "
                                  "__ray_terminate__).")
            return
        await self._restart_or_bury(
            entry, f"The actor {table.class_name} died unexpectedly: "
                   f"{message or f'its worker process (pid {table.pid}) exited'}.")

    async def _restart_or_bury(self, entry: ActorEntry, death_cause: str) -> None:
        """Restarts the actor whose worker is gone, if it has restarts left; else it is DEAD
        with `death_cause`."""
        table = entry.table
        restarts_left = table.max_restarts < 0 or table.num_restarts < table.max_restarts
        if restarts_left and not entry.no_restart:
            table.num_restarts += 1
            table.ClearField("address")
            await self._set_state(entry, Actor.RESTARTING)
            self._spawn(self._schedule(entry))
            return
        await self._set_state(entry, Actor.DEAD, death_cause)

    async def _kill(self, entry: ActorEntry, cause: str) -> None:
        entry.no_restart = True
        await self._set_state(entry, Actor.DEAD, cause)
        await self._return_worker(entry, disconnect=True)

    # ---- RPCs ----------------------------------------------------------------------

    async def RegisterActor(self, request, context):
        spec = request.task_spec
        creation = spec.actor_creation_spec
        if creation.name:
            key = (creation.ray_namespace, creation.name)
            if key in self._named:
                return gcs_pb2.RegisterActorReply(
                    success=False,
                    # Ray's message (cyray.actor matches "is already taken").
                    error_message=(f"The name {creation.name} (namespace="
                                   f"{creation.ray_namespace}) is already taken. Please use a "
                                   "different name or get the existing actor using "
                                   f"ray.get_actor('{creation.name}', "
                                   f"namespace='{creation.ray_namespace}')"))
            self._named[key] = creation.actor_id
        table = Actor(actor_id=creation.actor_id, state=Actor.DEPENDENCIES_UNREADY,
                      name=creation.name, ray_namespace=creation.ray_namespace,
                      max_restarts=creation.max_restarts,
                      max_task_retries=creation.max_task_retries,
                      allow_out_of_order_execution=creation.allow_out_of_order_execution,
                      owner_address=spec.caller_address, is_detached=creation.is_detached,
                      class_name=spec.function_descriptor.class_name, job_id=spec.job_id,
                      required_resources=spec.required_resources)
        self._actors[creation.actor_id] = ActorEntry(table, spec)
        return gcs_pb2.RegisterActorReply(success=True)

    async def CreateActor(self, request, context):
        entry = self._actors.get(request.task_spec.actor_creation_spec.actor_id)
        if entry is None or entry.table.state != Actor.DEPENDENCIES_UNREADY:
            return gcs_pb2.CreateActorReply()
        entry.spec = request.task_spec
        await self._set_state(entry, Actor.PENDING_CREATION)
        self._spawn(self._schedule(entry))
        return gcs_pb2.CreateActorReply()

    async def GetActorInfo(self, request, context):
        entry = self._actors.get(request.actor_id)
        if entry is None:
            return gcs_pb2.GetActorInfoReply(found=False)
        return gcs_pb2.GetActorInfoReply(found=True, actor=entry.table)

    async def WaitActorStateChange(self, request, context):
        entry = self._actors.get(request.actor_id)
        if entry is None:
            return gcs_pb2.WaitActorStateChangeReply(found=False)
        async with self._changed:
            await self._changed.wait_for(
                lambda: entry.table.version > request.known_version
                or entry.table.state == Actor.DEAD)
        return gcs_pb2.WaitActorStateChangeReply(found=True, actor=entry.table)

    async def GetNamedActorInfo(self, request, context):
        actor_id = self._named.get((request.ray_namespace, request.name))
        if actor_id is None:
            return gcs_pb2.GetNamedActorInfoReply(found=False)
        entry = self._actors[actor_id]
        return gcs_pb2.GetNamedActorInfoReply(found=True, actor=entry.table, task_spec=entry.spec)

    async def ListNamedActors(self, request, context):
        # _named holds the names of actors not dead yet (pending ones included, as Ray).
        reply = gcs_pb2.ListNamedActorsReply()
        for namespace, name in self._named:
            if request.all_namespaces or namespace == request.ray_namespace:
                reply.named_actors_list.add(ray_namespace=namespace, name=name)
        return reply

    async def GetAllActorInfo(self, request, context):
        return gcs_pb2.GetAllActorInfoReply(
            actor_table_data=[entry.table for entry in self._actors.values()])

    async def KillActor(self, request, context):
        entry = self._actors.get(request.actor_id)
        if entry is None or entry.table.state == Actor.DEAD:
            return gcs_pb2.KillActorReply()
        if not request.force_kill and entry.table.state == Actor.ALIVE:
            # Graceful, as Ray's GCS: the actor first runs the calls it has received.
            entry.no_restart = True
            self._spawn(self._terminate_gracefully(entry))
        elif request.no_restart or not request.force_kill:
            # (Not running yet: nothing to finish, so a graceful kill ends it now.)
            await self._kill(entry, "The actor was killed by cyray.kill().")
        else:
            # The raylet reports the death; the actor restarts if it may.
            await self._return_worker(entry, disconnect=True, forget=False)
        return gcs_pb2.KillActorReply()

    async def _terminate_gracefully(self, entry: ActorEntry) -> None:
        """Sends the actor's worker a `__ray_terminate__` call of its own: it runs after the
        calls the worker has already received, then the worker exits (intentionally, so the
        actor is not restarted)."""
        address = entry.table.address
        spec = common_pb2.TaskSpec(type=common_pb2.ACTOR_TASK, job_id=entry.table.job_id,
                                   task_id=os.urandom(8) + entry.table.actor_id,
                                   name="__ray_terminate__", num_returns=0)
        spec.function_descriptor.CopyFrom(entry.spec.function_descriptor)
        spec.function_descriptor.function_name = "__ray_terminate__"
        spec.caller_address.worker_id = self._gcs_worker_id
        spec.actor_task_spec.actor_id = entry.table.actor_id
        stub = self._worker_stub(f"{address.ip_address}:{address.port}")
        try:
            await stub.PushTask(cw_pb2.PushTaskRequest(intended_worker_id=address.worker_id,
                                                       task_spec=spec))
        except grpc.aio.AioRpcError as e:
            # Its worker is gone already; the raylet's report of that ends the actor.
            logger.debug("graceful kill of actor %s: %s", entry.table.actor_id.hex(),
                         e.details())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for channel in self._channels.values():
            await channel.close()
