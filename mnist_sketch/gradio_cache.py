"""Keeping Gradio's file cache bounded while the app serves many visitors at once.

Gradio's `gr.Blocks(delete_cache=(every, age))` deletes the files an app put in
its cache (uploads, returned images), with two gaps that this module closes:

- its sweep iterates the app's sets of cached files in a worker thread while
  requests add to them, so under concurrent uploads it soon dies with
  "Set changed size during iteration" and never runs again (gradio 6.31,
  `route_utils.delete_files_created_by_app`): `sweep_safely` makes those sets
  iterate over a copy;
- it deletes files but keeps their content-addressed folders, one per distinct
  upload (gradio-app/gradio#9334): `remove_empty_folders` removes them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr


class SnapshotSet(set):
    """A set whose iteration walks a copy, so it may change while it is being iterated.

    `set.copy` runs in C without releasing the GIL: another thread cannot change
    the set during the copy.
    """

    def __iter__(self) -> Iterator:
        return iter(set.copy(self))


def sweep_safely(demo: gr.Blocks) -> None:
    """Replace `demo`'s sets of cached files by SnapshotSets, so that delete_cache's sweep survives
    concurrent requests. Call it once all of the app's components exist.

    This reaches into Gradio's internals (`Blocks.temp_file_sets`, `Blocks.upload_file_set`,
    `Block.temp_files`); tests/test_abuse.py fails if they change.
    """
    swapped = {id(files): SnapshotSet(files) for files in demo.temp_file_sets}
    demo.temp_file_sets = [swapped[id(files)] for files in demo.temp_file_sets]
    demo.upload_file_set = swapped[id(demo.upload_file_set)]
    for block in demo.blocks.values():
        if id(block.temp_files) in swapped:
            block.temp_files = swapped[id(block.temp_files)]


def remove_empty_folders(cache: Path, min_age_s: float) -> None:
    """Remove the folders directly in `cache` that have been empty for `min_age_s` seconds."""
    cutoff = time.time() - min_age_s
    with os.scandir(cache) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.rmdir(entry.path)  # refused, and skipped, unless empty
            except OSError:
                continue
