"""Pushing to and loading from the Hugging Face Hub, against the local stand-in in hub_server.py.

huggingface_hub reads HF_ENDPOINT, HF_HOME, HF_TOKEN and HF_HUB_OFFLINE when it
is imported, so every client call runs in a subprocess with its own environment:
`python -m training.push`, `python -m training.train`, and LOADER, which runs
the app's `load_app_model`. Nothing here needs the network or ../shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hub_server import HubServer  # tests/ is on sys.path (pytest's rootdir-less import, and conftest.py)

pytestmark = pytest.mark.hub

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "model"
TOKEN = "hf_testTokenValid0123456789abcdef"
WRONG_TOKEN = "hf_testTokenWrong9876543210fedcba"
REPO = "user/mnist-test"

# Runs the app's model resolution once per JSON object of env overrides in argv[1] and prints,
# per run, where the model came from, the file's sha256, the number reader's and the path model's files
# and whether they loaded, the warnings logged and the model's probabilities on fixed inputs, plus those of the
# bundled model for comparison.
LOADER = r"""
import hashlib, json, logging, os, sys
import numpy as np
from mnist_sketch.model import load_model_file
from mnist_sketch.model_source import BUNDLED_DIR, MODEL_FILENAME, load_app_model, load_number_model, load_path_model
from mnist_sketch.predict import DigitReader

class Recorder(logging.Handler):
    records = []
    def emit(self, record):
        self.records.append(record.getMessage())

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger().addHandler(Recorder())
images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
images[1] = 0.0
images[1, 4:24, 13:16] = 1.0  # a one
runs = []
for overrides in json.loads(sys.argv[1]):
    Recorder.records.clear()
    model, source = load_app_model({**os.environ, **overrides})
    number_model = load_number_model(source)
    numbers, paths = source.number_path, source.path_model_path
    path_model = load_path_model(source)
    runs.append({"origin": source.origin, "commit": source.commit, "path": str(source.path),
                 "sha256": hashlib.sha256(source.path.read_bytes()).hexdigest(), "has_metrics": bool(source.metrics),
                 "number_path": str(numbers) if numbers else None,
                 "number_sha256": hashlib.sha256(numbers.read_bytes()).hexdigest() if numbers else None,
                 "number_loaded": number_model is not None,
                 "path_model_path": str(paths) if paths else None,
                 "path_model_sha256": hashlib.sha256(paths.read_bytes()).hexdigest() if paths else None,
                 "path_model_loaded": path_model is not None,
                 "warnings": list(Recorder.records), "predictions": DigitReader(model).predict_batch(images).tolist()})
