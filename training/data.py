"""MNIST loading: the Keras download by default, or a local .npz for offline machines."""

from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

VALIDATION_SIZE = 5000  # the last 5,000 training images; the test set is used once, at the end
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
# What the arrays of a data file may take once read: MNIST's take 55 MB, the pen data's 13 MB. A few KB of
# zipped zeros can declare gigabytes, so the archive's and the arrays' own headers are checked first.
MAX_NPZ_BYTES = 512 * 2**20


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


def read_npz(path: Path, keys: tuple[str, ...], what: str, expected: str,
             unavailable: type[DataUnavailable] = DataUnavailable,
             max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """The arrays `keys` of the .npz at `path`, read only after the archive's member headers and each array's
    .npy header say they are all there, hold no Python objects, and take at most `max_bytes` in all.

    Raises `unavailable` with one sentence naming the file (`what` is read from it, `expected` says what
    should be there), never a traceback.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            missing = [k for k in keys if k not in members]
            if missing:
                raise unavailable(f"{path} lacks the arrays {missing}: expected {expected}.")
            total = 0
            for key in keys:
                with archive.open(members[key]) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                if dtype.hasobject:
                    raise unavailable(f"{path}: the array {key!r} is an object array (dtype object), which is never "
                                      f"loaded: it could run code. Expected {expected}.")
                total += max(math.prod(shape) * dtype.itemsize, members[key].file_size)
            if total > max_bytes:
                raise unavailable(f"{path}: its arrays would take {total / 2**20:,.0f} MB once read, more than the "
                                  f"{max_bytes / 2**20:,.0f} MB a data file may take. Expected {expected}.")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise unavailable(f"Cannot read {what} from {path}: it is not an .npz archive ({exc.__class__.__name__}). "
                          f"Expected {expected}.") from None


def _read_npz(path: Path) -> tuple[np.ndarray, ...]:
    arrays = read_npz(path, MNIST_KEYS, "MNIST", f"an .npz with the arrays {', '.join(MNIST_KEYS)}, like Keras' "
                      "mnist.npz (pass it with `--data`)")
    return tuple(arrays[k] for k in MNIST_KEYS)


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
        if not np.issubdtype(x.dtype, np.number) or (x.size and not (np.isfinite(x).all() and 0 <= x.min()
                                                                      and x.max() <= 255)):
            raise DataUnavailable(f"{source}: {name} images must be numbers 0-255 (255 = ink); got {x.dtype}.")
        if not check_labels(y):
            raise DataUnavailable(f"{source}: {name} labels must be integers 0-9; got {y.dtype} "
                                  f"{value_range(y)}.")
    if len(x_train) <= validation_size:
        raise DataUnavailable(f"{source}: need more than {validation_size} training images; got {len(x_train)}.")


def check_labels(labels: np.ndarray) -> bool:
    """Whether `labels` are integers 0-9 (of an integer dtype: 3.5 or 256 is not a digit, whatever its cast)."""
    return np.issubdtype(labels.dtype, np.integer) and (not labels.size or (0 <= labels.min() and labels.max() <= 9))


def value_range(values: np.ndarray) -> str:
    """"from A to B" for a numeric array, for a message; "" otherwise."""
    if values.size and np.issubdtype(values.dtype, np.number):
        return f"from {values.min()} to {values.max()}"
    return ""


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
