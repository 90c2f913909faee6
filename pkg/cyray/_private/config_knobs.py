"""Config knobs (cpp/src/cyray/common/config_def.h) as Python values. The C++ core reads
each once per process, from CYRAY_<name> in the environment or its default."""

import functools

_PARSE = {"bool": lambda value: value == "true", "double": float, "int64_t": int}


@functools.lru_cache(maxsize=None)
def knob(name):
    """The value of knob `name` (KeyError for a name config_def.h does not have)."""
    from cyray._raylet import config

    value, kind = config()[name][:2]
    return _PARSE.get(kind, str)(value)
