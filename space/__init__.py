"""The Hugging Face Space's own pieces, beside the reading core (`mnist_sketch`, which knows no Gradio).

These may import Gradio, patch it, or tune the server process; `app.py` lays them out:

- `stroke_pad` (+ `stroke_pad.js`): the drawing pad, a `gr.HTML` component whose value is the strokes.
- `image_input`: `/predict`'s input, an uploaded image or a Sketchpad value; uploaded files only.
- `feedback`: visitors' corrections, kept as records and synced to a Hub dataset.
- `gradio_cache`, `gradio_sessions`: patches of Gradio's cache sweep and session store (each tested
  against Gradio's internals).
- `malloc_arenas`: process tuning, glibc's malloc arenas limited before the server's threads start.
"""
