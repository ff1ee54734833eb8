"""A fake Hugging Face Hub: a local HTTP server that the real ``huggingface_hub`` client talks to.

Only what ``loradex publish`` / ``loradex pull`` need is implemented, with the routes, JSON shapes and
headers huggingface_hub 2.x expects (read from its hf_api.py, _commit_api.py, lfs.py, file_download.py and
utils/_http.py):

  POST /api/repos/create                                  create_repo (409 when it exists)
  GET  /api/whoami-v2                                     whoami
  POST /api/validate-yaml                                 README.md front matter check (create_commit)
  GET  /api/models/{repo}[/revision/{rev}][?blobs=true]   repo_info / model_info(files_metadata=True)
  GET  /api/models/{repo}/tree/{rev}[/{path}]             list_repo_tree / list_repo_files / snapshot_download
  POST /api/models/{repo}/paths-info/{rev}                get_paths_info
  GET  /api/models/{repo}/commits/{rev}                   list_repo_commits (newest first)
  POST /api/models/{repo}/preupload/{rev}                 upload modes (lfs / regular) + remote oids
  POST /api/models/{repo}/commit/{rev}                    the NDJSON commit
  POST /{repo}.git/info/lfs/objects/batch                 git LFS batch API (basic transfer)
  PUT  /__lfs/{sha256}                                    the "presigned" upload URL the batch hands out
  POST /{repo}.git/info/lfs/objects/verify                the LFS verify action
  HEAD/GET /{repo}/resolve/{rev}/{path}                   hf_hub_download / snapshot_download

Xet is not implemented: run the client with ``HF_HUB_DISABLE_XET=1`` (the ``fake_hub`` fixture also sets
``huggingface_hub.constants.HF_HUB_DISABLE_XET``). Only model repos and the ``main`` branch exist; a
revision is ``main`` or a full commit oid. As on the real Hub, a new repo starts with one commit holding
a ``.gitattributes``.

Every request is recorded in ``hub.requests`` as ``Request(method, path, body_len, headers)`` (``path``
is the raw request target, query string included; ``headers`` a dict with lower-case names).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.loopback import LoopbackServer

ALICE_TOKEN = "hf_test_token_alice"
BOB_TOKEN = "hf_test_token_bob"
DEFAULT_TOKENS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}

#: Suffixes the fake Hub stores in LFS (the real Hub decides from .gitattributes and the size).
LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".png", ".jpg", ".jpeg", ".webp", ".gguf")
#: Files larger than this go to LFS whatever their suffix (the real Hub: 10 MB).
LFS_THRESHOLD = 10 * 1024 * 1024

GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_OID = re.compile(r"^[0-9a-f]{40}$")


class Request(NamedTuple):
    method: str
    path: str  # raw request target, query string included
    body_len: int
    headers: dict[str, str]  # lower-case names


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub calls a regular file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def is_lfs_path(path: str, size: int) -> bool:
    """The fake Hub's rule: weights and images go to LFS, as does anything over 10 MB."""
    return size > 0 and (path.lower().endswith(LFS_SUFFIXES) or size > LFS_THRESHOLD)


class HubError(Exception):
    """Raised inside a handler: answered as ``status`` with a JSON ``{"error": message}`` body."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


def _repo_not_found(status: int = 404) -> HubError:
    return HubError(status, "Repository not found", code="RepoNotFound")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _front_matter(text: str) -> tuple[bool, Any]:
    """(has front matter, parsed value or the YAML error) of a README."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return False, None
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        return False, None
    from loradex.adapters.errors import UnsupportedError
    from loradex.registry.hub.cards import front_matter

    # Bounded as the Hub bounds it: a "billion laughs" card would otherwise expand to ~400M values
    # here (14 GB and minutes to serve as cardData), which the real Hub never serves.
    try:
        return True, front_matter(text.lstrip("\ufeff"))
    except UnsupportedError as exc:
        return True, exc


