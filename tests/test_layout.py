"""The package's line: the reading core imports no Gradio, the Space's pieces live beside it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import mnist_sketch
import space
from conftest import ROOT


def core_modules() -> list[str]:
    return [f"mnist_sketch.{m.name}" for m in pkgutil.iter_modules(mnist_sketch.__path__)]


def test_the_core_holds_the_reader_and_the_space_holds_what_gradio_needs():
    assert {"mnist_sketch.predict", "mnist_sketch.strokes", "mnist_sketch.model_source"} <= set(core_modules())
    assert {"stroke_pad", "image_input", "feedback", "gradio_cache", "gradio_sessions"} <= {
        m.name for m in pkgutil.iter_modules(space.__path__)}


def test_importing_every_core_module_imports_no_gradio():
    code = ("import sys\n"
            f"for name in {core_modules()!r}: __import__(name)\n"
            "leaked = sorted(m for m in sys.modules if m == 'gradio' or m.startswith(('gradio.', 'gradio_client')))\n"
            "print(leaked)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_check_sees_gradio_when_it_is_imported():
    """The check above can fail: a module that imports Gradio is caught."""
    code = "import sys, space.gradio_sessions; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
