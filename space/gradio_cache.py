"""Keeping Gradio's file cache bounded while the app serves many visitors at once.

Gradio's `gr.Blocks(delete_cache=(every, age))` deletes the files an app put in
its cache (uploads, returned images), with two gaps that `sweep_safely` closes:

- its sweep iterates the app's sets of cached files in a worker thread while
  requests add to them, so under concurrent uploads it soon dies with
  "Set changed size during iteration" and never runs again (gradio 6.31,
  `route_utils.delete_files_created_by_app`);
- it deletes files but keeps their content-addressed folders, one per distinct
  upload (gradio-app/gradio#9334).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder


class SweptFileSet(set):
    """One of an app's sets of cached file paths, as delete_cache's sweep uses it.

    It iterates over a copy, so requests may add to it during the sweep (`set.copy`
    runs in C without releasing the GIL: no other thread changes the set meanwhile).
    When the sweep takes the files it deleted out of it (`files -= deleted`), their
    folders go too, once empty; `cache`, the cache's own folder, stays.
    """

    def __init__(self, files: Iterable[str], cache: Path):
        super().__init__(files)
        self.cache = cache

    def __iter__(self) -> Iterator:
        return iter(set.copy(self))

    def __isub__(self, deleted: Iterable[str]) -> SweptFileSet:
        deleted = set(deleted)
        super().__isub__(deleted)
        for folder in {Path(path).parent for path in deleted} - {self.cache}:
            with contextlib.suppress(OSError):  # refused unless empty
                folder.rmdir()
        return self


def sweep_safely(demo: gr.Blocks) -> None:
    """Replace `demo`'s sets of cached files by SweptFileSets. Call it once all of the app's
    components exist.

    This reaches into Gradio's internals (`Blocks.temp_file_sets`, `Blocks.upload_file_set`,
    `Block.temp_files`, and the sweep's `-=`); tests/test_abuse.py fails if they change.
    """
    cache = Path(get_upload_folder())
    swapped = {id(files): SweptFileSet(files, cache) for files in demo.temp_file_sets}
    demo.temp_file_sets = [swapped[id(files)] for files in demo.temp_file_sets]
    demo.upload_file_set = swapped[id(demo.upload_file_set)]
    for block in demo.blocks.values():
        if id(block.temp_files) in swapped:
            block.temp_files = swapped[id(block.temp_files)]
