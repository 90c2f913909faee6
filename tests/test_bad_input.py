"""Misuse of the API gets a clear error at the call site, and the cluster carries on."""

import pickle
import threading

import pytest
from conftest import assert_tasks_still_run

import cyray as ray

SERIALIZE_ERRORS = (TypeError, pickle.PicklingError)
OPTION_ERRORS = (ValueError, TypeError)


def test_direct_call_of_remote_function(ray_start_shared):
    @ray.remote
    def f(x):
        return x

    with pytest.raises(TypeError, match=r"\.remote\("):
        f(1)
    assert ray.get(f.remote(1)) == 1
    assert_tasks_still_run()


def test_get_of_non_ref(ray_start_shared):
    with pytest.raises((TypeError, ValueError), match="ObjectRef"):
        ray.get(5)
    with pytest.raises((TypeError, ValueError), match="ObjectRef"):
        ray.get("not a ref")
    with pytest.raises((TypeError, ValueError), match="ObjectRef"):
        ray.get([ray.put(1), 5])
    assert_tasks_still_run()


def test_put_of_object_ref(ray_start_shared):
    ref = ray.put(1)
    with pytest.raises(TypeError):
        ray.put(ref)
    # Wrapped in a container it is fine.
    [inner] = ray.get(ray.put([ref]))
    assert ray.get(inner) == 1
    assert_tasks_still_run()


def test_wrong_number_of_arguments(ray_start_shared):
    @ray.remote
    def one_arg(x):
        return x

    with pytest.raises(TypeError):
        one_arg.remote(1, 2)
    with pytest.raises(TypeError):
        one_arg.remote()
    with pytest.raises(TypeError):
        one_arg.remote(1, y=2)
    assert ray.get(one_arg.remote(x=3)) == 3
    assert_tasks_still_run()


@pytest.mark.parametrize("call, ok", [
    ((), False), ((1,), True), ((1, 2), True), ((1, 2, 3), False),
])
def test_positional_calls_are_checked_without_keywords(ray_start_shared, call, ok):
    # Plain positional calls take a fast check instead of Signature.bind: same verdicts.
    @ray.remote
    def defaulted(a, b=2):
        return a + b

    @ray.remote
    def keyword_only(a, *, k):
        return a + k

    @ray.remote
    def variadic(a, *rest):
        return a + sum(rest)

    if ok:
        assert ray.get(defaulted.remote(*call)) == sum(call) + (2 if len(call) == 1 else 0)
    else:
        with pytest.raises(TypeError, match="defaulted.remote"):
            defaulted.remote(*call)
    with pytest.raises(TypeError, match="missing a required argument: 'k'"):
        keyword_only.remote(*call[:1] or (1,))
    if call:
        assert ray.get(variadic.remote(*call)) == sum(call)
    else:
        with pytest.raises(TypeError, match="missing a required argument: 'a'"):
            variadic.remote()


def test_unserializable_argument(ray_start_shared):
    @ray.remote
    def f(x):
        return x

    with pytest.raises(TypeError, match="(?i)serializ"):
        f.remote(threading.Lock())
    with pytest.raises(TypeError, match="(?i)serializ"):
        f.remote(x=[1, threading.Lock()])
    assert_tasks_still_run()


def test_unserializable_closure(ray_start_shared):
    lock = threading.Lock()

    @ray.remote
    def uses_lock():
        return lock.locked()

    # The function itself cannot be pickled: the error comes at submission.
    with pytest.raises(SERIALIZE_ERRORS, match="(?i)serializ|pickl"):
        uses_lock.remote()
    assert_tasks_still_run()


def test_unserializable_return_value(ray_start_shared):
    @ray.remote
    def make_lock():
        return threading.Lock()

    with pytest.raises(ray.exceptions.RayTaskError, match="(?i)serializ|pickl"):
        ray.get(make_lock.remote(), timeout=60)
    assert_tasks_still_run()


def test_unknown_option_in_decorator(ray_start_shared):
    with pytest.raises(OPTION_ERRORS, match="bad_option"):

        @ray.remote(bad_option=1)
        def f():
            return 1

        f.remote()
    assert_tasks_still_run()


@pytest.mark.parametrize(
    "options,name",
    [
        ({"num_cpus": "x"}, "num_cpus"),
        ({"num_cpus": -1}, "num_cpus"),
        ({"num_returns": -1}, "num_returns"),
        ({"max_retries": -2}, "max_retries"),
        ({"bad_option": 1}, "bad_option"),
    ],
)
def test_bad_options(ray_start_shared, options, name):
    @ray.remote
    def f():
        return 1

    with pytest.raises(OPTION_ERRORS, match=name):
        f.options(**options).remote()
    assert ray.get(f.remote()) == 1
    assert_tasks_still_run()


def test_bad_num_returns_in_decorator(ray_start_shared):
    with pytest.raises(OPTION_ERRORS, match="num_returns"):

        @ray.remote(num_returns=-1)
        def f():
            return 1

        f.remote()
    assert_tasks_still_run()


def test_wait_bad_arguments(ray_start_shared):
    a = ray.put(1)
    b = ray.put(2)
    with pytest.raises(ValueError):
        ray.wait([a, a])
    with pytest.raises(ValueError):
        ray.wait([a, b], num_returns=3)
    with pytest.raises((TypeError, ValueError)):
        ray.wait([a, b], num_returns=0)
    with pytest.raises(TypeError):
        ray.wait(a)
    with pytest.raises(TypeError):
        ray.wait([a, 5])
    assert ray.wait([a, b], num_returns=2, timeout=10) == ([a, b], [])
    assert_tasks_still_run()
