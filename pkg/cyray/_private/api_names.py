"""Names of Ray's top-level API that cyray has only as Python: the ID types Ray defines
in Cython that cyray's core does not use (they belong beside the others in pyx/ids.pxi
when it is next rebuilt), `Language`, and the entry points of features cyray does not
have (cross-language calls, Ray Client), which raise saying so."""

from cyray._raylet import UniqueID


class FunctionID(UniqueID):
    """The ID of a remote function (28 bytes), as ray.FunctionID."""


class ActorClassID(UniqueID):
    """The ID of an actor class (28 bytes), as ray.ActorClassID."""


class ClusterID(UniqueID):
    """The ID of a cluster (28 bytes), as ray.ClusterID."""


class Language:
    """The language of a function or actor: Language.PYTHON, JAVA or CPP, as Ray's."""

    __slots__ = ("_value", "_name")

    def __init__(self, value, name):
        self._value = value
        self._name = name

    def value(self):
        return self._value

    def __eq__(self, other):
        return isinstance(other, Language) and other._value == self._value

    def __hash__(self):
        return hash(self._value)

    def __repr__(self):
        return self._name

    __str__ = __repr__

    def __reduce__(self):
        return getattr, (Language, self._name)


Language.PYTHON = Language(0, "PYTHON")
Language.JAVA = Language(1, "JAVA")
Language.CPP = Language(2, "CPP")


def _cross_language(what):
    return NotImplementedError(
        f"{what}: cyray runs Python functions and actors only; cross-language calls (Java, "
        "C++) are not supported.")


def java_function(class_name, function_name):
    """Ray's handle to a Java static method; cyray raises NotImplementedError."""
    raise _cross_language(f"cyray.java_function({class_name!r}, {function_name!r})")


def cpp_function(function_name):
    """Ray's handle to a C++ function; cyray raises NotImplementedError."""
    raise _cross_language(f"cyray.cpp_function({function_name!r})")


def java_actor_class(class_name):
    """Ray's handle to a Java actor class; cyray raises NotImplementedError."""
    raise _cross_language(f"cyray.java_actor_class({class_name!r})")


_NO_CLIENT = ("Ray Client (ray:// addresses, ray.client()) is not supported by cyray. Run "
              "the driver on a node of the cluster and connect with "
              "cyray.init(address=\"host:port\") or cyray.init(address=\"auto\").")


class ClientBuilder:
    """Ray Client's connection builder; cyray has no Ray Client, so constructing one
    raises NotImplementedError."""

    def __init__(self, address=None):
        raise NotImplementedError(_NO_CLIENT)


def client(address=None, _deprecation_warn_enabled=True):
    """Ray Client's entry point; cyray raises NotImplementedError."""
    raise NotImplementedError(_NO_CLIENT)
