"""Builds lsm_vec's Go engine (python/lsm_vec/capi) into the package.

pyproject.toml holds the metadata; this file only adds the build step: the
build_py command runs `go build -buildmode=c-shared` and puts _lsmvec.so
next to the Python modules. Go is found as $GO, on PATH, or in
/usr/local/go/bin; without it the build stops with a message saying so.
Build files go to .tmp/pybuild (ignored by git), not ./build.
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = os.path.dirname(os.path.abspath(__file__))


def find_go():
    for cand in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


class BuildGo(build_py):
    """build_py plus `go build -buildmode=c-shared` of python/lsm_vec/capi."""

    def run(self):
        super().run()
        go = find_go()
        if go is None:
            sys.exit("error: lsm_vec needs Go (1.26 or newer) to build its engine, and none was found: "
                     "install Go, put it on PATH or set GO=/path/to/go, then run pip again")
        if shutil.which(os.environ.get("CC", "gcc")) is None and shutil.which("cc") is None:
            sys.exit("error: lsm_vec's engine uses cgo and needs a C compiler (gcc or cc, or $CC)")
        out = os.path.join(os.path.abspath(self.build_lib), "lsm_vec", "_lsmvec.so")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        env = dict(os.environ, CGO_ENABLED="1")
        cmd = [go, "build", "-buildmode=c-shared", "-o", out, "./python/lsm_vec/capi"]
        self.announce("running " + " ".join(cmd), level=2)
        try:
            subprocess.check_call(cmd, cwd=ROOT, env=env)
        except subprocess.CalledProcessError as e:
            sys.exit("error: go build of the lsm_vec engine failed (exit %d)" % e.returncode)
        h = out[:-3] + ".h"  # the generated C header: not needed at run time
        if os.path.exists(h):
            os.remove(h)


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(
    cmdclass={"build_py": BuildGo},
    distclass=BinaryDistribution,
    options={"build": {"build_base": os.path.join(".tmp", "pybuild")},
             "egg_info": {"egg_base": os.path.join(".tmp", "pybuild")}},
)
