"""Finding what keeps an object from being serialized (as ray.util.check_serialize).

`inspect_serializability` pickles the object as cyray stores values; when that fails it
looks inside, `depth` levels down: a function's global and nonlocal variables, another
object's methods and non-dunder attributes. The innermost parts that fail on their own
are reported (an object none of whose parts fails is reported itself).
"""

import inspect

from cyray._private import serialization

__all__ = ["FailureTuple", "inspect_serializability"]

_RULE_WIDTH = 80


class FailureTuple:
    """A part that failed to serialize: `obj`, the names leading to it from the inspected
    object (`path`), and the object holding it (`parent`, None at the top)."""

    def __init__(self, obj, path, parent):
        self.obj = obj
        self.path = path
        self.parent = parent

    def __repr__(self):
        names = [str(name) if name is not None else "unknown" for name in self.path]
        return (f"FailTuple({names[-1] if names else 'unknown'} [path={' -> '.join(names)}, "
                f"obj={self.obj}, parent={self.parent}])")


class _Report:
    def __init__(self, print_file):
        self.print_file = print_file
        self.level = 0

    def line(self, text):
        print("    " * self.level + text, file=self.print_file)


def inspect_serializability(base_obj, name=None, depth=3, print_file=None):
    """Whether `base_obj` serializes, and the set of FailureTuples of the parts that keep
    it from serializing, found up to `depth` levels inside it. A report goes to
    `print_file` (default: stdout)."""
    report = _Report(print_file)
    heading = f"Checking Serializability of {base_obj}"
    rule = "=" * min(len(heading), _RULE_WIDTH)
    report.line(rule)
    report.line(heading)
    report.line(rule)
    failures = set()
    serializable = _inspect(base_obj, name, depth, None, (), failures, report)
    if not serializable:
        report.line(rule)
        found = "\n".join(f"\t{failure}" for failure in failures)
        report.line(f"Variable: \n\n{found}\n\nwas found to be non-serializable. There may be "
                    "multiple other undetected variables that were non-serializable.")
        report.line("Consider either removing the instantiation/imports of these variables "
                    "or moving the instantiation into the scope of the function/class.")
    report.line(rule)
    return serializable, failures


def _serialization_error(obj):
    try:
        serialization.dumps(obj)
    except Exception as e:
        return e
    return None


def _inspect(obj, name, depth, parent, path, failures, report):
    """False (adding to `failures`) if `obj` does not serialize."""
    if parent is not None:
        report.line(f"Serializing '{name}' {obj}...")
    error = _serialization_error(obj)
    if error is None:
        return True
    report.line(f"!!! FAIL serialization: {error}")
    here = path + ((name,) if name is not None else ())
    if depth <= 0 or not _inspect_parts(obj, depth, here, failures, report):
        failures.add(FailureTuple(obj, here, parent))
    return False


def _inspect_parts(obj, depth, path, failures, report):
    """Whether some part of `obj` fails to serialize on its own (reported in `failures`)."""
    if inspect.isfunction(obj):
        report.line(f"Inspecting closure of '{obj.__qualname__}':")
        try:
            closure = inspect.getclosurevars(obj)
        except (TypeError, ValueError):
            return False
        groups = (("global", closure.globals), ("nonlocal", closure.nonlocals))
    else:
        groups = (("member", dict(_members(obj))),)
    for kind, parts in groups:
        if not parts:
            continue
        report.line(f"Detected {len(parts)} {kind} variables. Checking serializability...")
        report.level += 1
        try:
            for part_name, part in parts.items():
                if not _inspect(part, part_name, depth - 1, obj, path, failures, report):
                    return True
        finally:
            report.level -= 1
    return False


def _members(obj):
    """(name, value) of the functions and non-dunder attributes of `obj`, functions first."""
    try:
        members = inspect.getmembers(obj)
    except Exception:
        return []
    # Methods bound to obj itself are left out: they fail only because obj does.
    members = [(name, value) for name, value in members
               if not (name.startswith("__") and name.endswith("__"))
               and not inspect.isbuiltin(value)
               and not (inspect.ismethod(value) and value.__self__ is obj)]
    return sorted(members, key=lambda member: not inspect.isfunction(member[1]))