bundled = DigitReader(load_model_file(BUNDLED_DIR / MODEL_FILENAME)).predict_batch(images).tolist()
print("RESULT " + json.dumps({"runs": runs, "bundled_predictions": bundled}))
"""


def client_env(hf_home: Path, endpoint: str, token: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any Hub setting, login or model choice, pointed at `endpoint`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE_", "MODEL_"))}
    env.update(HF_HOME=str(hf_home), HF_ENDPOINT=endpoint, HF_HUB_DISABLE_TELEMETRY="1", TF_CPP_MIN_LOG_LEVEL="2",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    if token:
        env["HF_TOKEN"] = token
    return env


def run_python(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def push(folder: Path, repo_id: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python(["-m", "training.push", str(folder), repo_id], env)


def load(env: dict[str, str], *overrides: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess]:
    """Run LOADER once per override set (one TensorFlow start for all); its JSON result and the process."""
    proc = run_python(["-c", LOADER, json.dumps(list(overrides) or [{}])], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(result.removeprefix("RESULT ")), proc


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_clean_failure(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 1, and one `error:` line on stderr containing every needle, with no traceback."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def commit_requests(hub: HubServer) -> list:
    return [r for r in hub.requests if r.method == "POST" and "/commit/" in r.path]


@pytest.fixture
def hub():
    with HubServer(tokens={TOKEN: "user"}) as server:
        yield server


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """model/ pushed to REPO once, then loaded by the app from an empty cache."""
    with HubServer(tokens={TOKEN: "user"}) as server:
        before = digests(MODEL_DIR)
        pushed = push(MODEL_DIR, REPO, client_env(tmp_path_factory.mktemp("push-home"), server.url, TOKEN))
        requests_after_push = len(server.requests)
        app_home = tmp_path_factory.mktemp("app-home")  # empty: nothing cached, no token
        result, loaded = load(client_env(app_home, server.url, MODEL_REPO=REPO))
        yield SimpleNamespace(hub=server, pushed=pushed, folder_before=before, app_home=app_home,
                              requests_after_push=requests_after_push, result=result, loaded=loaded)


def test_push_uploads_the_whole_folder_in_one_commit(published):
    hub, proc = published.hub, published.pushed
    assert proc.returncode == 0, proc.stderr
    head = hub.head(REPO)
    match = re.search(r"^commit ([0-9a-f]{40}): (\S+)$", proc.stdout, re.MULTILINE)
    assert match, proc.stdout
    assert match[1] == head.sha and match[2] == f"{hub.url}/{REPO}/commit/{head.sha}"
    assert f"{hub.url}/{REPO}" in proc.stdout

    commits = commit_requests(hub)  # the app's later downloads make no commits
    assert len(commits) == 1 and commits[0].path == f"/api/models/{REPO}/commit/main"
    assert sorted(commits[0].files) == sorted(published.folder_before)
    assert {"mnist.h5", "numbers.h5", "trajectory.h5"} <= set(commits[0].files)  # the three models in one commit
    assert {p: hashlib.sha256(d).hexdigest() for p, d in head.files.items()} == published.folder_before
    assert digests(MODEL_DIR) == published.folder_before  # pushing leaves the folder as it was


def test_app_downloads_the_pushed_model(published):
    run, = published.result["runs"]
    assert run["origin"] == "hub" and run["warnings"] == []
    assert run["commit"] == published.hub.head(REPO).sha
    assert run["sha256"] == published.folder_before["mnist.h5"]
    assert Path(run["path"]).is_relative_to(published.app_home)
    assert run["has_metrics"]
    assert run["number_sha256"] == published.folder_before["numbers.h5"] and run["number_loaded"]
    assert Path(run["number_path"]).is_relative_to(published.app_home)
    assert run["path_model_sha256"] == published.folder_before["trajectory.h5"] and run["path_model_loaded"]
    assert Path(run["path_model_path"]).is_relative_to(published.app_home)
    np.testing.assert_allclose(run["predictions"], published.result["bundled_predictions"], rtol=0, atol=1e-6)
    downloads = [r for r in published.hub.requests[published.requests_after_push:] if r.method == "GET"]
    assert {r.path.split("?")[0] for r in downloads} == {
        f"/api/models/{REPO}/revision/main",  # is the Hub there? one request before the downloads
        f"/{REPO}/resolve/main/mnist.h5", f"/{REPO}/resolve/main/metrics.json", f"/{REPO}/resolve/main/numbers.h5",
        f"/{REPO}/resolve/main/trajectory.h5"}
    assert all(r.auth == "none" for r in downloads)  # a public model needs no login


def test_offline_mode_uses_the_warm_cache_without_requests(published):
    seen = len(published.hub.requests)
    result, _ = load(client_env(published.app_home, published.hub.url, MODEL_REPO=REPO, HF_HUB_OFFLINE="1"))
    run, = result["runs"]
    assert run["origin"] == "hub" and run["warnings"] == []
    assert run["commit"] == published.hub.head(REPO).sha
    assert run["sha256"] == published.folder_before["mnist.h5"]
    assert run["has_metrics"] and run["number_sha256"] == published.folder_before["numbers.h5"]
    assert len(published.hub.requests) == seen


def test_app_falls_back_to_bundled_when_the_hub_is_down(tmp_path):
    with HubServer(tokens={}) as gone:  # take a free port, then stop listening on it
        endpoint = gone.url
    result, proc = load(client_env(tmp_path, endpoint, MODEL_REPO=REPO))
    run, = result["runs"]
    assert run["origin"] == "bundled" and run["commit"] is None
    assert run["sha256"] == hashlib.sha256((MODEL_DIR / "mnist.h5").read_bytes()).hexdigest()
    assert "using the bundled model" in proc.stderr and REPO in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unreachable_hub_costs_one_attempt_then_the_cache_is_used(published, tmp_path):
    """No retry storm: a Hub that answers nothing is asked once, then the cache (here warm) serves."""
    import socket
    import threading

    attempts = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def reset_every_connection() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            attempts.append(1)
            conn.close()  # no answer: as a dead proxy or a firewall does

    threading.Thread(target=reset_every_connection, daemon=True).start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        warm, _ = load(client_env(published.app_home, endpoint, MODEL_REPO=REPO))
        cold, _ = load(client_env(tmp_path, endpoint, MODEL_REPO=REPO))
    finally:
        listener.close()
    assert len(attempts) == 2  # one per start, no retries
    unreachable = rf"The Hub at {endpoint} cannot be reached \((ReadError|RemoteProtocolError)\)"
    run, = warm["runs"]
    assert run["origin"] == "hub" and run["sha256"] == published.folder_before["mnist.h5"]
    assert len(run["warnings"]) == 1
    assert re.fullmatch(rf"{unreachable}; using the cached copy of {REPO}@main\.", run["warnings"][0])
    run, = cold["runs"]
    assert run["origin"] == "bundled" and len(run["warnings"]) == 1
    assert re.fullmatch(rf"{unreachable} and no copy of mnist\.h5 from {REPO}@main is cached; using the bundled "
                        r"model\.", run["warnings"][0])


def test_app_falls_back_to_bundled_on_missing_repo_revision_or_corrupt_model(hub, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "mnist.h5").write_bytes(b"this is not an HDF5 file\n")
    (corrupt / "README.md").write_text("# A broken model\n")
    assert push(corrupt, "user/corrupt", client_env(tmp_path / "push-home", hub.url, TOKEN)).returncode == 0
    from test_abuse import nan_model_file

    nan = tmp_path / "nan"
    nan.mkdir()
    nan_model_file(nan / "mnist.h5")  # a model whose every reading would be "nan% sure"
    (nan / "README.md").write_text("# A model with NaN weights\n")
    assert push(nan, "user/nan", client_env(tmp_path / "push-home", hub.url, TOKEN)).returncode == 0

    result, proc = load(client_env(tmp_path / "app-home", hub.url),
                        {"MODEL_REPO": "user/missing"},
                        {"MODEL_REPO": "user/corrupt", "MODEL_REVISION": "no-such-branch"},
                        {"MODEL_REPO": "user/corrupt"}, {"MODEL_REPO": "user/nan"})
    missing, no_revision, broken, not_finite = result["runs"]
    for run in result["runs"]:
        assert run["origin"] == "bundled"
        np.testing.assert_allclose(run["predictions"], result["bundled_predictions"], rtol=0, atol=1e-6)
        assert len(run["warnings"]) == 1 and "using the bundled model" in run["warnings"][0]
    assert "RepositoryNotFoundError" in missing["warnings"][0] and "user/missing" in missing["warnings"][0]
    assert "RevisionNotFoundError" in no_revision["warnings"][0]
    assert "models--user--corrupt" in broken["warnings"][0] and "mnist.h5" in broken["warnings"][0]
    assert "models--user--nan" in not_finite["warnings"][0] and "not finite numbers" in not_finite["warnings"][0]
    for run in result["runs"]:  # the bundled number reader comes with the bundled model
        assert run["number_sha256"] == digests(MODEL_DIR)["numbers.h5"] and run["number_loaded"]
    assert "Traceback" not in proc.stderr


def test_a_hub_model_without_a_usable_number_reader_or_path_model_gets_the_bundled_one(hub, tmp_path):
    """A repo pushed before the number reader and the path model existed has neither numbers.h5 nor
    trajectory.h5; another has a broken numbers.h5, a third a broken trajectory.h5."""
    env = client_env(tmp_path / "push-home", hub.url, TOKEN)
    broken_file = b"not an HDF5 file\n"
    for repo, extra in (("user/digits-only", None), ("user/broken-numbers", "numbers.h5"),
                        ("user/broken-path", "trajectory.h5")):
        folder = tmp_path / repo.split("/")[1]
        folder.mkdir()
        shutil.copy(MODEL_DIR / "mnist.h5", folder / "mnist.h5")
        (folder / "README.md").write_text("# A digit model\n")
        if extra:
            (folder / extra).write_bytes(broken_file)
        assert push(folder, repo, env).returncode == 0

    result, proc = load(client_env(tmp_path / "app-home", hub.url), {"MODEL_REPO": "user/digits-only"},
                        {"MODEL_REPO": "user/broken-numbers"}, {"MODEL_REPO": "user/broken-path"})
    digits_only, broken, broken_path = result["runs"]
    assert digits_only["origin"] == broken["origin"] == broken_path["origin"] == "hub"
    assert digits_only["number_path"] is None and digits_only["warnings"] == [] and digits_only["number_loaded"]
    assert digits_only["path_model_path"] is None and digits_only["path_model_loaded"]
    assert broken["number_loaded"] and len(broken["warnings"]) == 1
    assert "models--user--broken-numbers" in broken["warnings"][0] and "numbers.h5" in broken["warnings"][0]
    assert broken_path["path_model_loaded"] and len(broken_path["warnings"]) == 1  # the bundled one, said once
    assert "models--user--broken-path" in broken_path["warnings"][0]
    assert "trajectory.h5" in broken_path["warnings"][0] and "bundled path model" in broken_path["warnings"][0]
    assert "Traceback" not in proc.stderr


def test_push_with_a_wrong_token_fails_cleanly_then_succeeds_with_the_right_one(hub, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    before = digests(folder)

    proc = push(folder, REPO, client_env(tmp_path / "home", hub.url, WRONG_TOKEN))
    assert_clean_failure(proc, "401", "hf auth login")
    assert WRONG_TOKEN not in proc.stdout + proc.stderr
    assert digests(folder) == before
    assert hub.head(REPO) is None and commit_requests(hub) == []
    assert {r.auth for r in hub.requests} == {"invalid"}

    proc = push(folder, REPO, client_env(tmp_path / "home", hub.url, TOKEN))
    assert proc.returncode == 0, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert sorted(hub.head(REPO).files) == sorted(before)
    assert digests(folder) == before
    assert TOKEN not in repr(hub.requests) and WRONG_TOKEN not in repr(hub.requests)


def test_push_to_an_existing_repo_commits_only_what_changed(hub, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    env = client_env(tmp_path / "home", hub.url, TOKEN)
    assert push(folder, REPO, env).returncode == 0
    first = hub.head(REPO)

    (folder / "metrics.json").write_text('{"test_accuracy": 0.5}\n')
    proc = push(folder, REPO, env)  # the repo exists (409 from create), and preupload reports the files' oids
    assert proc.returncode == 0, proc.stderr
    second = hub.head(REPO)
    assert second.sha != first.sha and f"commit {second.sha}:" in proc.stdout
    assert commit_requests(hub)[-1].files == ("metrics.json",)
    assert {p: hashlib.sha256(d).hexdigest() for p, d in second.files.items()} == digests(folder)

    proc = push(folder, REPO, env)  # nothing changed: no commit, and the current one is reported
    assert proc.returncode == 0, proc.stderr
    assert len(commit_requests(hub)) == 2 and hub.head(REPO) == second
    assert f"commit {second.sha}:" in proc.stdout


def test_push_without_a_token_says_how_to_log_in(hub, tmp_path):
    proc = push(MODEL_DIR, REPO, client_env(tmp_path, hub.url))
    assert_clean_failure(proc, "No Hugging Face token", "hf auth login")
    assert hub.requests == []


def test_push_to_an_invalid_repo_id_fails_cleanly(hub, tmp_path):
    proc = push(MODEL_DIR, "not a valid id!!", client_env(tmp_path, hub.url, TOKEN))
    assert_clean_failure(proc, "'not a valid id!!' is not a valid repo id")
    assert TOKEN not in proc.stderr
    assert hub.requests == []


def test_push_with_the_hub_down_fails_cleanly(tmp_path):
    with HubServer(tokens={}) as gone:
        endpoint = gone.url
    proc = push(MODEL_DIR, REPO, client_env(tmp_path, endpoint, TOKEN))
    assert_clean_failure(proc, "Cannot reach the Hub", endpoint)
    assert TOKEN not in proc.stderr


def test_train_with_push_and_no_token_stops_before_training(hub, tmp_path):
    out = tmp_path / "run"
    start = time.monotonic()
    proc = run_python(["-m", "training.train", "--push-to-hub", "user/x", "--data", "/nonexistent.npz",
                       "--out", str(out), "--epochs", "1"], client_env(tmp_path / "home", hub.url), timeout=60)
    assert time.monotonic() - start < 30
    assert_clean_failure(proc, "hf auth login")
    assert "MNIST" not in proc.stdout and not out.exists()  # neither data loading nor the output folder began
    assert hub.requests == []


# Loads the pen data of argv[1] (a file, a folder or a dataset repo id) as `train --pen-data` does and prints its
# size and origin, or the one clear message it fails with.
PEN_LOADER = r"""
import sys
from training.pen_digits import PenDataUnavailable, load_pen_digits
try:
    pen = load_pen_digits(sys.argv[1])
