"""The server's malloc arena limit (space.malloc_arenas) takes effect: threads share 2 arenas."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# 8 threads malloc at once, then glibc's malloc_stats() prints one "Arena N:" per arena (to stderr).
PROBE = """
import ctypes, ctypes.util, sys, threading
from space.malloc_arenas import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
together = threading.Barrier(8)
def allocate():
    together.wait()
    for _ in range(2000):
        libc.malloc(1024)
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.malloc_stats()
"""


def arenas(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    return sum(line.startswith("Arena ") for line in result.stderr.splitlines())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the limit is glibc's")
def test_threads_share_two_arenas_once_limited():
    assert arenas("none") > 2  # busy threads get arenas of their own: what the limit is for
    assert arenas("limit") == 2


def test_elsewhere_the_limit_is_a_no_op_that_says_so(monkeypatch):
    from space import malloc_arenas

    monkeypatch.setattr(malloc_arenas.ctypes, "CDLL", lambda name: object())  # a C library without mallopt
    assert malloc_arenas.limit_malloc_arenas() is False
