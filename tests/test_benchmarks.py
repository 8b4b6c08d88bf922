"""The benchmarks' input cache (keyed on the code that makes the inputs, not on the models' code) and scoring."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from sketch_accuracy import hits, misreadings, package_sources, topk  # noqa: E402


def test_the_cache_key_covers_what_split_runs_and_not_the_readers():
    names = {path.name for path in package_sources("mnist_sketch.segment")}
    assert {"segment.py", "preprocess.py", "strokes.py", "number_strip.py"} <= names
    assert not names & {"predict.py", "number_model.py", "model.py"}
    assert all(path.is_file() for path in package_sources("mnist_sketch.segment"))


def test_a_drawing_with_no_one_digit_reading_is_wrong_whatever_its_label():
    probs = np.zeros((4, 10))
    probs[0, 3] = probs[1, 5] = 1.0  # rows 2 and 3 were read as several digits: no one-digit reading
    truth = np.array([3, 3, 9, 0])  # zeros sort 9 first and argmax to 0: neither may count as a hit
    assert hits(probs, truth, 1).tolist() == [True, False, False, False]
    assert topk(probs, truth, 3) == 0.25 and topk(probs, truth, 10) == 0.5  # every label is in a top 10
    assert misreadings(truth[1:], probs[1:]) == "3->5: 1, 9->?: 1, 0->?: 1"
