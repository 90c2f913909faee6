# cython: language_level=3
# distutils: language = c++
"""cyray._raylet: the Cython layer over cyray's C++ core.

Each subsystem is a .pxi included below; the C++ API is declared in the .pxd
files beside this one (common.pxd, core_worker.pxd)."""

from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libcpp.map cimport map as c_map
from libcpp.string cimport string as c_string

from common cimport *

include "status.pxi"
include "ids.pxi"
include "config.pxi"
