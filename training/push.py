"""Publish a model folder to the Hugging Face Hub in one commit.

    python -m training.push runs/mnist you/mnist-sketch-cnn [--private] [--commit-message MSG]

The token comes from HF_TOKEN or the login cache (`hf auth login`) and is
never printed. A failed push leaves the folder as it was; run the same
command again to retry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client (not httpx): its network errors are httpx2's
from huggingface_hub import CommitInfo, HfApi, constants, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError

REQUIRED_FILES = ("mnist.h5", "README.md")
IGNORED = [".backup/**", "**/.DS_Store"]  # training's resume checkpoints stay local
LOGIN_HINT = ("Log in with `hf auth login` or set HF_TOKEN to a token with write access "
              "(huggingface.co/settings/tokens).")


# What a push may fail with: the Hub's answers, the network, a file that cannot be read, a bad repo id or card.
PUSH_ERRORS = (HfHubHTTPError, httpx2.HTTPError, OSError, ValueError)


class PushError(RuntimeError):
    """The push did not happen; the message says why and what to do."""


def require_token() -> str:
    """The Hub token from HF_TOKEN or the login cache; PushError when there is none."""
    token = get_token()
    if not token:
        raise PushError(f"No Hugging Face token found. {LOGIN_HINT}")
    return token


def explain_failure(exc: Exception, repo_id: str, token: str, unchanged: str = "The folder is unchanged") -> str:
    """One line saying what went wrong, with the token scrubbed from anything the server echoed, and
    `unchanged` (what was left as it was) before the advice to retry."""
    if isinstance(exc, HFValidationError):
        message = f"{repo_id!r} is not a valid repo id (expected 'user-or-org/name'): {exc}"
    elif isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            message = f"The Hub rejected the token (401). {LOGIN_HINT}"
        elif status == 403:
            message = f"The token may not write to {repo_id} (403): use a write token, or a repo in your namespace."
        elif status in (400, 409, 422):
            message = f"The Hub rejected the repo {repo_id!r} ({status}): {exc.server_message or exc}"
        else:
            message = f"The Hub answered {status} for {repo_id}: {exc.server_message or exc}"
    elif isinstance(exc, (httpx2.TransportError, ConnectionError)):
        message = (f"Cannot reach the Hub at {constants.ENDPOINT} ({exc.__class__.__name__}). "
                   "Check the network or HF_ENDPOINT.")
    else:  # e.g. a file of the folder that cannot be read, or card metadata the Hub refuses
        message = f"The push failed: {exc.__class__.__name__}: {exc}."
    return message.replace(token, "***") + f" {unchanged}; run the same command again to retry."


def push_folder(folder: Path, repo_id: str, private: bool = False, commit_message: str | None = None) -> CommitInfo:
    """Create `repo_id` if needed and upload every file of `folder` in one commit."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise PushError(f"{folder} is not a finished model folder (missing {', '.join(missing)}); "
                        "train one with `python -m training.train --out DIR`.")
    token = require_token()
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message or f"Upload mnist-sketch model from {folder.name}/",
            ignore_patterns=list(IGNORED),  # a copy: upload_folder appends its defaults to the list it gets
        )
    except PUSH_ERRORS as exc:
        raise PushError(explain_failure(exc, repo_id, token)) from None
    print(f"Pushed {folder}/ to {info.repo_url}")
    print(f"commit {info.oid}: {info.commit_url}")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.push", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a model folder written by `python -m training.train`")
    parser.add_argument("repo_id", help="the Hub model repo, e.g. you/mnist-sketch-cnn")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--commit-message")
    args = parser.parse_args(argv)
    try:
        push_folder(args.folder, args.repo_id, args.private, args.commit_message)
    except PushError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
