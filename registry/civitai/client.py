"""The one door to Civitai's public API: the host, the key, the backoff, and every failure as one line.

Nothing here runs unless a command asks (offline-first). The host is ``--host``, else
``$CIVITAI_HOST``, else https://civitai.com (civitai.red, or any mirror's URL, works the same).
The API key comes from ``$CIVITAI_API_KEY`` only and is sent only as ``Authorization: Bearer``
to the API host — never in a query string (``?token=`` ends up in server and proxy logs), never
to the image host, and never in a message: anything a server says is masked before it is
repeated.

Civitai publishes no rate limit and often answers 429 without ``Retry-After``: a 429 or a 5xx
is retried after what ``Retry-After`` asks, else after 1 s, 2 s, 4 s … (30 s at most), until the
waits of one request add up to :attr:`Backoff.give_up_after`; a run also has a budget of requests.
A timeout or a host that cannot be reached is not retried: the command stops with one line.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from loradex.adapters.errors import LoradexError
from loradex.adapters.io import bounded_json
from loradex.adapters.words import count

__all__ = [
    "DEFAULT_HOST",
    "Backoff",
    "BatchUnsupported",
    "BudgetSpent",
    "CivitaiClient",
    "CivitaiError",
    "CivitaiUnreachable",
    "GaveUp",
    "host_of",
]

DEFAULT_HOST = "https://civitai.com"
HOST_VAR = "CIVITAI_HOST"
KEY_VAR = "CIVITAI_API_KEY"
#: Hashes per ``POST /api/v1/model-versions/by-hash`` (what the site's own clients send).
BATCH = 100
#: An example image bigger than this is not a preview anyone needs (Civitai serves ~1 MB JPEGs).
MAX_IMAGE_BYTES = 32 * 1024 * 1024


class CivitaiError(LoradexError):
    """Civitai refused a request, answered something unreadable, or could not be asked."""


class CivitaiUnreachable(CivitaiError, ConnectionError):
    """The host did not answer: a DNS failure, a refused connection, a timeout."""


class GaveUp(CivitaiError):
    """The host kept answering 429 or 5xx past the backoff's patience."""


class BudgetSpent(CivitaiError):
    """The run made as many requests as it was allowed."""


