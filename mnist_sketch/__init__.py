"""mnist-sketch's reading core: a drawing in, its digits' probabilities out. It never imports Gradio.

The app, the training command line, the tests and the benchmarks share these
modules; the Space's own pieces (the pad, the corrections store, Gradio
patches) live beside it in `space/` and may import Gradio:

- `strokes`: the pad's value, validated, and drawn into MNIST's 28x28 frame.
- `preprocess`: any image a client sends -> its ink -> the 28x28 input.
- `segment`, `number_strip`: a drawing split into its digits; an image framed whole for the number reader.
- `model`, `number_model`: the CNNs and weights-only loading of their files.
- `predict`: `DigitReader` and `Reading`, the models' reading of a drawing.
- `model_source`: where the app gets its models (local file, Hub, bundled).
- `example_digits`: the examples, digits written as strokes by this project.
"""