class FakeHub:
    """An in-memory Hub on ``127.0.0.1`` (port 0: ``hub.url`` once started).

    ``tokens`` maps bearer tokens to user names; ``orgs`` maps a user to the organisations (namespaces) it
    may write to. ``hub.rate_limited = True`` answers every request with 429; an int ``n`` answers the next
    ``n`` requests with 429 (note: the client retries 429 with a >= 1 s sleep on its backoff routes:
    preupload, LFS batch/upload/verify, and the retried HEAD of hf_hub_download; model_info, create_repo
    and the commit POST do not retry).
    """

    def __init__(
        self, tokens: Mapping[str, str] | None = None, *, orgs: Mapping[str, Iterable[str]] | None = None, seed: int = 0
    ):
        self.tokens = dict(DEFAULT_TOKENS if tokens is None else tokens)
        self.orgs = {user: set(names) for user, names in (orgs or {}).items()}
        self.repos: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}  # LFS store: sha256 hex -> content
        self.requests: list[Request] = []
        self.unhandled: list[Request] = []  # requests to routes the fake does not implement
        self.bodies_served = 0  # resolve GETs that sent a file body
        self.bytes_served = 0
        self.rate_limited: bool | int = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._loopback = LoopbackServer()

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._loopback.url

    def start(self) -> FakeHub:
        class Handler(_Handler):
            hub = self

        self._loopback.serve(Handler, "fakehub")
        return self

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def env(self, token: str | None = None) -> dict[str, str]:
        """Environment variables pointing a child process's huggingface_hub at this server."""
        env = {
            "HF_ENDPOINT": self.url,
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        if token is not None:
            env["HF_TOKEN"] = token
        return env

    # -- test helpers -----------------------------------------------------------------------------

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str] | None = None,
        *,
        owner: str | None = None,
        private: bool = False,
        message: str = "Upload files",
    ) -> str:
        """Seed a repo (initial ``.gitattributes`` commit, then one commit with ``files`` if any).

        Files follow :func:`is_lfs_path` (their content also lands in the LFS store). Returns the head oid.
        """
        with self._lock:
            if repo_id in self.repos:
                raise ValueError(f"{repo_id} already exists")
            self._create(repo_id, owner or repo_id.split("/")[0], private)
            if files:
                changes = {
                    path: data.encode() if isinstance(data, str) else bytes(data) for path, data in files.items()
                }
                lfs = {}
                for path, data in changes.items():
                    if is_lfs_path(path, len(data)):
                        sha = hashlib.sha256(data).hexdigest()
                        self.blobs[sha] = data
                        lfs[path] = sha
                self._commit(repo_id, message, changes, lfs, deleted=(), author=owner or repo_id.split("/")[0])
            return self.head(repo_id)

    def head(self, repo_id: str) -> str | None:
        """The oid of the latest commit on ``main`` (None: no such repo)."""
        with self._lock:
            repo = self.repos.get(repo_id)
            return repo["commits"][-1]["oid"] if repo else None

    def commits(self, repo_id: str) -> list[dict[str, Any]]:
        """Oldest first: ``{oid, parent, message, description, author, date, files: {path: bytes},
        lfs: {path: sha256}}`` (``files`` is the whole tree at that commit)."""
        with self._lock:
            return [dict(c, files=dict(c["files"]), lfs=dict(c["lfs"])) for c in self.repos[repo_id]["commits"]]

    def files(self, repo_id: str, revision: str | None = None) -> dict[str, bytes]:
        """The tree of ``revision`` (default: head of ``main``) as ``{path: content}``."""
        with self._lock:
            return dict(self._resolve(self.repos[repo_id], revision)["files"])

    def requests_matching(self, method: str | None = None, contains: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    @property
    def commit_posts(self) -> list[Request]:
        """The commit POSTs received (accepted or not)."""
        return [r for r in self.requests_matching("POST", "/commit/") if r.path.startswith("/api/")]

    def reset_records(self) -> None:
        with self._lock:
            self.requests.clear()
            self.unhandled.clear()
            self.bodies_served = self.bytes_served = 0

    # -- state ------------------------------------------------------------------------------------

    def _oid(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"

    def _create(self, repo_id: str, owner: str, private: bool) -> None:
        self.repos[repo_id] = {"owner": owner, "private": private, "created": _now(), "commits": []}
        self._commit(repo_id, "initial commit", {".gitattributes": GITATTRIBUTES}, {}, deleted=(), author=owner)

    def _commit(
        self,
        repo_id: str,
        message: str,
        changes: Mapping[str, bytes],
        lfs: Mapping[str, str],
        deleted: Iterable[str],
        description: str = "",
        author: str | None = None,
    ) -> str:
        repo = self.repos[repo_id]
        parent = repo["commits"][-1] if repo["commits"] else None
        files = dict(parent["files"]) if parent else {}
        lfs_paths = dict(parent["lfs"]) if parent else {}
        for path in deleted:
            if path.endswith("/"):
                for p in [p for p in files if p.startswith(path)]:
                    files.pop(p)
                    lfs_paths.pop(p, None)
            else:
                files.pop(path, None)
                lfs_paths.pop(path, None)
        for path, data in changes.items():
            files[path] = data
            if path in lfs:
                lfs_paths[path] = lfs[path]
            else:
                lfs_paths.pop(path, None)
        oid = self._oid()
        repo["commits"].append(
            {
                "oid": oid,
                "parent": parent["oid"] if parent else None,
                "message": message,
                "description": description,
                "author": author or repo["owner"],
                "date": _now(),
                "files": files,
                "lfs": lfs_paths,
            }
        )
        return oid

    def _resolve(self, repo: dict[str, Any], revision: str | None) -> dict[str, Any]:
        revision = unquote(revision) if revision else "main"
        if revision == "main":
            return repo["commits"][-1]
        for commit in repo["commits"]:
            if commit["oid"] == revision:
                return commit
        raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")

    def _file_entry(self, commit: dict[str, Any], path: str) -> dict[str, Any]:
        """A tree / paths-info entry (``RepoFile(**entry)``)."""
        data = commit["files"][path]
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(data)}
        sha = commit["lfs"].get(path)
        if sha is not None:
            pointer = lfs_pointer(sha, len(data))
            entry["oid"] = git_blob_sha1(pointer)
            entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": len(pointer)}
        else:
            entry["oid"] = git_blob_sha1(data)
        return entry

    @staticmethod
    def _folder_entry(path: str) -> dict[str, Any]:
        return {"type": "directory", "path": path, "oid": hashlib.sha1(f"tree {path}".encode()).hexdigest()}

    def _remote_oid(self, commit: dict[str, Any], path: str) -> str | None:
        """What preupload reports: sha256 for an LFS file, the git blob id for a regular one."""
        if path not in commit["files"]:
            return None
        return commit["lfs"].get(path) or git_blob_sha1(commit["files"][path])

    # -- auth -------------------------------------------------------------------------------------

    def _user(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _may_write(self, user: str, namespace: str) -> bool:
        return user == namespace or namespace in self.orgs.get(user, ())

    def _readable(self, repo_id: str, user: str | None) -> dict[str, Any]:
        repo = self.repos.get(repo_id)
        if repo is None:
            raise _repo_not_found(401 if user is None else 404)
        if repo["private"] and (user is None or not self._may_write(user, repo["owner"])):
            raise _repo_not_found(401 if user is None else 404)
        return repo

    def _writable(self, repo_id: str, user: str | None) -> dict[str, Any]:
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repo")
        repo = self._readable(repo_id, user)
        if not self._may_write(user, repo["owner"]):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo


# ---------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's pooled session expects
    timeout = 30
    hub: FakeHub

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None, **kw) -> None:
        self._send(status, json.dumps(obj).encode(), headers, **kw)

    def _error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message, **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._json(err.status, {"error": err.message}, headers)

    def _handle(self) -> None:
        hub = self.hub
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Request(self.command, self.path, len(body), headers)
        with hub._lock:
            hub.requests.append(record)
            limited = hub.rate_limited
            if isinstance(limited, int) and not isinstance(limited, bool) and limited > 0:
                hub.rate_limited = limited - 1
        if limited:
            self._json(
                429,
                {"error": "You have exceeded the rate limit"},
                {
                    "RateLimit": '"api";r=0;t=0',
                    "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
                    "X-Error-Message": "Too Many Requests",
                },
            )
            return
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            with hub._lock:
                user = hub._user(headers)
                handled = self._route(split.path, query, body, headers, user)
            if handled is False:
                with hub._lock:
                    hub.unhandled.append(record)
                self._json(404, {"error": f"FakeHub does not implement {self.command} {split.path}"})
        except HubError as err:
            self._error(err)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

    # -- routes -----------------------------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str], body: bytes, headers: dict[str, str], user: str | None):
        method = self.command
        parts = path.strip("/").split("/")
        segs = [unquote(p) for p in parts]
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body or b"{}"), user)
        if method == "GET" and path == "/api/whoami-v2":
            return self._whoami(user)
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body or b"{}"))
        if method == "PUT" and len(segs) == 2 and segs[0] == "__lfs":
            return self._lfs_put(segs[1], body)
        if len(segs) >= 4 and segs[0] == "api" and segs[1] == "models":
            repo_id, rest = f"{segs[2]}/{segs[3]}", segs[4:]
            if method == "GET" and not rest:
                return self._repo_info(repo_id, None, query, user)
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return self._repo_info(repo_id, rest[1], query, user)
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                return self._tree(repo_id, rest[1], "/".join(rest[2:]), query, user)
            if method == "POST" and len(rest) == 2 and rest[0] == "paths-info":
                return self._paths_info(repo_id, rest[1], body, user)
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return self._preupload(repo_id, rest[1], json.loads(body or b"{}"), user)
            if method == "GET" and len(rest) == 2 and rest[0] == "commits":
                return self._list_commits(repo_id, rest[1], user)
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return self._commit(repo_id, rest[1], body, query, headers, user)
            return False
        if len(segs) == 6 and segs[1].endswith(".git") and segs[2:5] == ["info", "lfs", "objects"]:
            repo_id = f"{segs[0]}/{segs[1][:-4]}"
            if method == "POST" and segs[5] == "batch":
                return self._lfs_batch(repo_id, json.loads(body or b"{}"), user)
            if method == "POST" and segs[5] == "verify":
                return self._lfs_verify(repo_id, json.loads(body or b"{}"), user)
            return False
        if method in ("GET", "HEAD") and len(segs) >= 5 and segs[2] == "resolve":
            return self._resolve_file(f"{segs[0]}/{segs[1]}", segs[3], "/".join(segs[4:]), headers, user)
        return False

    def _create_repo(self, payload: dict, user: str | None):
        hub = self.hub
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        if payload.get("type") not in (None, "model"):
            raise HubError(400, f"FakeHub only hosts model repos, not {payload.get('type')!r}")
        name = payload.get("name") or ""
        namespace = payload.get("organization") or user
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or name.endswith(".git"):
            raise HubError(400, f"Invalid repo name {name!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{hub.url}/{repo_id}"
        if not hub._may_write(user, namespace):
            raise HubError(403, f'You don\'t have the rights to create a model under the namespace "{namespace}"')
        if repo_id in hub.repos:
            self._json(
                409,
                {"error": "You already created this model repo", "url": url},
                {"X-Error-Message": "You already created this model repo"},
            )
            return
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        hub._create(repo_id, namespace, private)
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _whoami(self, user: str | None):
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        orgs = [
            {"type": "org", "name": org, "fullname": org, "roleInOrg": "write"}
            for org in sorted(self.hub.orgs.get(user, ()))
        ]
        self._json(
            200,
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": user,
                "email": f"{user}@example.com",
                "emailVerified": True,
                "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": {"displayName": "fakehub", "role": "write"}},
            },
        )

    def _validate_yaml(self, payload: dict):
        has, meta = _front_matter(payload.get("content") or "")
        if not has or meta is None:
            self._json(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]})
        elif isinstance(meta, Exception) or not isinstance(meta, dict):
            message = f"Invalid YAML in README.md front matter: {meta}"
            self._json(400, {"error": message, "errors": [{"message": message}], "warnings": []})
        else:
            self._json(200, {"errors": [], "warnings": []})

    def _repo_info(self, repo_id: str, revision: str | None, query: dict, user: str | None):
        hub = self.hub
        repo = hub._readable(repo_id, user)
        commit = hub._resolve(repo, revision)
        blobs = query.get("blobs", "").lower() == "true"
        siblings = []
        for path in sorted(commit["files"]):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                entry = hub._file_entry(commit, path)
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    sibling["lfs"] = {
                        "sha256": entry["lfs"]["oid"],
                        "size": entry["lfs"]["size"],
                        "pointerSize": entry["lfs"]["pointerSize"],
                    }
            siblings.append(sibling)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo["owner"],
            "sha": commit["oid"],
            "lastModified": commit["date"],
            "createdAt": repo["created"],
            "private": repo["private"],
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(len(d) for d in commit["files"].values()),
        }
        readme = commit["files"].get("README.md")
        if readme is not None:
            has, meta = _front_matter(readme.decode("utf-8", "replace"))
            if has and isinstance(meta, dict):
                info["cardData"] = meta
                info["tags"] = list(meta.get("tags") or []) if isinstance(meta.get("tags"), list) else []
        self._json(200, info)

    def _entries(self, commit: dict, prefix: str, recursive: bool) -> list[dict]:
        hub = self.hub
        base = f"{prefix}/" if prefix else ""
        files = sorted(p for p in commit["files"] if p.startswith(base))
        folders: set[str] = set()
        out = []
        for path in files:
            rel = path[len(base) :]
            pieces = rel.split("/")
            for i in range(1, len(pieces)):
                folders.add(base + "/".join(pieces[:i]))
            if recursive or len(pieces) == 1:
                out.append(hub._file_entry(commit, path))
        if not recursive:
            folders = {f for f in folders if "/" not in f[len(base) :]}
        return sorted([hub._folder_entry(f) for f in folders], key=lambda e: e["path"]) + out

    def _tree(self, repo_id: str, revision: str, path: str, query: dict, user: str | None):
        hub = self.hub
        commit = hub._resolve(hub._readable(repo_id, user), revision)
        recursive = query.get("recursive", "").lower() == "true"
        entries = self._entries(commit, path.strip("/"), recursive)
        if path and not entries:
            raise HubError(
                404,
                f"{path} does not exist on {revision}",
                code="EntryNotFound",
                headers={"X-Repo-Commit": commit["oid"]},
            )
        self._json(200, entries)

    def _paths_info(self, repo_id: str, revision: str, body: bytes, user: str | None):
        hub = self.hub
        commit = hub._resolve(hub._readable(repo_id, user), revision)
        form = parse_qs(body.decode())
        out = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit["files"]:
                out.append(hub._file_entry(commit, path))
            elif any(p.startswith(path + "/") for p in commit["files"]):
                out.append(hub._folder_entry(path))
        self._json(200, out)

    def _preupload(self, repo_id: str, revision: str, payload: dict, user: str | None):
        hub = self.hub
        commit = hub._resolve(hub._writable(repo_id, user), revision)
        files = []
        for item in payload.get("files", []):
            path = item["path"]
            entry = {
                "path": path,
                "uploadMode": "lfs" if is_lfs_path(path, int(item.get("size") or 0)) else "regular",
                "shouldIgnore": False,
            }
            oid = hub._remote_oid(commit, path)
            if oid is not None:
                entry["oid"] = oid
            files.append(entry)
        self._json(200, {"files": files, "commitOid": commit["oid"]})

    def _commit(self, repo_id: str, revision: str, body: bytes, query: dict, headers: dict, user: str | None):
        hub = self.hub
        repo = hub._writable(repo_id, user)
        if query.get("create_pr"):
            raise HubError(400, "FakeHub does not implement pull requests")
        if unquote(revision) != "main":
            hub._resolve(repo, revision)  # 404 RevisionNotFound when unknown
            raise HubError(400, f"FakeHub only commits to main, not {revision!r}")
        try:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HubError(400, f"Malformed NDJSON commit payload: {exc}") from exc
        header = next((line["value"] for line in lines if line.get("key") == "header"), None)
        if header is None or not header.get("summary"):
            raise HubError(400, "Commit header with a summary is required")
        head = repo["commits"][-1]
        if header.get("parentCommit") and header["parentCommit"] != head["oid"]:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        changes: dict[str, bytes] = {}
        lfs: dict[str, str] = {}
        deleted: list[str] = []
        for line in lines:
            key, value = line.get("key"), line.get("value") or {}
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                changes[value["path"]] = base64.b64decode(value["content"])
                lfs.pop(value["path"], None)
            elif key == "lfsFile":
                sha = value.get("oid", "")
                if sha not in hub.blobs:
                    raise HubError(
                        400,
                        f"Your push was rejected because an LFS pointer pointed to a file that "
                        f"does not exist ({value.get('path')}: sha256 {sha})",
                    )
                changes[value["path"]] = hub.blobs[sha]
                lfs[value["path"]] = sha
            elif key == "deletedFile":
                if value["path"] not in head["files"]:
                    raise HubError(404, "A file with this name doesn't exist", code="EntryNotFound")
                deleted.append(value["path"])
            elif key == "deletedFolder":
                deleted.append(value["path"].rstrip("/") + "/")
            elif key != "header":
                raise HubError(400, f"FakeHub does not implement commit operation {key!r}")
        oid = hub._commit(repo_id, header["summary"], changes, lfs, deleted, header.get("description") or "", user)
        self._json(
            200,
            {
                "success": True,
                "commitOid": oid,
                "commitUrl": f"{hub.url}/{repo_id}/commit/{oid}",
                "commitMessage": header["summary"],
                "hookOutput": "",
                "pullRequestUrl": None,
            },
        )

    def _list_commits(self, repo_id: str, revision: str, user: str | None):
        hub = self.hub
        repo = hub._readable(repo_id, user)
        oid = hub._resolve(repo, revision)["oid"]
        by_oid = {c["oid"]: c for c in repo["commits"]}
        out = []
        while oid is not None:
            commit = by_oid[oid]
            out.append(
                {
                    "id": oid,
                    "title": commit["message"],
                    "message": commit["description"],
                    "date": commit["date"],
                    "authors": [{"user": commit["author"]}],
                }
            )
            oid = commit["parent"]
        self._json(200, out)

    def _lfs_batch(self, repo_id: str, payload: dict, user: str | None):
        hub = self.hub
        if payload.get("operation") != "upload":
            raise HubError(400, "FakeHub's LFS batch API only does uploads")
        hub._writable(repo_id, user)
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj.get("oid", ""), int(obj.get("size", 0))
            out: dict[str, Any] = {"oid": oid, "size": size}
            if not _SHA256.match(oid):
                out["error"] = {"code": 422, "message": f"Invalid oid {oid!r}"}
            elif oid not in hub.blobs:
                out["authenticated"] = True
                out["actions"] = {
                    "upload": {"href": f"{hub.url}/__lfs/{oid}"},
                    "verify": {"href": f"{hub.url}/{repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(out)
        self._json(200, {"transfer": "basic", "objects": objects}, content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, oid: str, body: bytes):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "Uploaded content does not match its sha256")
        self.hub.blobs[oid] = body
        self._send(200)

    def _lfs_verify(self, repo_id: str, payload: dict, user: str | None):
        hub = self.hub
        hub._writable(repo_id, user)
        blob = hub.blobs.get(payload.get("oid", ""))
        if blob is None or len(blob) != int(payload.get("size", -1)):
            raise HubError(404, f"LFS object {payload.get('oid')} was not uploaded")
        self._json(200, {"success": True}, content_type="application/vnd.git-lfs+json")

    def _resolve_file(self, repo_id: str, revision: str, path: str, req_headers: dict, user: str | None):
        hub = self.hub
        commit = hub._resolve(hub._readable(repo_id, user), revision)
        if path not in commit["files"]:
            raise HubError(404, "Entry not found", code="EntryNotFound", headers={"X-Repo-Commit": commit["oid"]})
        data = commit["files"][path]
        entry = hub._file_entry(commit, path)
        headers = {
            "X-Repo-Commit": commit["oid"],
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"',
        }
        if "lfs" in entry:
            headers.update(
                {
                    "ETag": f'"{entry["lfs"]["oid"]}"',
                    "X-Linked-Etag": f'"{entry["lfs"]["oid"]}"',
                    "X-Linked-Size": str(len(data)),
                }
            )
        else:
            headers["ETag"] = f'"{entry["oid"]}"'
        status = 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", req_headers.get("range", "").strip())
        if match and self.command == "GET":
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if self.command == "GET":
            hub.bodies_served += 1
            hub.bytes_served += len(data)
        self._send(status, data, headers, content_type="application/octet-stream")
