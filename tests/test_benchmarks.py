"""The benchmarks' input cache: keyed on the code that makes the inputs, not on the models' code."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from sketch_accuracy import package_sources  # noqa: E402


def test_the_cache_key_covers_what_split_runs_and_not_the_readers():
    names = {path.name for path in package_sources("mnist_sketch.segment")}
    assert {"segment.py", "preprocess.py", "strokes.py", "number_strip.py"} <= names
    assert not names & {"predict.py", "number_model.py", "model.py"}
    assert all(path.is_file() for path in package_sources("mnist_sketch.segment"))
