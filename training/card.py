"""The model card: README.md of the model folder, rendered from the top-level model_card.md."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from mnist_sketch.model_source import DEFAULT_MODEL_REPO
from training.pen_digits import DEFAULT_REPO as PEN_DATASET
from training.pen_digits import SOURCES

TEMPLATE = Path(__file__).resolve().parent.parent / "model_card.md"
MODEL_NAME = "mnist-sketch CNN"
NUMBERS_METRICS = "numbers_metrics.json"  # written by `python -m training.train_numbers`
PATH_METRICS = "trajectory_metrics.json"  # written by `python -m training.train_trajectory`


def card_data(test_accuracy: float, repo_id: str, pen_drawn: dict | None = None,
              pen_data: dict | None = None) -> ModelCardData:
    """The card's YAML metadata, with the measured test accuracy (and, when measured, the accuracy on
    pen-drawn dev digits, as strokes and as images) in its model-index; the pen dataset among the
    datasets when it was trained on."""
    results = [
        EvalResult(
            task_type="image-classification",
            task_name="Image Classification",
            dataset_type="ylecun/mnist",
            dataset_name="MNIST",
            dataset_split="test",
            metric_type="accuracy",
            metric_name="Test accuracy",
            metric_value=round(test_accuracy, 4),
        )
    ]
    if pen_drawn:
        for metric_name, value in (("Top-1 accuracy, the pen's strokes", pen_drawn["strokes"]["top1"]),
                                   ("Top-1 accuracy, mean of six sketchpad renderings", pen_drawn["mean"]["top1"])):
            results.append(EvalResult(
                task_type="image-classification",
                task_name="Image Classification",
                dataset_type=PEN_DATASET,
                dataset_name="Pen-drawn digits (UNIPEN, UCI pendigits, UJI Pen Characters), unseen writers",
                dataset_split="dev",
                metric_type="accuracy",
                metric_name=metric_name,
                metric_value=round(value, 4),
            ))
    return ModelCardData(
        model_name=MODEL_NAME,
        library_name="keras",
        license="mit",
        datasets=["ylecun/mnist", PEN_DATASET] if pen_data else ["ylecun/mnist"],
        pipeline_tag="image-classification",
        tags=["keras", "tensorflow", "mnist", "digit-recognition", "sketch", "image-classification"],
        metrics=["accuracy"],
        eval_results=results,
    )


def write_card(folder: Path, metrics: dict, repo_id: str | None = None) -> ModelCard:
    """Render README.md in `folder` from `metrics` (as written to metrics.json), and from the number
    reader's numbers_metrics.json and the path model's trajectory_metrics.json when the folder has them."""
    repo_id = repo_id or DEFAULT_MODEL_REPO
    numbers_path, path_model_path = folder / NUMBERS_METRICS, folder / PATH_METRICS
    card = ModelCard.from_template(
        card_data(metrics["test_accuracy"], repo_id, metrics.get("pen_drawn"), metrics.get("pen_data")),
        template_path=str(TEMPLATE),
        repo_id=repo_id,
        model_name=MODEL_NAME,  # ModelCardData keeps it for the model-index only
        file_mb=(folder / "mnist.h5").stat().st_size / 1e6,
        numbers=json.loads(numbers_path.read_text()) if numbers_path.is_file() else None,
        path_model=json.loads(path_model_path.read_text()) if path_model_path.is_file() else None,
        pen_sources=SOURCES,
        **metrics,
    )
    card.save(folder / "README.md")
    return card


def rewrite_card(folder: Path) -> None:
    """Re-render README.md in `folder` from its metrics.json (and the others beside it), when it has one."""
    metrics_path = folder / "metrics.json"
    if metrics_path.is_file():
        write_card(folder, json.loads(metrics_path.read_text()))


def record_pen_drawn(metrics_path: Path, figures: dict) -> None:
    """Write a benchmark's `figures` into `metrics_path` (metrics.json, numbers_metrics.json or
    trajectory_metrics.json) as "pen_drawn", and re-render the card beside it."""
    metrics = json.loads(metrics_path.read_text())
    metrics["pen_drawn"] = figures
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    rewrite_card(metrics_path.parent)
    print(f"\nrecorded in {metrics_path} and {metrics_path.parent / 'README.md'}")
