"""Runs every ```python block of clients/python/README.md, as written, against
a fresh server each, and checks what it prints against the block's
"# -> expected" comments, in order. Blocks that import numpy are skipped
when numpy is not installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unittest

import support
from support import RW_KEY, Server

README = support.PKG_ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
EXPECT = re.compile(r"#\s*->\s*(.*)$")


def blocks():
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def expected_output(code: str):
    return [m.group(1).rstrip() for line in code.splitlines() for m in [EXPECT.search(line)] if m]


class ReadmeTest(unittest.TestCase):
    def test_blocks_found(self):
        bs = blocks()
        self.assertGreaterEqual(len(bs), 3, "the README lost its python blocks")
        self.assertIn("Client(", bs[0])
        for b in bs:
            self.assertTrue(expected_output(b), "every python block states its expected output")

    def test_python_blocks_run_as_written(self):
        for i, code in enumerate(blocks()):
            with self.subTest(block=i):
                if "import numpy" in code and support.numpy_or_none() is None:
                    self.skipTest(f"block {i} needs numpy, which is not installed")
                self.run_block(code)

    def run_block(self, code: str) -> None:
        with Server() as srv:
            env = dict(os.environ)
            env["LSMVEC_URL"] = srv.url
            env["LSMVEC_API_KEY"] = RW_KEY
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(support.SRC), env.get("PYTHONPATH")]))
            p = subprocess.run(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
            self.assertEqual(p.returncode, 0, f"block failed:\n{code}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
            got = [line.rstrip() for line in p.stdout.splitlines()]
            self.assertEqual(got, expected_output(code), f"output differs from the README's '# ->' lines:\n{code}")


if __name__ == "__main__":
    unittest.main()
