"""IDs exposed by the extension: sizes, conversions and derivations (no cluster)."""

import pickle

import pytest

import cyray
from cyray import ActorID, JobID, NodeID, ObjectID, PlacementGroupID, TaskID, WorkerID


def test_version_and_extension_import():
    from cyray import _raylet

    assert cyray.__version__.count(".") == 2
    assert _raylet.config()


@pytest.mark.parametrize(
    "cls,size",
    [(JobID, 4), (ActorID, 16), (TaskID, 24), (ObjectID, 28), (NodeID, 28), (WorkerID, 28),
     (PlacementGroupID, 18)],
)
def test_sizes_and_round_trips(cls, size):
    assert cls.size() == size
    rid = cls.from_random()
    assert len(rid.binary()) == size
    assert cls.from_hex(rid.hex()) == rid
    assert cls(rid.binary()) == rid
    assert hash(cls(rid.binary())) == hash(rid)
    assert pickle.loads(pickle.dumps(rid)) == rid
    assert cls.nil().is_nil() and not rid.is_nil()


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="ID string needs to have length 4, got 3"):
        JobID(b"abc")
    with pytest.raises(TypeError, match="from_hex"):
        JobID("01000000")
    with pytest.raises(ValueError, match="not hex"):
        NodeID.from_hex("zz" * 28)
    with pytest.raises(ValueError):
        JobID.from_int(-1)


def test_ids_of_different_types_are_not_equal():
    raw = b"\x01" * 28
    assert NodeID(raw) != WorkerID(raw)


def test_derivations_follow_ray_layouts():
    job = JobID.from_int(7)
    assert job.hex() == "07000000" and job.int() == 7
    driver = TaskID.for_driver_task(job)
    t1 = TaskID.for_normal_task(job, driver, 1)
    assert t1 == TaskID.for_normal_task(job, driver, 1)
    assert t1 != TaskID.for_normal_task(job, driver, 2)
    assert t1.job_id() == job and driver.job_id() == job
    obj = ObjectID.from_index(t1, 3)
    assert obj.task_id() == t1 and obj.index() == 3
    assert obj.hex().startswith(t1.hex())
    assert PlacementGroupID.of(job).job_id() == job


def test_config_knobs_have_docs():
    from cyray._raylet import config

    knobs = config()
    assert knobs["max_direct_call_object_size"][0] == str(100 * 1024)
    assert all(doc for _, _, doc in knobs.values())


def test_object_ref_construction_errors_are_rays():
    import cyray

    with pytest.raises(ValueError, match="ID string needs to have length 28, got 1"):
        cyray.ObjectRef(b"x")
    with pytest.raises(TypeError, match="Unsupported type: <class 'str'>, expected bytes"):
        cyray.ObjectRef("x" * 28)
    # Ray's fourth positional argument: skip_adding_local_ref.
    ref = cyray.ObjectRef(b"\x01" * 28, b"", "made in test_ids", True)
    assert ref.call_site() == "made in test_ids"
    assert cyray.ObjectRef.from_binary(ref.binary()) == ref
    assert cyray.NodeID.from_binary(b"\x02" * 28).hex() == "02" * 28


def test_remote_function_bind_says_dags_are_not_supported():
    import cyray

    @cyray.remote
    def f():
        return 1

    with pytest.raises(NotImplementedError, match="DAG"):
        f.bind()
