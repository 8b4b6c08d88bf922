"""Knowledge distillation: train the seed CNN on the softened predictions of an ensemble of trained CNNs.

After the keras-io example "Knowledge Distillation" (Hinton et al., 2015): the
loss is alpha * cross-entropy with the true labels plus (1 - alpha) * T^2 *
the KL divergence between the teachers' and the student's predictions, both
softened by a temperature T. Our models end in a softmax, so softening works
on log-probabilities, which differ from the logits by a constant per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
from keras import ops

from mnist_sketch.model import load_model_file

ALPHA = 0.1  # weight of the true labels; the rest goes to the teachers
TEMPERATURE = 2.0


def load_teachers(paths: Sequence[str | Path]) -> list[keras.Model]:
    """The trained models in `paths` (each an mnist.h5), frozen."""
    teachers = [load_model_file(path) for path in paths]
    for teacher in teachers:
        teacher.trainable = False
    return teachers


def soften(probs, temperature: float):
    """softmax(logits / T) from softmax(logits)."""
    return ops.softmax(ops.log(ops.clip(probs, 1e-7, 1.0)) / temperature, axis=-1)


class Distiller(keras.Model):
    """Trains `student` against the mean of the frozen `teachers` and the labels; only the student changes.

    Compile it without a loss: `compute_loss` is the distillation loss, plus
    the student's own L2 weight penalty.
    """

    def __init__(self, student: keras.Model, teachers: Sequence[keras.Model], alpha: float = ALPHA,
                 temperature: float = TEMPERATURE):
        super().__init__()
        self.student, self.teachers = student, list(teachers)
        self.alpha, self.temperature = alpha, temperature
        self.label_loss = keras.losses.CategoricalCrossentropy()
        self.teacher_loss = keras.losses.KLDivergence()

    def call(self, x, training: bool = False):
        return self.student(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """x: (batch, 28, 28, 1) images; y: one-hot labels (batch, 10); y_pred: the student's probabilities."""
        t = self.temperature
        teacher = ops.mean(ops.stack([model(x, training=False) for model in self.teachers]), axis=0)
        soft = self.teacher_loss(soften(teacher, t), soften(y_pred, t)) * t**2  # T^2 keeps gradients comparable
        loss = self.alpha * self.label_loss(y, y_pred) + (1 - self.alpha) * soft
        return loss + ops.sum(self.losses) if self.losses else loss
