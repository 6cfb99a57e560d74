"""A real `pip install --no-build-isolation --target TMP` of clients/python
(offline: --no-index), then an import of the installed copy that talks to a
server. The install uses the first Python on this machine that has pip,
setuptools and wheel (building a wheel needs wheel with setuptools < 70.1);
the test is skipped, saying so, when none has them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path
from typing import Optional

import support
from support import RW_KEY, Server

PROBE = (
    "import importlib.util as u, sys\n"
    "import setuptools\n"
    "v = tuple(int(x) for x in setuptools.__version__.split('.')[:2])\n"
    "ok = u.find_spec('pip') is not None and (v >= (70, 1) or u.find_spec('wheel') is not None)\n"
    "sys.exit(0 if ok and v >= (61, 0) else 1)\n"
)


def builder_python() -> Optional[str]:
    """Returns a Python that can build the package without downloading."""
    seen = set()
    for cand in (sys.executable, shutil.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"):
        if not cand or not os.access(cand, os.X_OK):
            continue
        real = os.path.realpath(cand)
        if real in seen:
            continue
        seen.add(real)
        try:
            r = subprocess.run([cand, "-c", PROBE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return cand
    return None


class InstallTest(unittest.TestCase):
    def test_pip_install_offline(self):
        py = builder_python()
        if py is None:
            self.skipTest("no Python here has pip, setuptools >= 61 and wheel: cannot build the package offline")
        with tempfile.TemporaryDirectory(prefix="lsmvec-pip-") as tmp:
            # Build from a copy: setuptools writes build/ and *.egg-info next
            # to the sources.
            src = Path(tmp) / "src"
            shutil.copytree(
                support.PKG_ROOT, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tests")
            )
            target = Path(tmp) / "site"
            env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
            p = subprocess.run(
                [
                    py,
                    "-m",
                    "pip",
                    "install",
                    "--no-build-isolation",
                    "--no-deps",
                    "--no-index",
                    "--quiet",
                    "--target",
                    str(target),
                    str(src),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=120,
            )
            self.assertEqual(p.returncode, 0, f"pip install failed ({py}):\n{p.stdout}")
            pkg = target / "lsmvec_client"
            for name in ("__init__.py", "client.py", "errors.py", "py.typed"):
                self.assertTrue((pkg / name).is_file(), f"{name} not installed")
            dist = list(target.glob("lsmvec_client-*.dist-info"))
            self.assertEqual(len(dist), 1, list(target.iterdir()))
            meta = (dist[0] / "METADATA").read_text(encoding="utf-8")
            self.assertIn("Name: lsmvec-client", meta)
            self.assertNotIn("Requires-Dist: numpy\n", meta.replace('; extra == "numpy"', ""))

            with Server() as srv:
                code = textwrap.dedent(
                    """
                    import os, lsmvec_client
                    from lsmvec_client import Client
                    assert os.path.realpath(lsmvec_client.__file__).startswith(os.path.realpath(os.environ["TARGET"])), lsmvec_client.__file__
                    with Client(os.environ["LSMVEC_URL"], api_key=os.environ["LSMVEC_API_KEY"]) as c:
                        c.insert(5, [1.0, 2.0])
                        print(lsmvec_client.__version__, c.search([1.0, 2.0], k=1)[0].id)
                    """
                )
                env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
                env.update(PYTHONPATH=str(target), TARGET=str(target), LSMVEC_URL=srv.url, LSMVEC_API_KEY=RW_KEY)
                r = subprocess.run(
                    [py, "-c", code], env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60
                )
                self.assertEqual(r.returncode, 0, r.stderr)
                version = next(line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Version:"))
                self.assertEqual(r.stdout.strip(), f"{version} 5")  # __version__ matches pyproject.toml


if __name__ == "__main__":
    unittest.main()
