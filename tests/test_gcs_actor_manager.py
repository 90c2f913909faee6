"""The GCS actor state machine against fake raylets and workers (no processes)."""

import asyncio
import os
import pickle

import pytest

from cyray.exceptions import RayTaskError
from cyray.gcs.actor_manager import ActorManager
from cyray.protobuf import common_pb2
from cyray.protobuf import core_worker_pb2 as cw_pb2
from cyray.protobuf import gcs_service_pb2 as gcs_pb2
from cyray.protobuf import node_manager_pb2 as nm_pb2

Actor = gcs_pb2.ActorTableData


NODE_ID = b"n" * 28


class FakeNodes:
    def __init__(self):
        node = gcs_pb2.GcsNodeInfo(node_id=NODE_ID, node_manager_address="127.0.0.1",
                                   node_manager_port=1, state=gcs_pb2.GcsNodeInfo.ALIVE)
        node.resources_total["CPU"] = 2
        self.nodes = [node]

    def alive_nodes(self):
        return self.nodes


class FakeRaylet:
    def __init__(self):
        self.next_worker = 0
        self.returned = []
        self.infeasible = False

    async def RequestWorkerLease(self, request, timeout=None):
        if self.infeasible:
            return nm_pb2.RequestWorkerLeaseReply(infeasible=True, failure_message="too big")
        self.next_worker += 1
        reply = nm_pb2.RequestWorkerLeaseReply(worker_pid=1000 + self.next_worker)
        reply.worker_address.worker_id = b"w%d" % self.next_worker
        reply.worker_address.ip_address = "127.0.0.1"
        reply.worker_address.port = 2
        reply.worker_address.node_id = NODE_ID
        return reply

    async def ReturnWorker(self, request, timeout=None):
        self.returned.append((request.worker_id, request.disconnect_worker))
        return nm_pb2.ReturnWorkerReply()


class FakeWorker:
    def __init__(self):
        self.creation_error = None
        self.pushed = []

    async def PushTask(self, request):
        self.pushed.append(request)
        reply = cw_pb2.PushTaskReply()
        if self.creation_error is not None:
            reply.is_application_error = True
            ret = reply.return_objects.add()
            ret.data = pickle.dumps(self.creation_error)
            ret.metadata = b"E%d" % common_pb2.TASK_EXECUTION_EXCEPTION
        return reply


class FakeActorManager(ActorManager):
    def __init__(self):
        super().__init__(FakeNodes())
        self.raylet = FakeRaylet()
        self.worker = FakeWorker()

    def _raylet_stub(self, address):
        return self.raylet

    def _worker_stub(self, address):
        return self.worker


def creation_spec(name="", namespace="ns", max_restarts=0, detached=False, owner=b"owner"):
    spec = common_pb2.TaskSpec(type=common_pb2.ACTOR_CREATION_TASK)
    spec.actor_creation_spec.actor_id = os.urandom(16)
    spec.actor_creation_spec.name = name
    spec.actor_creation_spec.ray_namespace = namespace
    spec.actor_creation_spec.max_restarts = max_restarts
    spec.actor_creation_spec.is_detached = detached
    spec.caller_address.worker_id = owner
    spec.function_descriptor.class_name = "Counter"
    return spec


async def settle():
    for _ in range(20):
        await asyncio.sleep(0)


async def create(manager, spec):
    reply = await manager.RegisterActor(gcs_pb2.RegisterActorRequest(task_spec=spec), None)
    assert reply.success, reply.error_message
    await manager.CreateActor(gcs_pb2.CreateActorRequest(task_spec=spec), None)
    await settle()
    return spec.actor_creation_spec.actor_id


async def state_of(manager, actor_id):
    reply = await manager.GetActorInfo(gcs_pb2.GetActorInfoRequest(actor_id=actor_id), None)
    return reply.actor


def failure(worker_id, intentional=False):
    return gcs_pb2.ReportWorkerFailureRequest(worker_id=worker_id, intentional=intentional)


def run(coro):
    return asyncio.run(coro)


def test_created_actor_is_alive_at_its_worker():
    async def body():
        m = FakeActorManager()
        actor = await state_of(m, await create(m, creation_spec()))
        assert actor.state == Actor.ALIVE
        assert actor.address.worker_id == b"w1" and actor.pid == 1001
    run(body())


