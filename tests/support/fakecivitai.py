"""A fake Civitai: a local HTTP server that loradex's real Civitai client talks to, and a second
one for the example images (Civitai serves them from image.civitai.com, another host).

Routes and JSON shapes of Civitai's public API (``/api/v1``):

  POST /api/v1/model-versions/by-hash          a JSON array of hashes -> the array of versions holding
                                               a file with one of them (unknown hashes are left out)
  GET  /api/v1/model-versions/by-hash/{hash}   the version, or 404 {"error": "Model not found"}
  GET  /api/v1/models/{id}                     the model (tags, description, license flags, versions)

Misbehaviour on demand: ``rate_limit_for(seconds, retry_after=None)`` answers 429 for that long
(wall clock), ``fail_next([500, 502])`` answers the next requests with those statuses,
``delay`` sleeps before every answer, ``malformed`` answers 200 with broken JSON, ``batch = False``
answers the batch endpoint 404 as a mirror without it would. Every request is recorded in
``requests`` as ``Request(method, path, headers, body)`` (``path`` with its query string,
``headers`` with lower-case names, ``body`` parsed JSON or None).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from tests.support.loopback import LoopbackServer

API_KEY = "civitai-test-key-7f3a9c"


#: A 1×1 PNG: what every example image is.
def _example_png() -> bytes:
    """A real 48×72 PNG (a gradient, so a terminal shows a picture, not a blank)."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((48, 72)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


PNG = _example_png()
#: What a host sends when a download goes wrong: an HTML error page under an image's URL.
NOT_AN_IMAGE = b"<html><body>502 Bad Gateway</body></html>"


def file_hashes(path: Path) -> tuple[str, str]:
    """``(sha256, AutoV3)`` of a safetensors file as Civitai computes them on upload: AutoV3 is the
    first 12 hex of the sha256 of the bytes after the header (the 8-byte length and the JSON)."""
    data = path.read_bytes()
    start = 8 + int.from_bytes(data[:8], "little")
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(data[start:]).hexdigest()[:12]


class Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Server(LoopbackServer):
    """A loopback server whose handler records each request and answers with ``self.answer``."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.lock = threading.RLock()

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                with owner.lock:
                    owner.requests.append(Request(self.command, self.path, headers, body))
                status, payload, extra = owner.answer(self.command, self.path, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    kind = "image/png" if isinstance(payload, bytes) and payload.startswith(b"\x89PNG") else None
                    self.send_header("Content-Type", kind or "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            do_GET = do_POST = _handle

        self.serve(Handler, type(self).__name__)
        return self

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


class ImageHost(_Server):
    """The second host: ``GET /{anything}`` is the PNG, unless the path is in ``missing`` (404) or
    ``broken`` (200 with :data:`NOT_AN_IMAGE`)."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()
        self.broken: set[str] = set()

    def answer(self, method, path, body):
        if path in self.missing:
            return 404, {"error": "not found"}, {}
        return 200, NOT_AN_IMAGE if path in self.broken else PNG, {}

    def image_url(self, name: str) -> str:
        return f"{self.url}/xG1nkqKTMzGDvpLrqFT7WA/{name}/width=450/{name}.png"


