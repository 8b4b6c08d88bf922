"""Fewer malloc arenas for the server: its memory levels off instead of creeping.

glibc gives threads their own malloc arenas, up to 8 per core. Gradio serves each
request on a worker thread, and the freed memory left scattered over many arenas
is rarely given back: a 30-minute soak (benchmarks/soak.py) grew the server by
46 MB over its last ten minutes, still rising; with the arenas limited to 2
(`MALLOC_ARENA_MAX=2`, the usual remedy for threaded Python servers), by 23 MB,
level over its last six minutes and 100 MB lower. An environment variable cannot be set from inside the process in
time for glibc to read it, and a Space's `python app.py` takes none, so the
app sets the same limit with glibc's `mallopt` before any thread starts.
"""

from __future__ import annotations

import ctypes

M_ARENA_MAX = -8  # mallopt's parameter number for the arena limit (glibc's malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Limit glibc's malloc to `arenas` arenas for the threads started from now on.

    Returns False where the C library is not glibc (macOS, musl, Windows), which is left as it is.
    """
    try:  # the process's own symbols, the C library's among them (find_library would run ldconfig)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, TypeError, AttributeError):  # no such handle (Windows), or a C library without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1  # 1 on success
