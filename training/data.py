"""MNIST loading: the Keras download by default, or a local .npz for offline machines."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

VALIDATION_SIZE = 5000  # the last 5,000 training images; the test set is used once, at the end
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DataUnavailable(RuntimeError):
    """MNIST could be neither downloaded nor read from the given file."""


class Mnist(NamedTuple):
    """uint8 images (n, 28, 28), 0 = background, 255 = ink, and uint8 labels (n,) 0-9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    sha256: str  # of the four canonical arrays, so a download and a local copy hash alike


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in MNIST_KEYS if k not in z.files]
            if missing:
                raise DataUnavailable(f"{path} lacks the arrays {missing}; expected {list(MNIST_KEYS)}.")
            return tuple(z[k] for k in MNIST_KEYS)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataUnavailable(
            f"Cannot read MNIST from {path}: it is not an .npz archive ({exc.__class__.__name__}). "
            f"Pass `--data` an .npz with the arrays {', '.join(MNIST_KEYS)}, like Keras' mnist.npz."
        ) from exc


def _download() -> tuple[np.ndarray, ...]:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # urllib, HTTP and file errors alike: no data to train on
        raise DataUnavailable(
            f"Could not download MNIST ({exc.__class__.__name__}: {exc}). Offline? Pass a local copy "
            "with `--data PATH/mnist.npz` (arrays x_train, y_train, x_test, y_test) or set MNIST_NPZ."
        ) from exc
    return x_train, y_train, x_test, y_test


def _check(arrays: tuple[np.ndarray, ...], source: str, validation_size: int) -> None:
    x_train, y_train, x_test, y_test = arrays
    for x, y, name in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) != len(y):
            raise DataUnavailable(f"{source}: {name} images must be (n, 28, 28) with n labels; "
                                  f"got {x.shape}, {y.shape}.")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataUnavailable(f"{source}: {name} labels must be digits 0-9.")
    if len(x_train) <= validation_size:
        raise DataUnavailable(f"{source}: need more than {validation_size} training images; got {len(x_train)}.")


def load_mnist(path: str | Path | None = None, validation_size: int = VALIDATION_SIZE) -> Mnist:
    """Load MNIST from `path` (an .npz) or, when None, with `keras.datasets.mnist.load_data()`.

    The last `validation_size` training images become the validation split.
    Raises DataUnavailable with a message that says what to do.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise DataUnavailable(f"No MNIST file at {path}. "
                                  "Pass `--data PATH/mnist.npz` pointing at an existing file.")
        arrays = _read_npz(path)
        source = str(path)
    else:
        arrays = _download()
        source = "keras.datasets.mnist"
    _check(arrays, source, validation_size)
    x_train, y_train, x_test, y_test = (np.asarray(a, dtype=np.uint8) for a in arrays)
    digest = hashlib.sha256()
    for a in (x_train, y_train, x_test, y_test):
        digest.update(np.ascontiguousarray(a).tobytes())
    v = len(x_train) - validation_size
    return Mnist(x_train[:v], y_train[:v], x_train[v:], y_train[v:], x_test, y_test, digest.hexdigest())