except PenDataUnavailable as exc:
    print(f"UNAVAILABLE {exc}")
else:
    print(f"LOADED {len(pen)} {pen.origin} {pen.sha256}")
"""
# What a user of the dataset sees: `load_dataset(argv[1])`'s splits, features and one decoded picture, as JSON.
DATASET_LOADER = r"""
import json, sys
import numpy as np
from datasets import ClassLabel, load_dataset
pen = load_dataset(sys.argv[1])
image = pen["train"][0]["image"]
print("RESULT " + json.dumps({
    "splits": {name: len(split) for name, split in pen.items()},
    "features": {name: repr(feature) for name, feature in pen["train"].features.items()},
    "label_is_class_label": isinstance(pen["dev"].features["label"], ClassLabel),
    "image": [image.size, image.mode, int(np.asarray(image).max())],
    "first": {k: v for k, v in pen["train"][0].items() if k != "image"},
}))
"""
PEN_REPO = "user/pen-digits"


def push_pen_data(path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_python(["-m", "training.push_pen_data", str(path), *args], env)


def load_with_datasets(env: dict[str, str], cwd: Path, repo: str = PEN_REPO) -> dict:
    proc = subprocess.run([sys.executable, "-c", DATASET_LOADER, repo], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])


@pytest.fixture
def pen_file(tmp_path):
    from pen_data import write_pen_file

    return write_pen_file(tmp_path / "pen_digits.npz")


@pytest.fixture
def pushed_pen(hub, tmp_path, pen_file):
    """The generated stroke file pushed to PEN_REPO, keeping the folder it wrote: (push process, folder)."""
    folder = tmp_path / "written"
    proc = push_pen_data(pen_file, client_env(tmp_path / "push-home", hub.url, TOKEN), PEN_REPO, "--out", str(folder))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, folder


def test_pen_data_is_published_as_parquet_splits_with_its_card_in_one_commit(hub, tmp_path, pen_file):
    from huggingface_hub import DatasetCard

    env = client_env(tmp_path / "home", hub.url, TOKEN)
    old = ("from huggingface_hub import HfApi; api = HfApi(); api.create_repo('user/pen-digits', repo_type='dataset'); "
           f"api.upload_file(path_or_fileobj={str(pen_file)!r}, path_in_repo='pen_digits.npz', "
           "repo_id='user/pen-digits', repo_type='dataset')")  # the repo as the .npz was published before
    assert run_python(["-c", old], env).returncode == 0
    before = len(commit_requests(hub))
    proc = push_pen_data(pen_file, env, PEN_REPO, "--out", str(tmp_path / "written"))
    assert proc.returncode == 0, proc.stderr
    head = hub.head(PEN_REPO, repo_type="dataset")
    assert f"commit {head.sha}: {hub.url}/datasets/{PEN_REPO}/commit/{head.sha}" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr
    commits = commit_requests(hub)[before:]
    assert len(commits) == 1 and commits[0].path == f"/api/datasets/{PEN_REPO}/commit/main"
    files = ["README.md", "data/dev-00000-of-00001.parquet", "data/train-00000-of-00001.parquet"]
    assert sorted(head.files) == files  # the .npz is gone
    for name in files:  # what was sent is what had been written locally first
        assert head.files[name] == (tmp_path / "written" / name).read_bytes()

    (tmp_path / "README.md").write_bytes(head.files["README.md"])
    card = DatasetCard.load(tmp_path / "README.md")
    assert card.data.license == "cc-by-4.0" and card.data.pretty_name == "Pen-drawn digits (mnist-sketch)"
    assert card.data.task_categories == ["image-classification"] and card.data.size_categories == ["n<1K"]
    assert [f["path"] for f in card.data.configs[0]["data_files"]] == ["data/train-*.parquet", "data/dev-*.parquet"]
    assert [(s["name"], s["num_examples"]) for s in card.data.dataset_info["splits"]] == [("train", 160), ("dev", 80)]
    text = card.text
    assert "| unipen | 60 | 3 | 20 | 1 | CC BY 4.0 |" in text  # digits and writers per split, from the file
    assert "| **all** | **160** | **8** | **80** | **4** | |" in text
    for citation in ("doi:10.5281/zenodo.1195803", "Alpaydin", "UJIpenchars"):
        assert citation in text
    assert f'load_dataset("{PEN_REPO}")' in text


def test_load_dataset_reads_the_pushed_splits_and_the_cards_code_runs(hub, tmp_path, pushed_pen, pen_file):
    """What a user does: `load_dataset(repo)` gives both splits with the file's counts, a ClassLabel and
    pictures; the card's code runs as pasted; offline, the cache answers without a request."""
    home, work = tmp_path / "user-home", tmp_path / "work"
    work.mkdir()
    online = load_with_datasets(client_env(home, hub.url), work)
    assert online["splits"] == {"train": 160, "dev": 80} and online["label_is_class_label"]
    assert online["features"]["label"].startswith("ClassLabel(names=['0', '1', '2'")
    assert online["features"]["strokes"] == "List(List(List(Value('float32'), length=2)))"
    assert online["features"]["image"].startswith("Image(") and online["image"] == [[28, 28], "L", 255]
    from training.pen_digits import load_pen_digits

    first = load_pen_digits(pen_file).split("train")
    assert online["first"]["label"] == first.labels[0] and online["first"]["writer"] == first.writers[0]
    assert online["first"]["strokes"] == [s.tolist() for s in first.strokes[0]]

    seen = len(hub.requests)
    assert load_with_datasets(client_env(home, hub.url, HF_HUB_OFFLINE="1"), work) == online
    assert load_with_datasets(client_env(home, hub.url, HF_DATASETS_OFFLINE="1"), work) == online
    assert len(hub.requests) == seen

    card = hub.head(PEN_REPO, repo_type="dataset").files["README.md"].decode()
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    assert len(blocks) == 3 and "from mnist_sketch.strokes import" in blocks[1]
    env = {**client_env(home, hub.url), "PYTHONPATH": str(ROOT)}  # in a clone of the project, as the card says
    proc = subprocess.run([sys.executable, "-c", "\n".join(blocks)], cwd=work, env=env, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from PIL import Image

    assert Image.open(work / "digit.png").size == (28, 28)
    assert proc.stdout.split()[:3] == [str(first.labels[0]), first.datasets[0], first.writers[0]]


def test_pen_data_comes_from_the_hub_once_then_from_the_cache(hub, tmp_path, pushed_pen):
    commit = hub.head(PEN_REPO, repo_type="dataset").sha
    home = tmp_path / "train-home"  # no token: the dataset is public

    first = run_python(["-c", PEN_LOADER, PEN_REPO], client_env(home, hub.url))
    loaded = first.stdout.strip().splitlines()[-1].split()
    # The commit read is that of the Hub's main branch (taken from datasets' cache folder: this fails if it moves).
    assert loaded[:3] == ["LOADED", "240", f"{PEN_REPO}@{commit}"], first.stdout + first.stderr
    folder = run_python(["-c", PEN_LOADER, str(pushed_pen[1])], client_env(home, hub.url))
    assert folder.stdout.split()[1::2] == ["240", loaded[3]]  # the same digits as the pushed folder's
    seen = len(hub.requests)
    for offline in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        proc = run_python(["-c", PEN_LOADER, PEN_REPO], client_env(home, hub.url, **{offline: "1"}))
        assert proc.stdout.strip().splitlines()[-1].split() == loaded and len(hub.requests) == seen

    with HubServer(tokens={}) as gone:
        endpoint = gone.url
    down = run_python(["-c", PEN_LOADER, PEN_REPO], client_env(home, endpoint))  # the cache answers
    assert down.stdout.strip().splitlines()[-1].split() == loaded, down.stdout + down.stderr
    cold = run_python(["-c", PEN_LOADER, PEN_REPO], client_env(tmp_path / "cold-home", endpoint))
    message = cold.stdout.strip().splitlines()[-1]
    assert message.startswith("UNAVAILABLE ") and "cannot be reached" in message and "--pen-data" in message
    missing = run_python(["-c", PEN_LOADER, "user/no-such-data"], client_env(home, hub.url))
    assert "is neither a local .npz or Parquet folder nor a Hub dataset repo" in missing.stdout


def test_a_repo_still_holding_the_stroke_file_it_was_first_published_as_is_read(hub, tmp_path, pen_file):
    """The public repo held pen_digits.npz before the Parquet splits: --pen-data REPO reads that file
    (checked as a local one is) until the repo is published again."""
    env = client_env(tmp_path / "home", hub.url, TOKEN)
    old = ("from huggingface_hub import HfApi; api = HfApi(); api.create_repo('user/pen-digits', repo_type='dataset'); "
           f"api.upload_file(path_or_fileobj={str(pen_file)!r}, path_in_repo='pen_digits.npz', "
           "repo_id='user/pen-digits', repo_type='dataset')")
    assert run_python(["-c", old], env).returncode == 0
    commit = hub.head(PEN_REPO, repo_type="dataset").sha
    local = run_python(["-c", PEN_LOADER, str(pen_file)], env).stdout.split()
    hub_read = run_python(["-c", PEN_LOADER, PEN_REPO], client_env(tmp_path / "user", hub.url))
    assert hub_read.stdout.split() == ["LOADED", local[1], f"{PEN_REPO}@{commit}", local[3]], hub_read.stderr[-2000:]
    empty = ("from huggingface_hub import HfApi; api = HfApi(); api.create_repo('user/empty', repo_type='dataset'); "
             "api.upload_file(path_or_fileobj=b'# nothing', path_in_repo='README.md', repo_id='user/empty', "
             "repo_type='dataset')")
    assert run_python(["-c", empty], env).returncode == 0
    nothing = run_python(["-c", PEN_LOADER, "user/empty"], client_env(tmp_path / "user", hub.url)).stdout
    assert "holds neither Parquet splits nor pen_digits.npz" in nothing and "push_pen_data" in nothing


def test_publishing_pen_data_without_a_token_a_file_or_the_hub_fails_cleanly(hub, tmp_path, pen_file):
    out = tmp_path / "written"
    assert_clean_failure(push_pen_data(pen_file, client_env(tmp_path, hub.url), PEN_REPO, "--out", str(out)),
                         "hf auth login")
    assert not out.exists()  # the token is asked for before the folder is written
    assert_clean_failure(push_pen_data(tmp_path / "nothing.npz", client_env(tmp_path, hub.url, TOKEN)),
                         "No pen data file")
    assert hub.requests == []
    with HubServer(tokens={}) as gone:
        endpoint = gone.url
    proc = push_pen_data(pen_file, client_env(tmp_path, endpoint, TOKEN), PEN_REPO, "--out", str(out))
    assert "Nothing was uploaded" in assert_clean_failure(proc, "Cannot reach the Hub", endpoint)
    assert sorted(p.name for p in out.rglob("*.parquet")) == ["dev-00000-of-00001.parquet",
                                                             "train-00000-of-00001.parquet"]  # kept for a retry


def test_training_takes_pen_data_from_the_hub(hub, tmp_path, pushed_pen, mnist_digits):
    x, y = mnist_digits
    mnist = tmp_path / "mnist.npz"
    np.savez(mnist, x_train=x[:1500], y_train=y[:1500], x_test=x[1500:1800], y_test=y[1500:1800])
    out = tmp_path / "run"
    proc = run_python(["-m", "training.train", "--data", str(mnist), "--pen-data", PEN_REPO, "--out", str(out),
                       "--epochs", "1", "--validation-size", "300"], client_env(tmp_path / "home", hub.url),
                      timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    commit = hub.head(PEN_REPO, repo_type="dataset").sha
    assert metrics["pen_data"]["source"] == f"{PEN_REPO}@{commit}"
    card = (out / "README.md").read_text()
    assert f"`{PEN_REPO}@{commit}`" in card and "mnist-sketch/pen-digits" in card.split("---")[1]
