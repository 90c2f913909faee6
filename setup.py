"""Builds cyray: the C++ core with CMake, protobuf code for Python with
grpcio-tools, then the Cython extension cyray._raylet linked against the C++
libraries. The raylet binary is installed inside the package (cyray/core/)."""

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
CPP_DIR = os.path.join(ROOT, "cpp")
CMAKE_BUILD_DIR = os.environ.get("CYRAY_CMAKE_BUILD_DIR", os.path.join(ROOT, "build", "cmake"))
BUILD_TYPE = os.environ.get("CYRAY_BUILD_TYPE", "Release")
PROTO_DIR = os.path.join(CPP_DIR, "src")
PROTO_FILES = sorted(glob.glob(os.path.join(PROTO_DIR, "cyray", "protobuf", "*.proto")))

# Static libraries of the C++ core, in link order (users before what they use).
CORE_LIBS = [
    "src/cyray/core_worker/libcyray_core_worker.a",
    "src/cyray/rpc/libcyray_rpc.a",
    "src/cyray/protobuf/libcyray_proto.a",
    "src/cyray/common/libcyray_common.a",
]
BINARIES = ["src/cyray/raylet/raylet"]


def _version():
    with open(os.path.join(ROOT, "pkg", "cyray", "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"')
    raise RuntimeError("no __version__ in pkg/cyray/__init__.py")


def _pkg_config(*args):
    out = subprocess.check_output(["pkg-config", *args, "grpc++", "protobuf"], text=True)
    return out.split()


def build_cpp():
    """Configures (once) and builds cpp/ with CMake; incremental afterwards."""
    os.makedirs(CMAKE_BUILD_DIR, exist_ok=True)
    if not os.path.exists(os.path.join(CMAKE_BUILD_DIR, "CMakeCache.txt")):
        cmd = ["cmake", "-S", CPP_DIR, "-B", CMAKE_BUILD_DIR, f"-DCMAKE_BUILD_TYPE={BUILD_TYPE}"]
        if shutil.which("ninja"):
            cmd += ["-G", "Ninja"]
        subprocess.check_call(cmd)
    jobs = os.environ.get("CYRAY_BUILD_JOBS", str(os.cpu_count() or 2))
    # Paths under the checkout hash as relative ones, so every clone on this
    # machine shares the compiler cache.
    env = dict(os.environ, CCACHE_BASEDIR=os.environ.get("CCACHE_BASEDIR", ROOT))
    subprocess.check_call(["cmake", "--build", CMAKE_BUILD_DIR, "--", f"-j{jobs}"], env=env)


def generate_python_protos(package_root):
    """Generates cyray/protobuf/*_pb2(_grpc).py under `package_root` when stale."""
    out_dir = os.path.join(package_root, "cyray", "protobuf")
    os.makedirs(out_dir, exist_ok=True)
    init = os.path.join(out_dir, "__init__.py")
    if not os.path.exists(init):
        with open(init, "w") as f:
            f.write('"""Generated protobuf and gRPC code (from cpp/src/cyray/protobuf)."""\n')
    stale = []
    for proto in PROTO_FILES:
        name = os.path.splitext(os.path.basename(proto))[0]
        target = os.path.join(out_dir, f"{name}_pb2.py")
        if not os.path.exists(target) or os.path.getmtime(target) < os.path.getmtime(proto):
            stale.append(proto)
    if not stale:
        return
    from grpc_tools import protoc

    args = ["grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={package_root}",
            f"--grpc_python_out={package_root}", *stale]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed")


class BuildCyray(build_ext):
    def run(self):
        build_cpp()
        generate_python_protos(os.path.join(ROOT, "pkg"))
        super().run()
        pkg_dir = os.path.dirname(self.get_ext_fullpath("cyray._raylet"))
        if os.path.abspath(pkg_dir) != os.path.join(ROOT, "pkg", "cyray"):
            # A non-editable build: ship the generated Python code too.
            generate_python_protos(os.path.dirname(pkg_dir))
        core_dir = os.path.join(pkg_dir, "core")
        os.makedirs(core_dir, exist_ok=True)
        for rel in BINARIES:
            src = os.path.join(CMAKE_BUILD_DIR, rel)
            if os.path.exists(src):
                dst = os.path.join(core_dir, os.path.basename(rel))
                if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
                    shutil.copy2(src, dst + ".tmp")
                    os.replace(dst + ".tmp", dst)


def _extension():
    from Cython.Build import cythonize

    libs = [os.path.join(CMAKE_BUILD_DIR, lib) for lib in CORE_LIBS]
    link = [flag for flag in _pkg_config("--libs") if flag.startswith(("-l", "-L"))]
    ext = Extension(
        "cyray._raylet",
        sources=["pyx/_raylet.pyx"],
        include_dirs=[os.path.join(CPP_DIR, "src"), os.path.join(CMAKE_BUILD_DIR, "gen")],
        language="c++",
        extra_compile_args=["-std=c++17", "-O2", "-Wno-unused-function"],
        extra_objects=[lib for lib in libs],
        extra_link_args=link + ["-lpthread"],
        depends=libs + glob.glob("pyx/*.pxd") + glob.glob("pyx/*.pxi"),
    )
    return cythonize([ext], include_path=["pyx"], language_level=3,
                     compiler_directives={"embedsignature": True}, quiet=True)


if "egg_info" in sys.argv or "dist_info" in sys.argv:
    ext_modules = []
else:
    ext_modules = _extension()

setup(
    name="cyray",
    version=_version(),
    description="A distributed task and actor runtime for Python that speaks Ray Core's API",
    package_dir={"": "pkg"},
    packages=find_packages("pkg"),
    package_data={"cyray": ["core/*", "dashboard/static/*"]},
    ext_modules=ext_modules,
    cmdclass={"build_ext": BuildCyray},
    python_requires=">=3.9",
    install_requires=["cloudpickle", "grpcio", "protobuf", "redis", "setproctitle", "psutil"],
    entry_points={"console_scripts": ["cyray=cyray.scripts.cli:main"]},
)
