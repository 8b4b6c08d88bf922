"""mnist-sketch: read hand-drawn digits with a Keras CNN trained on MNIST and pen-drawn digits.

The modules here are shared by the app, the training command line, the tests
and the benchmarks:

- `model`: the CNN architecture and safe loading of a saved model file.
- `preprocess`: whatever a sketchpad or API client sends -> the 28x28 input.
- `predict`: the model's reading of a drawing (probabilities, top guesses).
- `model_source`: where the app gets its model (local file, Hub, bundled).
"""
