"""A Hugging Face Hub stand-in for tests, on the standard library only.

It answers what huggingface_hub 2.4.0 sends to push a folder (`create_repo` +
`upload_folder`, or a `CommitScheduler`'s `create_commit`) and to download
files (`hf_hub_download`, `snapshot_download`, and `datasets.load_dataset`,
which globs the repo's data files through HfFileSystem), and nothing else; {type} is
"models" or "datasets", and a dataset's files live under /datasets/:

  POST /api/repos/create                            create a model or dataset repo (409 when it exists)
  POST /api/validate-yaml                           README.md metadata check: always fine
  POST /api/{type}/{repo}/preupload/{revision}      every file is "regular": no LFS or Xet upload
  POST /api/{type}/{repo}/commit/{revision}         NDJSON header + base64 file lines -> one commit
  GET  /api/{type}/{repo}[/revision/{revision}]     repo info: sha and siblings
  GET  /api/{type}/{repo}/tree/{revision}[/{path}]  a folder's files and folders (?recursive=true: all below
                                                    it), as snapshot_download and HfFileSystem list them
  POST /api/{type}/{repo}/paths-info/{revision}     files and folders among the form's `paths`
  HEAD|GET [/datasets]/{repo}/resolve/{revision}/{path}   a file, with ETag, X-Repo-Commit, Content-Length

Errors carry the X-Error-Code header (RepoNotFound, RevisionNotFound,
EntryNotFound) that the client maps to its exceptions. A request with an
unknown `Authorization: Bearer` token gets 401 on every endpoint, as on the
real Hub; writes also need one, into the token owner's namespace (else 403),
and a private repo is seen by its owner only. No LFS, Xet, pull requests or
tags. No response and no log entry ever contains a token.

    with HubServer(tokens={"hf_xyz": "user"}) as hub:
        env["HF_ENDPOINT"] = hub.url   # then run the client in a subprocess
        hub.requests                   # what the client sent
        hub.head("user/corrections", repo_type="dataset")   # a dataset's last commit
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# The 401 message the client tells apart from "private or missing repo".
INVALID_TOKEN = "Invalid credentials in Authorization header"
_REPO = r"(?P<repo>[^/]+/[^/]+)"
_TYPE = r"(?P<type>models|datasets)"
_REV = r"(?P<rev>[^/]+)"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file, which the Hub uses as ETag and oid of regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Commit:
    """One commit on the test Hub: its sha, summary and every file of the tree."""

    sha: str  # 40 hex digits
    message: str
    files: Mapping[str, bytes]  # the whole tree at this commit


@dataclass
class Repo:
    """A model repo: its commits and branches (a new repo has "main", with an empty first commit)."""

    repo_id: str
    private: bool
    commits: list[Commit]  # oldest first
    branches: dict[str, str]  # branch name -> commit sha

    def find(self, revision: str) -> Commit | None:
        """The commit a branch name or a full commit sha points at."""
        sha = self.branches.get(revision, revision)
        return next((c for c in self.commits if c.sha == sha), None)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the test Hub received it, minus its token."""

    method: str
    path: str  # with its query string
    headers: Mapping[str, str]  # lower-case names, Authorization left out
    auth: str  # "none", "valid" or "invalid": the token itself is never kept
    files: tuple[str, ...] = ()  # for a commit: the paths it added or replaced