class BatchUnsupported(CivitaiError):
    """The host has no batch endpoint (a mirror answering 404/405): ask hash by hash."""


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retrying a 429 or a 5xx.

    Attributes:
        first: the first wait in seconds; each next one doubles.
        cap: the longest wait the doubling reaches.
        give_up_after: the most seconds one request waits in all before the run gives up (a
            ``Retry-After`` asking for longer gives up at once).
    """

    first: float = 1.0
    cap: float = 30.0
    give_up_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry ``attempt`` (0 first): what the site asked, else the doubling."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        return min(self.first * 2**attempt, self.cap)


def host_of(option: str | None = None) -> str:
    """The API host: ``option``, else ``$CIVITAI_HOST``, else :data:`DEFAULT_HOST`; a bare name
    (``civitai.red``) means https."""
    value = (option or os.environ.get(HOST_VAR) or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CivitaiError(f"{value!r} is not a Civitai host; give a URL such as https://civitai.com")
    return value


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


class CivitaiClient:
    """Requests to one Civitai host, counted against a budget.

    Args:
        host: the API host (:func:`host_of`).
        key: the API key, sent as ``Authorization: Bearer`` to ``host`` only (default ``$CIVITAI_API_KEY``).
        timeout: seconds to wait for a connection and for each read.
        budget: the most requests a run makes, retries included.
        backoff: the waits before retrying a 429 or 5xx.
        sleep: how to wait (tests pass one that does not).
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        key: str | None = None,
        timeout: float = 30.0,
        budget: int = 2000,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        self.host = host_of(host)
        self._key = key if key is not None else (os.environ.get(KEY_VAR) or None)
        self.timeout = timeout
        self.budget = budget
        self.backoff = backoff
        self.sleep = sleep
        self.requests_made = 0
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "loradex"

    @property
    def name(self) -> str:
        """The host as messages name it (``civitai.com``)."""
        return urlsplit(self.host).netloc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CivitaiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the endpoints ------------------------------------------------------------------------------

    def versions_by_hashes(self, hashes: Sequence[str]) -> list[dict[str, Any]]:
        """The model versions that hold a file with one of ``hashes`` (at most :data:`BATCH`).

        Raises:
            BatchUnsupported: the host has no batch endpoint (404 or 405).
            CivitaiError: as :meth:`_call`.
        """
        assert len(hashes) <= BATCH, "the caller cuts the batches"
        what = "POST /api/v1/model-versions/by-hash"
        response = self._call("POST", "/api/v1/model-versions/by-hash", body=list(hashes))
        if response.status_code in (404, 405):
            raise BatchUnsupported(f"{self.name} has no batch lookup ({what} answered {response.status_code})")
        self._check(response, what)
        answer = self._json(response, what)
        if not isinstance(answer, list):
            raise CivitaiError(f"{self.name} answered {what} with {type(answer).__name__}, not a list of versions")
        return [version for version in answer if isinstance(version, dict)]

    def version_by_hash(self, file_hash: str) -> dict[str, Any] | None:
        """The model version holding a file with ``file_hash``; None when Civitai knows none."""
        return self._page(f"/api/v1/model-versions/by-hash/{quote(file_hash, safe='')}")

    def model(self, model_id: int) -> dict[str, Any] | None:
        """A model's page (tags, description, license flags, every version); None when it is gone."""
        return self._page(f"/api/v1/models/{int(model_id)}")

    def _page(self, path: str) -> dict[str, Any] | None:
        """The JSON object at ``path``; None for a 404."""
        response = self._call("GET", path)
        if response.status_code == 404:
            return None
        self._check(response, f"GET {path}")
        return self._object(response, f"GET {path}")

    def image(self, url: str) -> bytes | None:
        """An example image's bytes; None when its host cannot give it (a missing or oversized
        image is no reason to stop a sync). Sent without the key: images live on another host."""
        import requests

        if urlsplit(url).scheme not in ("http", "https"):
            return None
        try:
            with requests.get(url, timeout=self.timeout, stream=True, headers={"User-Agent": "loradex"}) as response:
                if response.status_code != 200:
                    return None
                data = bytearray()
                for chunk in response.iter_content(1 << 16):
                    data += chunk
                    if len(data) > MAX_IMAGE_BYTES:
                        return None
                return bytes(data)
        except requests.RequestException:
            return None

    # -- plumbing ------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None) -> Any:
        """One request with the backoff: the response of the first answer that is neither 429 nor 5xx.

        Raises:
            BudgetSpent: the run's budget of requests is spent.
            GaveUp: 429/5xx answers outlasted :attr:`Backoff.give_up_after`.
            CivitaiUnreachable: a timeout, a DNS failure, a refused connection.
        """
        import requests

        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        waited, attempt = 0.0, 0
        while True:
            if self.requests_made >= self.budget:
                raise BudgetSpent(f"the budget of {count(self.budget, 'requests')} to {self.name} is spent (--budget)")
            self.requests_made += 1
            try:
                response = self._http.request(
                    method, self.host + path, json=body, headers=headers, timeout=self.timeout, allow_redirects=True
                )
            except requests.Timeout as exc:
                raise CivitaiUnreachable(
                    f"{self.name} did not answer {method} {path} within {self.timeout:g} s; try again later"
                ) from exc
            except requests.RequestException as exc:
                raise CivitaiUnreachable(
                    f"{self.name} is not reachable ({type(exc).__name__}: {self._masked(_reason(exc))})"
                ) from exc
            status = response.status_code
            if status != 429 and status < 500:
                return response
            delay = self.backoff.delay(attempt, _retry_after(response.headers.get("Retry-After")))
            if waited + delay > self.backoff.give_up_after:
                asked = f" and asks to wait {delay:.0f} s more" if delay > self.backoff.cap else ""
                raise GaveUp(
                    f"{self.name} kept answering {status} to {method} {path}: {attempt + 1} tries over "
                    f"{waited:.0f} s{asked}; giving up (run again later)"
                )
            response.close()
            self.sleep(delay)
            waited += delay
            attempt += 1

    def _check(self, response: Any, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403):
            why = (
                f"refused the API key ({status}); check {KEY_VAR}"
                if self._key
                else f"needs an API key for this ({status}); set {KEY_VAR}"
            )
        else:
            why = f"answered {status}: {self._masked(response.text[:160])}"
        raise CivitaiError(f"{self.name} {why} ({what})")

    def _json(self, response: Any, what: str) -> Any:
        try:
            return bounded_json.loads(response.text)
        except ValueError as exc:
            raise CivitaiError(
                f"{self.name} answered {what} with malformed JSON ({self._masked(str(exc))[:120]})"
            ) from exc

    def _object(self, response: Any, what: str) -> dict[str, Any]:
        answer = self._json(response, what)
        if not isinstance(answer, dict):
            raise CivitaiError(f"{self.name} answered {what} with {type(answer).__name__}, not an object")
        return answer

    def _masked(self, text: str) -> str:
        text = " ".join(str(text).split())
        return text.replace(self._key, "***") if self._key else text


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests failure (urllib3 nests "Max retries … caused by …")."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return str(exc)[:160]
