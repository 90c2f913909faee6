# ObjectRef: a reference to a (possibly future) object, counted by the core
# worker while the Python object lives.
import threading

# The core worker that counts references of this process's ObjectRefs.
cdef CoreWorker _ref_counting_worker = None
# ObjectRefs met while pickling a value (its nested refs), per thread.
_nested_refs = threading.local()


cdef class ObjectRef(BaseID):
    """A reference to an object in the cluster, returned by `.remote()` and `put`."""
    cdef bytes _owner_address
    cdef object _counted_by
    cdef object _call_site

    _SIZE = 28

    def __init__(self, binary, bytes owner_address=b"", call_site_data="",
                 bint skip_adding_local_ref=False):
        """As Ray's: the object ID's 28 bytes, its owner's address, a call site (call_site())
        and whether to leave the reference uncounted."""
        BaseID.__init__(self, binary)
        cdef bint add_local_ref = not skip_adding_local_ref
        self._call_site = call_site_data
        self._owner_address = owner_address
        self._counted_by = None
        if add_local_ref and _ref_counting_worker is not None:
            _ref_counting_worker.add_local_reference(self._binary, owner_address)
            self._counted_by = _ref_counting_worker

    def __dealloc__(self):
        cdef CoreWorker worker = self._counted_by
        if worker is not None and worker.core_worker != NULL:
            worker.core_worker.RemoveLocalReference(self._binary)

    def owner_address(self):
        return self._owner_address

    def call_site(self):
        """The call site given at construction (cyray records none itself)."""
        return self._call_site

    def task_id(self):
        return TaskID(self._binary[:24])

    def job_id(self):
        return self.task_id().job_id()

    def __repr__(self):
        return f"ObjectRef({self.hex()})"

    def __reduce__(self):
        recorder = getattr(_nested_refs, "refs", None)
        if recorder is not None:
            recorder.append(self)
        return _rebuild_object_ref, (self._binary, self._owner_address)

    def __await__(self):
        """`await ref` in a coroutine: the value, without blocking the event loop."""
        return self.as_future().__await__()

    def as_future(self, _internal=False):
        """An asyncio.Future of the running loop, resolved with the object's value."""
        import asyncio

        return asyncio.wrap_future(self.future())

    def future(self):
        """A concurrent.futures.Future resolved with the object's value (or error) as
        soon as it is ready; the core worker resolves it on the thread that made the
        object ready, so no thread waits for it."""
        import concurrent.futures

        from cyray._private.worker import global_worker

        global_worker.check_connected()
        fut = concurrent.futures.Future()
        worker = global_worker

        def resolve():
            if not fut.set_running_or_notify_cancel():
                return  # cancelled by its user meanwhile
            try:
                fut.set_result(worker.get([self], None)[0])
            except BaseException as e:  # noqa: B036 - delivered to the future
                fut.set_exception(e)

        worker.core_worker.on_object_ready(self, resolve)
        return fut


cdef ObjectRef _adopt_object_ref(bytes binary, bytes owner_address):
    """An ObjectRef that takes over a local reference the core worker already holds
    for it (e.g. a generator's item): released when the ObjectRef goes."""
    cdef ObjectRef ref = ObjectRef(binary, owner_address, "", True)
    ref._counted_by = _ref_counting_worker
    return ref


def _rebuild_object_ref(binary, owner_address):
    return ObjectRef(binary, owner_address)


class NestedRefRecorder:
    """Collects the ObjectRefs pickled inside a value (with-statement)."""

    def __enter__(self):
        self.previous = getattr(_nested_refs, "refs", None)
        self.refs = []
        _nested_refs.refs = self.refs
        return self.refs

    def __exit__(self, *exc):
        _nested_refs.refs = self.previous
        return False


def all_object_refs(list values):
    """Whether every item of `values` is exactly an ObjectRef (at C speed: wait and get
    check their lists on every call)."""
    for value in values:
        if type(value) is not ObjectRef:
            return False
    return True