class FakeCivitai(_Server):
    """Civitai's model versions, indexed by every hash of their files."""

    def __init__(self, images: ImageHost) -> None:
        super().__init__()
        self.image_host = images
        self.versions: dict[int, dict[str, Any]] = {}
        self.models: dict[int, dict[str, Any]] = {}
        self.by_hash: dict[str, int] = {}
        self.batch = True
        self.delay = 0.0
        self.malformed = False
        self._limited_until = 0.0
        self._retry_after: str | None = None
        self._failures: list[int] = []

    # -- content ---------------------------------------------------------------------------------

    def add_version(
        self,
        sha256: str,
        autov3: str | None = None,
        *,
        version_id: int,
        model_id: int,
        model_name: str = "A Model",
        name: str = "v1.0",
        base_model: str = "SD 1.5",
        trained_words: Iterable[str] = (),
        description: str | None = "<p>A <b>version</b> description.</p>",
        model_description: str = "<p>The model &amp; its <i>story</i>.</p><ul><li>one</li><li>two</li></ul>",
        images: int = 2,
        nsfw_levels: Iterable[int] = (),
        published: str = "2025-03-01T10:00:00.000Z",
        tags: Iterable[str] = ("character", "anime"),
        creator: str = "someone",
    ) -> dict[str, Any]:
        """A version (the JSON Civitai answers) with one file of that sha256 (and AutoV3, for a
        safetensors file: :func:`file_hashes`), added to its model."""
        levels = list(nsfw_levels) or [1] * images
        version = {
            "id": version_id,
            "modelId": model_id,
            "name": name,
            "createdAt": published,
            "updatedAt": published,
            "publishedAt": published,
            "trainedWords": list(trained_words),
            "trainingStatus": None,
            "trainingDetails": None,
            "baseModel": base_model,
            "baseModelType": "Standard",
            "earlyAccessEndsAt": None,
            "description": description,
            "uploadType": "Created",
            "air": f"urn:air:sd1:lora:civitai:{model_id}@{version_id}",
            "stats": {"downloadCount": 12, "ratingCount": 0, "rating": 0, "thumbsUpCount": 3},
            "model": {"name": model_name, "type": "LORA", "nsfw": False, "poi": False},
            "files": [
                {
                    "id": version_id * 10,
                    "sizeKB": 18.5,
                    "name": f"model_{version_id}.safetensors",
                    "type": "Model",
                    "pickleScanResult": "Success",
                    "virusScanResult": "Success",
                    "metadata": {"format": "SafeTensor", "size": None, "fp": None},
                    "hashes": {
                        "AutoV1": "1A2B3C4D",
                        "AutoV2": sha256[:10].upper(),
                        "SHA256": sha256.upper(),
                        "CRC32": "DEADBEEF",
                        "BLAKE3": "B" * 64,
                        **({"AutoV3": autov3.upper()} if autov3 else {}),
                    },
                    "primary": True,
                    "downloadUrl": f"{self.url}/api/download/models/{version_id}",
                }
            ],
            "images": [
                {
                    "id": version_id * 100 + i,
                    "url": self.image_host.image_url(f"{version_id}-{i}"),
                    "nsfwLevel": level,
                    "width": 512,
                    "height": 768,
                    "hash": "U5F~.K00~q?b",
                    "type": "image",
                    "hasMeta": True,
                    "meta": {
                        "prompt": f"a photo of sks, example {i}",
                        "negativePrompt": "blurry",
                        "seed": 1234 + i,
                        "steps": 28,
                        "sampler": "DPM++ 2M Karras",
                        "cfgScale": 7,
                        "Model": "v1-5-pruned-emaonly",
                        "resources": [{"name": model_name, "type": "lora", "weight": 0.8, "hash": sha256[:10]}],
                    },
                }
                for i, level in enumerate(levels)
            ],
            "downloadUrl": f"{self.url}/api/download/models/{version_id}",
        }
        with self.lock:
            self.versions[version_id] = version
            self.by_hash[sha256.lower()] = version_id
            if autov3:
                self.by_hash[autov3.lower()] = version_id
            model = self.models.setdefault(
                model_id,
                {
                    "id": model_id,
                    "name": model_name,
                    "description": model_description,
                    "type": "LORA",
                    "poi": False,
                    "nsfw": False,
                    "nsfwLevel": 1,
                    "allowNoCredit": True,
                    "allowCommercialUse": ["Image", "RentCivit"],
                    "allowDerivatives": True,
                    "allowDifferentLicense": False,
                    "stats": {"downloadCount": 12},
                    "creator": {"username": creator, "image": None},
                    "tags": list(tags),
                    "modelVersions": [],
                },
            )
            summary = {k: version[k] for k in ("id", "name", "baseModel", "publishedAt", "files", "images")}
            model["modelVersions"] = sorted(
                [*[v for v in model["modelVersions"] if v["id"] != version_id], summary],
                key=lambda v: v["publishedAt"],
                reverse=True,
            )
        return version

    def delete_version(self, version_id: int) -> None:
        """The page is gone upstream: its hashes answer 404 and its model no longer lists it."""
        with self.lock:
            self.versions.pop(version_id, None)
            self.by_hash = {h: v for h, v in self.by_hash.items() if v != version_id}
            for model in self.models.values():
                model["modelVersions"] = [v for v in model["modelVersions"] if v["id"] != version_id]

    # -- misbehaviour ----------------------------------------------------------------------------

    def rate_limit_for(self, seconds: float, retry_after: str | None = None) -> None:
        with self.lock:
            self._limited_until = time.monotonic() + seconds
            self._retry_after = retry_after

    def fail_next(self, statuses: Iterable[int]) -> None:
        with self.lock:
            self._failures.extend(statuses)

    # -- what the server saw ---------------------------------------------------------------------

    def api_requests(self, method: str | None = None, contains: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def batch_posts(self) -> list[Request]:
        return self.api_requests("POST", "/api/v1/model-versions/by-hash")

    # -- answers ---------------------------------------------------------------------------------

    def answer(self, method, path, body):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if time.monotonic() < self._limited_until:
                headers = {"Retry-After": self._retry_after} if self._retry_after is not None else {}
                return 429, {"error": "Too Many Requests"}, headers
            if self._failures:
                status = self._failures.pop(0)
                return status, {"error": "Internal Server Error"}, {}
            if self.malformed:
                return 200, b'[{"id": 1, "name": "v1', {}
            route = unquote(urlsplit(path).path)
            if method == "POST" and route == "/api/v1/model-versions/by-hash":
                if not self.batch:
                    return 404, b"<!DOCTYPE html><title>404: This page could not be found</title>", {}
                if not isinstance(body, list):
                    return 400, {"error": "Expected an array of hashes"}, {}
                if len(body) > 100:
                    return 400, {"error": "Too many hashes (max 100)"}, {}
                ids = {self.by_hash[h.lower()] for h in body if isinstance(h, str) and h.lower() in self.by_hash}
                return 200, [self.versions[i] for i in sorted(ids)], {}
            if method == "GET" and route.startswith("/api/v1/model-versions/by-hash/"):
                wanted = route.rsplit("/", 1)[1].lower()
                if wanted not in self.by_hash:
                    return 404, {"error": "Model not found"}, {}
                return 200, self.versions[self.by_hash[wanted]], {}
            if method == "GET" and route.startswith("/api/v1/models/"):
                try:
                    model = self.models.get(int(route.rsplit("/", 1)[1]))
                except ValueError:
                    model = None
                if model is None:
                    return 404, {"error": "No model with id"}, {}
                return 200, model, {}
            return 404, {"error": "Not found"}, {}
