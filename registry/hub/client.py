"""The one door to the Hugging Face Hub: a quiet ``HfApi`` and its failures as one line each.

huggingface_hub does the work (repo creation, commits, LFS, the cache, tokens, ``HF_ENDPOINT``);
this module only keeps its warnings and progress bars off the terminal and turns its exceptions
into :class:`HubError` messages that name the repo and the cause — and never the token, which
is masked in anything the library put into a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from loradex.adapters.errors import LoradexError


class HubError(LoradexError):
    """A Hub request failed: no token, no access, not found, rate limited, unreachable, or refused."""


def quiet_hub() -> None:
    """Silence huggingface_hub's bars and warnings, and its telemetry, before it is imported."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars, logging

    # The constants are read when huggingface_hub is first imported (diffusers may have done so).
    constants.HF_HUB_DISABLE_TELEMETRY = True
    disable_progress_bars()
    logging.set_verbosity_error()


def api(endpoint: str | None = None, token: str | None = None) -> Any:
    """An ``HfApi`` on ``endpoint`` (default: ``HF_ENDPOINT`` / the Hub) with huggingface_hub's
    own token resolution (``HF_TOKEN``, the login cache) unless ``token`` is given."""
    quiet_hub()
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token, library_name="loradex")


def token_of(client: Any) -> str | None:
    """The token ``client`` will send (for masking), as huggingface_hub resolves it."""
    from huggingface_hub.utils import get_token

    return client.token or get_token()


def _masked(text: str, token: str | None) -> str:
    text = " ".join(str(text).split())
    return text.replace(token, "***") if token else text


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


@contextmanager
def hub_errors(repo: str, *, token: str | None, endpoint: str, path: str | None = None) -> Iterator[None]:
    """Map huggingface_hub's exceptions raised inside the block to one-line :class:`HubError`\\ s."""
    from huggingface_hub import errors

    try:
        yield
    except LoradexError:
        raise
    except errors.LocalTokenNotFoundError as exc:
        raise HubError(f"{repo}: no Hugging Face token; set HF_TOKEN or run `hf auth login`") from exc
    except errors.RevisionNotFoundError as exc:
        raise HubError(f"{repo}: no such revision on {endpoint}") from exc
    except errors.RemoteEntryNotFoundError as exc:
        raise HubError(f"{repo}: no file {path or ''} at that revision".replace("  ", " ")) from exc
    except errors.GatedRepoError as exc:
        raise HubError(f"{repo}: the repo is gated; accept its conditions on the Hub first") from exc
    except errors.RepositoryNotFoundError as exc:
        if _status(exc) == 401 and not token:
            raise HubError(
                f"{repo}: no such repo, or it is private and no token was given (set HF_TOKEN or run `hf auth login`)"
            ) from exc
        raise HubError(f"{repo}: no such repo on {endpoint} (or the token cannot see it)") from exc
    except errors.OfflineModeIsEnabled as exc:
        raise HubError(f"{repo}: the Hub is not reachable: offline mode is on (HF_HUB_OFFLINE)") from exc
    except errors.BadRequestError as exc:
        raise HubError(f"{repo}: the Hub refused the request: {_masked(_server_message(exc), token)}") from exc
    except errors.HfHubHTTPError as exc:
        status = _status(exc)
        if status == 401:
            why = (
                "the token was rejected (expired or revoked?)"
                if token
                else "no Hugging Face token; set HF_TOKEN or run `hf auth login`"
            )
        elif status == 403:
            why = "the token has no write access to this repo (it belongs to someone else, or the token is read-only)"
        elif status == 429:
            why = "rate limited by the Hub; wait a few minutes and try again"
        else:
            why = f"the Hub answered {status}: {_masked(_server_message(exc), token)}"
        raise HubError(f"{repo}: {why}") from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise HubError(
            f"{repo}: the Hub at {endpoint} is not reachable ({_masked(type(exc).__name__, token)}: "
            f"{_masked(str(exc), token)[:160]})"
        ) from exc
    except Exception as exc:  # httpx transport errors are not OSErrors
        if type(exc).__module__.startswith("httpx"):
            raise HubError(f"{repo}: the Hub at {endpoint} is not reachable ({type(exc).__name__})") from exc
        raise


def _server_message(exc: BaseException) -> str:
    server = getattr(exc, "server_message", None)
    if server:
        return str(server)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
