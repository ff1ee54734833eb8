"""The Civitai client against the fake Civitai: what goes out (the key only as a Bearer header, to
the API host only), how 429 and 5xx are waited out, and every failure as one line."""

from __future__ import annotations

import socket

import pytest

from loradex.registry.civitai.client import (
    Backoff,
    BatchUnsupported,
    BudgetSpent,
    CivitaiClient,
    CivitaiError,
    CivitaiUnreachable,
    GaveUp,
    host_of,
)
from tests.support.fakecivitai import API_KEY

SHA = "ab" * 32


class Waits(list):
    """A sleep that only records how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def client(fake_civitai, waits):
    with CivitaiClient(sleep=waits, timeout=5) as c:
        yield c


def test_the_host_comes_from_the_option_else_the_environment_else_civitai_com(monkeypatch):
    monkeypatch.delenv("CIVITAI_HOST", raising=False)
    assert host_of() == "https://civitai.com"
    monkeypatch.setenv("CIVITAI_HOST", "civitai.red")
    assert host_of() == "https://civitai.red"
    assert host_of("http://127.0.0.1:9/") == "http://127.0.0.1:9"


def test_the_key_goes_only_as_a_bearer_header_never_in_the_query_string(fake_civitai, client):
    fake_civitai.add_version(SHA, version_id=7, model_id=3)
    assert client.versions_by_hashes([SHA])[0]["id"] == 7
    assert client.version_by_hash(SHA)["id"] == 7
    assert client.model(3)["id"] == 3
    assert len(fake_civitai.requests) == 3
    for request in fake_civitai.requests:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert "?" not in request.path and API_KEY not in request.path


def test_the_batch_posts_the_hashes_as_a_json_array(fake_civitai, client):
    client.versions_by_hashes([SHA, "cd" * 32])
    (post,) = fake_civitai.batch_posts()
    assert post.body == [SHA, "cd" * 32]


def test_without_a_key_no_authorization_header_is_sent(fake_civitai, monkeypatch, waits):
    monkeypatch.delenv("CIVITAI_API_KEY")
    with CivitaiClient(sleep=waits) as c:
        c.version_by_hash(SHA)
    assert "authorization" not in fake_civitai.requests[0].headers


def test_images_are_fetched_from_their_own_host_without_the_key(fake_civitai, client):
    url = fake_civitai.image_host.image_url("1")
    assert client.image(url).startswith(b"\x89PNG")
    (request,) = fake_civitai.image_host.requests
    assert "authorization" not in request.headers
    assert fake_civitai.requests == []  # nothing went to the API host


def test_an_unknown_hash_is_none(client):
    assert client.version_by_hash(SHA) is None
    assert client.model(404) is None


def test_a_429_with_retry_after_waits_what_it_asks(fake_civitai, client, waits):
    fake_civitai.add_version(SHA, version_id=7, model_id=3)
    fake_civitai.rate_limit_for(0.3, retry_after="2")
    waits_before = len(waits)

    def sleep(seconds):  # the fake's storm ends while we "wait"
        waits.append(seconds)
        import time

        time.sleep(0.35)

    client.sleep = sleep
    assert client.version_by_hash(SHA)["id"] == 7
    assert waits[waits_before:] == [2.0]


def test_429s_without_retry_after_back_off_exponentially(fake_civitai, client, waits):
    fake_civitai.fail_next([429, 429, 429])
    assert client.version_by_hash(SHA) is None
    assert waits == [1.0, 2.0, 4.0]
    assert client.requests_made == 4


def test_a_5xx_is_retried_with_waits_that_double_up_to_30_s(fake_civitai, client, waits):
    fake_civitai.fail_next([500, 502])
    fake_civitai.add_version(SHA, version_id=7, model_id=3)
    assert client.model(3)["id"] == 3
    assert waits == [1.0, 2.0]
    assert [Backoff().delay(n, None) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_retry_after_past_the_patience_gives_up_at_once_saying_so(fake_civitai, client, waits):
    fake_civitai.rate_limit_for(60, retry_after="3600")
    with pytest.raises(GaveUp, match="asks to wait 3600 s more; giving up"):
        client.version_by_hash(SHA)
    assert waits == []


def test_a_site_that_keeps_failing_is_given_up_on_in_one_line(fake_civitai, client, waits):
    fake_civitai.fail_next([503] * 100)
    with pytest.raises(GaveUp) as caught:
        client.version_by_hash(SHA)
    message = str(caught.value)
    assert "\n" not in message and "503" in message and "giving up" in message
    assert sum(waits) <= Backoff().give_up_after and max(waits) == 30.0


def test_the_request_budget_stops_the_run(fake_civitai, waits):
    with CivitaiClient(sleep=waits, budget=2) as c:
        c.version_by_hash(SHA)
        c.version_by_hash(SHA)
        with pytest.raises(BudgetSpent, match="budget of 2 requests"):
            c.version_by_hash(SHA)


def test_a_slow_answer_past_the_timeout_is_one_line(fake_civitai, waits):
    fake_civitai.delay = 1.0
    with CivitaiClient(sleep=waits, timeout=0.2) as c, pytest.raises(CivitaiUnreachable) as caught:
        c.version_by_hash(SHA)
    assert "did not answer" in str(caught.value) and waits == []


def test_a_slow_answer_within_the_timeout_is_waited_for(fake_civitai, waits):
    fake_civitai.delay = 0.3
    with CivitaiClient(sleep=waits, timeout=5) as c:
        assert c.version_by_hash(SHA) is None


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_host_is_one_line_naming_it(waits):
    with CivitaiClient(f"http://127.0.0.1:{_dead_port()}", sleep=waits) as c, pytest.raises(CivitaiUnreachable) as c2:
        c.versions_by_hashes([SHA])
    assert "is not reachable" in str(c2.value) and "\n" not in str(c2.value)


def test_malformed_json_is_one_line(fake_civitai, client):
    fake_civitai.malformed = True
    with pytest.raises(CivitaiError, match="malformed JSON"):
        client.versions_by_hashes([SHA])


def test_a_host_without_the_batch_endpoint_says_so(fake_civitai, client):
    fake_civitai.batch = False
    with pytest.raises(BatchUnsupported):
        client.versions_by_hashes([SHA])


def test_a_refused_key_is_named_by_its_variable_never_by_its_value(fake_civitai, client):
    fake_civitai.fail_next([401])
    with pytest.raises(CivitaiError) as caught:
        client.version_by_hash(SHA)
    assert "CIVITAI_API_KEY" in str(caught.value) and API_KEY not in str(caught.value)