def test_worker_death_restarts_until_restarts_run_out():
    async def body():
        m = FakeActorManager()
        actor_id = await create(m, creation_spec(max_restarts=1))
        await m.on_worker_failure(failure(b"w1"))
        await settle()
        actor = await state_of(m, actor_id)
        assert actor.state == Actor.ALIVE and actor.num_restarts == 1
        assert actor.address.worker_id == b"w2"
        await m.on_worker_failure(failure(b"w2"))
        actor = await state_of(m, actor_id)
        assert actor.state == Actor.DEAD and "died unexpectedly" in actor.death_cause
    run(body())


def test_intentional_exit_is_final():
    async def body():
        m = FakeActorManager()
        actor_id = await create(m, creation_spec(max_restarts=5))
        await m.on_worker_failure(failure(b"w1", intentional=True))
        actor = await state_of(m, actor_id)
        assert actor.state == Actor.DEAD and "intentionally" in actor.death_cause
    run(body())


def test_creation_error_buries_the_actor_with_its_cause():
    async def body():
        m = FakeActorManager()
        m.worker.creation_error = RayTaskError(
            "Counter", "Traceback (most recent call last):\nValueError: bad start",
            ValueError("bad start"))
        actor = await state_of(m, await create(m, creation_spec(max_restarts=3)))
        assert actor.state == Actor.DEAD and "bad start" in actor.death_cause
        assert (b"w1", True) in m.raylet.returned
    run(body())


def test_names_are_unique_per_namespace_and_freed_on_death():
    async def body():
        m = FakeActorManager()
        actor_id = await create(m, creation_spec(name="c", namespace="a"))
        taken = await m.RegisterActor(
            gcs_pb2.RegisterActorRequest(task_spec=creation_spec(name="c", namespace="a")), None)
        assert not taken.success and "'c'" in taken.error_message
        await create(m, creation_spec(name="c", namespace="b"))
        await m.KillActor(gcs_pb2.KillActorRequest(actor_id=actor_id, force_kill=True,
                                                   no_restart=True), None)
        found = await m.GetNamedActorInfo(
            gcs_pb2.GetNamedActorInfoRequest(name="c", ray_namespace="a"), None)
        assert not found.found
        await create(m, creation_spec(name="c", namespace="a"))
    run(body())


def test_owner_death_ends_its_actors_but_not_detached_ones():
    async def body():
        m = FakeActorManager()
        owned = await create(m, creation_spec(owner=b"driver"))
        detached = await create(m, creation_spec(owner=b"driver", detached=True, name="d"))
        await m.on_worker_failure(failure(b"driver"))
        assert (await state_of(m, owned)).state == Actor.DEAD
        assert (await state_of(m, detached)).state == Actor.ALIVE
    run(body())


def test_infeasible_actor_dies_with_the_reason():
    async def body():
        m = FakeActorManager()
        m.raylet.infeasible = True
        actor = await state_of(m, await create(m, creation_spec()))
        assert actor.state == Actor.DEAD and "too big" in actor.death_cause
    run(body())


def test_wait_for_state_change_answers_on_the_next_version():
    async def body():
        m = FakeActorManager()
        actor_id = await create(m, creation_spec())
        version = (await state_of(m, actor_id)).version
        waiter = asyncio.ensure_future(m.WaitActorStateChange(
            gcs_pb2.WaitActorStateChangeRequest(actor_id=actor_id, known_version=version), None))
        await settle()
        assert not waiter.done()
        await m.KillActor(gcs_pb2.KillActorRequest(actor_id=actor_id, force_kill=True,
                                                   no_restart=True), None)
        reply = await asyncio.wait_for(waiter, 5)
        assert reply.actor.state == Actor.DEAD
    run(body())


