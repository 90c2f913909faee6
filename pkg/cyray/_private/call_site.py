"""Where ObjectRefs are created, for `cyray memory` and list_objects, when the
record_ref_creation_sites knob (CYRAY_record_ref_creation_sites=1) is on. Off by default:
it costs a walk of the caller's stack per call."""

from __future__ import annotations

import os
import sys

from cyray._private.config_knobs import knob

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Read once, when cyray is imported (the C++ core reads its knobs once per process).
RECORDING = knob("record_ref_creation_sites")


def call_site(kind: str) -> str:
    """"(kind) file:line:function" of the nearest frame outside cyray."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return f"({kind}) <unknown>"
    code = frame.f_code
    return f"({kind}) {code.co_filename}:{frame.f_lineno}:{code.co_name}"


def record(core_worker, refs, kind: str) -> None:
    """Records the call site of `refs` (ObjectRefs just made); callers check RECORDING
    first, so nothing is spent when recording is off."""
    site = call_site(kind)
    for ref in refs:
        core_worker.set_call_site(ref.binary(), site)