class HubError(Exception):
    """An error answer: status, message and the X-Error-Code the client reads."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] = {},
                 **body):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, dict(headers), body


def _key(match: re.Match) -> tuple[str, str]:
    """(repo type, repo id) from a matched path: ("model", "user/x") for /api/models/... or /user/x/..."""
    return ("dataset" if match["type"] == "datasets" else "model", match["repo"])


class HubServer:
    """The Hub's state (repos, request log) and its HTTP server on 127.0.0.1, port chosen by the OS."""

    def __init__(self, tokens: Mapping[str, str]):
        self.tokens = dict(tokens)  # token -> user name
        self.repos: dict[tuple[str, str], Repo] = {}  # (type, id): ("model", "user/x") or ("dataset", ...)
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def head(self, repo_id: str, branch: str = "main", repo_type: str = "model") -> Commit | None:
        """The commit a branch of a repo points at; None when there is no such repo or branch."""
        with self._lock:
            repo = self.repos.get((repo_type, repo_id))
            return repo.find(branch) if repo else None

    # -- request handling --

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes):
        """Answer one request with (status, headers, body bytes), and log it without its token."""
        token = (headers.get("Authorization") or "").removeprefix("Bearer ").strip() or None
        user = self.tokens.get(token) if token else None
        files: tuple[str, ...] = ()
        with self._lock:
            try:
                if token is not None and user is None:
                    raise HubError(401, INVALID_TOKEN)
                try:
                    url = urlsplit(target)
                    status, extra, payload, files = self._route(method, url.path, parse_qs(url.query), body, user)
                except (KeyError, TypeError, ValueError) as exc:  # a body this Hub cannot read
                    raise HubError(400, f"Malformed request ({exc.__class__.__name__}).") from None
            except HubError as err:
                message = err.message.encode("ascii", "replace").decode()  # header values are latin-1 only
                status, extra, payload = err.status, {"X-Error-Message": message, **err.headers}, err.body
                payload["error"] = err.message
                if err.code:
                    extra["X-Error-Code"] = err.code
            self._log.append(LoggedRequest(
                method, target, {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"},
                "none" if token is None else "valid" if user else "invalid", files))
        if isinstance(payload, (dict, list)):
            payload, extra = json.dumps(payload).encode(), {"Content-Type": "application/json", **extra}
        return status, extra, payload

    def _route(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes, user: str | None):
        """(status, headers, payload, paths a commit added); path parts are unquoted after matching."""
        if method == "POST" and path == "/api/repos/create":
            return (*self._create_repo(json.loads(body), user), ())
        if method == "POST" and path == "/api/validate-yaml":
            self._writer(user)
            return 200, {}, {"errors": [], "warnings": []}, ()
        if method == "POST" and (m := re.fullmatch(rf"/api/{_TYPE}/{_REPO}/preupload/{_REV}", path)):
            return (*self._preupload(_key(m), unquote(m["rev"]), json.loads(body), user), ())
        if method == "POST" and (m := re.fullmatch(rf"/api/{_TYPE}/{_REPO}/commit/{_REV}", path)):
            return self._commit(_key(m), unquote(m["rev"]), body, user)
        if method == "GET" and (m := re.fullmatch(rf"/api/{_TYPE}/{_REPO}(?:/revision/{_REV})?", path)):
            return (*self._repo_info(_key(m), unquote(m["rev"] or "main"), user), ())
        if method == "GET" and (m := re.fullmatch(rf"/api/{_TYPE}/{_REPO}/tree/{_REV}(?:/(?P<folder>.*))?", path)):
            recursive = query.get("recursive", ["false"])[-1].lower() == "true"
            return (*self._tree(_key(m), unquote(m["rev"]), unquote(m["folder"] or "").strip("/"), recursive, user),
                    ())
        if method == "POST" and (m := re.fullmatch(rf"/api/{_TYPE}/{_REPO}/paths-info/{_REV}", path)):
            paths = parse_qs(body.decode())["paths"]
            return (*self._paths_info(_key(m), unquote(m["rev"]), paths, user), ())
        resolve = rf"(?:/(?P<type>datasets))?/{_REPO}/resolve/{_REV}/(?P<file>.+)"
        if method in ("GET", "HEAD") and (m := re.fullmatch(resolve, path)):
            return (*self._resolve(_key(m), unquote(m["rev"]), unquote(m["file"]), user), ())
        raise HubError(404, f"No route for {method} {path} on this test Hub.")

    def _writer(self, user: str | None, repo_id: str | None = None) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to write to the Hub.")
        if repo_id is not None and repo_id.split("/")[0] != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}.")

    def _repo(self, key: tuple[str, str], user: str | None) -> Repo:
        repo = self.repos.get(key)
        if repo is None or (repo.private and key[1].split("/")[0] != user):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _commit_at(self, repo: Repo, revision: str) -> Commit:
        commit = repo.find(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _add_commit(self, repo: Repo, branch: str, message: str, files: Mapping[str, bytes]) -> Commit:
        parent = repo.branches.get(branch, "")
        tree = "".join(f"{git_blob_sha1(data)} {path}\n" for path, data in sorted(files.items()))
        sha = hashlib.sha1(f"{repo.repo_id}\n{parent}\n{len(repo.commits)}\n{tree}{message}".encode()).hexdigest()
        commit = Commit(sha, message, dict(files))
        repo.commits.append(commit)
        repo.branches[branch] = sha
        return commit

    def _create_repo(self, payload: dict, user: str | None):
        repo_id = f"{payload.get('organization') or user}/{payload['name']}"
        self._writer(user, repo_id)
        repo_type = payload.get("type") or "model"
        if repo_type not in ("model", "dataset"):
            raise HubError(400, "This test Hub only has model and dataset repos.")
        url = f"{self.url}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
        if (repo_type, repo_id) in self.repos:  # create_repo(exist_ok=True) reads the url from this answer
            raise HubError(409, f"You already created this {repo_type} repo", url=url)
        repo = self.repos[repo_type, repo_id] = Repo(repo_id, payload.get("private") is True
                                                     or payload.get("visibility") == "private", [], {})
        self._add_commit(repo, "main", "initial commit", {})
        return 200, {}, {"url": url, "name": repo_id}

    def _preupload(self, key: tuple[str, str], revision: str, payload: dict, user: str | None):
        self._writer(user, key[1])
        files = self._commit_at(self._repo(key, user), revision).files
        answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                   "oid": git_blob_sha1(files[f["path"]]) if f["path"] in files else None}
                  for f in payload["files"]]
        return 200, {}, {"files": answer}

    def _commit(self, key: tuple[str, str], revision: str, body: bytes, user: str | None):
        repo_id = key[1]
        page = f"{self.url}/{'datasets/' if key[0] == 'dataset' else ''}{repo_id}"  # the repo's page, as create_repo's url
        self._writer(user, repo_id)
        repo = self._repo(key, user)
        head = self._commit_at(repo, revision)
        if revision not in repo.branches:
            raise HubError(400, f"Can only commit to a branch, not {revision}.")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "A commit starts with a header line.")
        header, files, added = lines[0]["value"], dict(head.files), []
        if header.get("parentCommit") not in (None, head.sha):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file" and value.get("encoding") == "base64":
                files[value["path"]] = base64.b64decode(value["content"])
                added.append(value["path"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                files = {p: d for p, d in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            else:  # lfsFile: never asked for, as preupload answers "regular"
                raise HubError(400, f"This test Hub does not take {key!r} commit lines.")
        commit = self._add_commit(repo, revision, header["summary"], files)
        payload = {"success": True, "commitOid": commit.sha, "commitUrl": f"{page}/commit/{commit.sha}",
                   "hookOutput": "", "pullRequestUrl": None}
        return 200, {}, payload, tuple(added)

    def _repo_info(self, key: tuple[str, str], revision: str, user: str | None):
        repo_id = key[1]
        repo = self._repo(key, user)
        commit = self._commit_at(repo, revision)
        return 200, {}, {"id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "sha": commit.sha,
                         "private": repo.private, "siblings": [{"rfilename": p} for p in sorted(commit.files)]}

    def _tree(self, key: tuple[str, str], revision: str, folder: str, recursive: bool, user: str | None):
        commit = self._commit_at(self._repo(key, user), revision)
        entries = _entries(commit.files)
        if folder and entries.get(folder, {}).get("type") != "directory":
            raise HubError(404, f"Entry not found: {folder}", "EntryNotFound")
        prefix = f"{folder}/" if folder else ""
        below = [e for path, e in sorted(entries.items()) if path.startswith(prefix)]
        return 200, {}, below if recursive else [e for e in below if "/" not in e["path"][len(prefix):]]

    def _paths_info(self, key: tuple[str, str], revision: str, paths: list[str], user: str | None):
        entries = _entries(self._commit_at(self._repo(key, user), revision).files)
        return 200, {}, [entries[p.strip("/")] for p in paths if p.strip("/") in entries]  # unknown paths: left out

    def _resolve(self, key: tuple[str, str], revision: str, filename: str, user: str | None):
        commit = self._commit_at(self._repo(key, user), revision)
        if filename not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        data = commit.files[filename]
        return 200, {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit.sha,
                     "Content-Type": "application/octet-stream"}, data


def _entries(files: Mapping[str, bytes]) -> dict[str, dict]:
    """Every file and folder of a tree by path, as the Hub's tree and paths-info endpoints describe them."""
    entries = {path: {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
               for path, data in files.items()}
    for path in files:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            # A folder's oid stands for its content, as a git tree's does.
            content = "".join(f"{p}{entries[p]['oid']}" for p in sorted(files) if p.startswith(folder + "/"))
            entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0,
                                        "oid": hashlib.sha1(content.encode()).hexdigest()})
    return entries


class _Handler(BaseHTTPRequestHandler):
    """HTTP transport for HubServer.handle: read the whole request, write the whole answer."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

    def do_GET(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, payload = self.server.hub.handle(self.command, self.path, self.headers, body)
        self.send_response(status)
        for name, value in {"Content-Length": str(len(payload)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_HEAD = do_POST = do_GET

    def log_message(self, format: str, *args) -> None:  # the request log replaces stderr noise
        pass
