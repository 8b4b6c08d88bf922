"""How long `python app.py` takes to serve when the Hub cannot be reached, next to HF_HUB_OFFLINE=1.

Each scenario starts `python app.py` on a free loopback port with an empty
Hugging Face cache and measures the seconds until it answers HTTP:

- HF_HUB_OFFLINE=1 (the baseline: no attempt at the Hub at all);
- the Hub unreachable: HF_ENDPOINT on a loopback port where nothing listens;
- the default endpoint, as this machine's network has it (unreachable without internet).

    python benchmarks/startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from load import free_port  # noqa: E402


def time_to_serve(extra_env: dict[str, str]) -> float:
    """Seconds from starting `python app.py` to its first HTTP answer (an empty HF cache each time)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MODEL_"))}
        env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HOME=home,
                   FEEDBACK_DIR=str(Path(home) / "feedback"), TF_CPP_MIN_LOG_LEVEL="2", **extra_env)
        start = time.perf_counter()
        app = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while app.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2):
                        return time.perf_counter() - start
                except OSError:
                    time.sleep(0.1)
            raise SystemExit(f"app.py exited with code {app.returncode} before serving")
        finally:
            app.terminate()
            app.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scenarios = {
        "HF_HUB_OFFLINE=1 (baseline)": {"HF_HUB_OFFLINE": "1"},
        "Hub unreachable (closed port)": {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"},
        "default endpoint, this network": {},
    }
    print(f"seconds until `python app.py` serves, {args.repeats} starts each, empty HF cache, {os.cpu_count()} CPUs")
    for name, extra in scenarios.items():
        times = [time_to_serve(extra) for _ in range(args.repeats)]
        print(f"{name:<32} median {statistics.median(times):5.1f} s   (min {min(times):.1f}, max {max(times):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
