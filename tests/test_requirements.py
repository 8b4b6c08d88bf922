"""requirements.txt installs exactly one TensorFlow on each platform: the CPU-only build where it exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
TENSORFLOWS = {"tensorflow", "tensorflow-cpu"}
# The marker variables of each platform (what `packaging.markers.default_environment()` says there).
PLATFORMS = {
    "macOS arm64": {"sys_platform": "darwin", "platform_machine": "arm64", "platform_system": "Darwin",
                    "os_name": "posix"},
    "Linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64", "platform_system": "Linux",
                      "os_name": "posix"},
    "Linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux",
                     "os_name": "posix"},
    "Windows": {"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows",
                "os_name": "nt"},
}
# tensorflow-cpu 2.21.0 has wheels for Linux x86_64 and Windows only (pip download --platform).
EXPECTED = {"macOS arm64": "tensorflow", "Linux aarch64": "tensorflow", "Linux x86_64": "tensorflow-cpu",
            "Windows": "tensorflow-cpu"}


def requirements() -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines())
    return [Requirement(line) for line in lines if line]


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_each_platform_gets_one_tensorflow_the_cpu_build_where_it_exists(platform):
    environment = {**PLATFORMS[platform], "python_version": "3.11", "python_full_version": "3.11.7",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    chosen = [r for r in requirements() if r.name in TENSORFLOWS
              and (r.marker is None or r.marker.evaluate(environment))]
    assert [r.name for r in chosen] == [EXPECTED[platform]]
    assert str(chosen[0].specifier) == "==2.21.0"


def test_both_tensorflow_builds_are_the_same_release():
    assert {str(r.specifier) for r in requirements() if r.name in TENSORFLOWS} == {"==2.21.0"}