@pytest.mark.parametrize("no_restart", [True, False])
def test_kill(no_restart):
    async def body():
        m = FakeActorManager()
        actor_id = await create(m, creation_spec(max_restarts=1))
        await m.KillActor(gcs_pb2.KillActorRequest(actor_id=actor_id, force_kill=True,
                                                   no_restart=no_restart), None)
        assert (b"w1", True) in m.raylet.returned
        # The raylet then reports the killed worker.
        await m.on_worker_failure(failure(b"w1"))
        await settle()
        state = (await state_of(m, actor_id)).state
        assert state == (Actor.DEAD if no_restart else Actor.ALIVE)
    run(body())


def test_graceful_kill_sends_the_actor_a_terminate_call():
    async def body():
        m = FakeActorManager()
        actor_id = await create(m, creation_spec(max_restarts=3))
        await m.KillActor(gcs_pb2.KillActorRequest(actor_id=actor_id, force_kill=False,
                                                   no_restart=False), None)
        await settle()
        # Not killed: the worker gets a __ray_terminate__ call after those it has.
        assert m.raylet.returned == []
        terminate = m.worker.pushed[-1]
        assert terminate.intended_worker_id == b"w1"
        spec = terminate.task_spec
        assert spec.type == common_pb2.ACTOR_TASK
        assert spec.function_descriptor.function_name == "__ray_terminate__"
        assert spec.function_descriptor.class_name == "Counter"
        assert spec.actor_task_spec.actor_id == actor_id
        assert (await state_of(m, actor_id)).state == Actor.ALIVE
        # The worker then exits, intentionally or not: the actor is not restarted.
        await m.on_worker_failure(failure(b"w1"))
        await settle()
        assert (await state_of(m, actor_id)).state == Actor.DEAD
    run(body())


def test_graceful_kill_of_an_actor_not_yet_running_ends_it():
    async def body():
        m = FakeActorManager()
        spec = creation_spec()
        await m.RegisterActor(gcs_pb2.RegisterActorRequest(task_spec=spec), None)
        actor_id = spec.actor_creation_spec.actor_id
        await m.KillActor(gcs_pb2.KillActorRequest(actor_id=actor_id, force_kill=False), None)
        assert (await state_of(m, actor_id)).state == Actor.DEAD
        assert m.worker.pushed == []
    run(body())


def test_node_death_buries_actors_without_restarts_naming_the_node():
    async def body():
        m = FakeActorManager()
        doomed = await create(m, creation_spec())
        restarted = await create(m, creation_spec(max_restarts=1))
        node = gcs_pb2.GcsNodeInfo(node_id=NODE_ID, node_manager_address="10.0.0.2",
                                   state=gcs_pb2.GcsNodeInfo.DEAD, death_reason="gone")
        await m.on_node_dead(node)
        await settle()
        actor = await state_of(m, doomed)
        assert actor.state == Actor.DEAD
        assert actor.death_cause.endswith(
            f"The actor died because its node has died. Node Id: {NODE_ID.hex()}\n"
            "\tthe actor's node was terminated unexpectedly: gone")
        assert "\tip: 10.0.0.2\n" in actor.death_cause
        assert f"\tactor_id: {doomed.hex()}\n" in actor.death_cause
        assert actor.death_error_type == 0  # a plain ACTOR_DIED
        assert (await state_of(m, restarted)).num_restarts == 1
    run(body())


def test_node_death_ends_the_actors_its_processes_owned_but_not_detached_ones():
    async def body():
        m = FakeActorManager()
        dead_node = b"d" * 28
        owned = creation_spec(owner=b"driver")
        owned.caller_address.node_id = dead_node
        detached = creation_spec(owner=b"driver", detached=True, name="d")
        detached.caller_address.node_id = dead_node
        owned_id, detached_id = await create(m, owned), await create(m, detached)
        node = gcs_pb2.GcsNodeInfo(node_id=dead_node, node_manager_address="10.0.0.3",
                                   state=gcs_pb2.GcsNodeInfo.DEAD, death_reason="gone")
        await m.on_node_dead(node)
        actor = await state_of(m, owned_id)
        assert actor.state == Actor.DEAD
        assert actor.death_cause == (f"The actor's owner died: its node {dead_node.hex()} "
                                     "(10.0.0.3) died: gone.")
        assert (b"w1", True) in m.raylet.returned  # its worker was ended
        assert (await state_of(m, detached_id)).state == Actor.ALIVE
    run(body())
