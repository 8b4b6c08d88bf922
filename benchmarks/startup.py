"""How long `python app.py` takes to serve when the Hub cannot be reached, next to HF_HUB_OFFLINE=1 and to
the bare imports.

Each scenario starts `python app.py` on a free loopback port with an empty
Hugging Face cache and measures the seconds until it answers HTTP:

- HF_HUB_OFFLINE=1 (the baseline: no attempt at the Hub at all);
- the Hub unreachable: HF_ENDPOINT on a loopback port where nothing listens;
- the default endpoint, as this machine's network has it (unreachable without internet).

The floor, measured in turn with them: `python -c "import tensorflow, gradio"`, run to its end.

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


BARE_IMPORTS = "import tensorflow, gradio"


def app_env(home: str, port: int, extra_env: dict[str, str]) -> dict[str, str]:
    """The environment of one start: no HF_/MODEL_ settings of this shell, an HF cache in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MODEL_"))}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HOME=home,
               FEEDBACK_DIR=str(Path(home) / "feedback"), TF_CPP_MIN_LOG_LEVEL="2", **extra_env)
    return env


def time_to_import() -> float:
    """Seconds that `python -c "import tensorflow, gradio"` takes, start to end."""
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_IMPORTS], env=app_env(home, 0, {}), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def time_to_serve(extra_env: dict[str, str]) -> float:
    """Seconds from starting `python app.py` to its first HTTP answer (an empty HF cache each time)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = app_env(home, port, extra_env)
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
    measures = {f'python -c "{BARE_IMPORTS}"': time_to_import,
                **{name: (lambda extra=extra: time_to_serve(extra)) for name, extra in scenarios.items()}}
    print(f"seconds until `python app.py` serves, {args.repeats} starts each, empty HF cache, {os.cpu_count()} CPUs "
          f"({sys.executable})")
    times: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(args.repeats):  # in turn, so that the machine's load weighs on each alike
        for name, measure in measures.items():
            times[name].append(measure())
    bare = statistics.median(times[next(iter(measures))])
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:<36} median {median:5.1f} s   (min {min(seconds):.1f}, max {max(seconds):.1f})   "
              f"{median / bare:.2f}x the bare imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
