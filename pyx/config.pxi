# Read-only view of the C++ config knobs (cyray/common/config_def.h).


def config():
    """Every config knob: {name: (value as text, type, one-line doc)}.

    Each knob is overridden by the environment variable CYRAY_<name>."""
    cdef c_map[c_string, CKnobInfo] knobs = CCyrayConfig.Instance().Describe()
    out = {}
    for item in knobs:
        out[item.first.decode()] = (
            item.second.value.decode(), item.second.type.decode(), item.second.doc.decode())
    return out
