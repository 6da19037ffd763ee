"""The codec server over real HTTP, as the Temporal UI calls it from the browser."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import httpx
import pytest

from incident_desk.settings import Settings
from intake.app import create_app
from intake.codec_server import codec_app
from integrations.codec import AesGcmCodec
from tests.support.servers import free_port, run_app

KEY = os.urandom(32)
TOKEN = "s3cret-codec-token"
UI = "http://127.0.0.1:8233"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PLAIN = {
    "payloads": [
        {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(b'{"contact": "ext 4410"}')}
    ]
}


@pytest.fixture(scope="module")
def codec_url() -> Iterator[str]:
    with run_app(codec_app(AesGcmCodec({"k1": KEY}), token=TOKEN, origins=[UI])) as url:
        yield url


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_calls_without_or_with_a_wrong_token_are_refused(codec_url: str) -> None:
    for headers in ({}, bearer("wrong"), {"Authorization": TOKEN}):
        for route in ("encode", "decode"):
            response = httpx.post(f"{codec_url}/{route}", json=PLAIN, headers=headers)
            assert response.status_code == 401, (route, headers, response.text)
            assert "ext 4410" not in response.text


def test_encode_then_decode_round_trips_with_the_token(codec_url: str) -> None:
    encoded = httpx.post(f"{codec_url}/encode", json=PLAIN, headers=bearer(TOKEN))
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"][0]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"k1"
    assert b"4410" not in base64.b64decode(sealed["data"])

    decoded = httpx.post(f"{codec_url}/decode", json=encoded.json(), headers=bearer(TOKEN))
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == PLAIN


def test_cors_preflight_allows_the_ui_origin_only(codec_url: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
    }
    allowed = httpx.options(f"{codec_url}/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    other = httpx.options(
        f"{codec_url}/decode", headers={"Origin": "https://evil.test", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers


def test_bad_bodies_and_unknown_keys_get_clear_4xx(codec_url: str) -> None:
    not_json = httpx.post(f"{codec_url}/decode", content=b"{oops", headers=bearer(TOKEN))
    assert not_json.status_code == 400
    wrong_shape = httpx.post(f"{codec_url}/decode", json={"payloads": 3}, headers=bearer(TOKEN))
    assert wrong_shape.status_code == 400

    foreign = httpx.post(
        f"{codec_url}/decode",
        json={
            "payloads": [
                {
                    "metadata": {
                        "encoding": b64(b"binary/encrypted"),
                        "encryption-key-id": b64(b"k0"),
                    },
                    "data": b64(os.urandom(40)),
                }
            ]
        },
        headers=bearer(TOKEN),
    )
    assert foreign.status_code == 422
    assert "key id 'k0'" in foreign.json()["detail"]


def test_intake_serves_the_codec_only_when_a_key_is_configured() -> None:
    common = {"temporal_port": free_port(), "policies_dir": "policies"}
    with run_app(create_app(Settings(**common))) as url:
        assert httpx.post(f"{url}/codec/decode", json=PLAIN).status_code == 404
    keyed = Settings(**common, codec_keys=f"k1:{b64(KEY)}")
    with run_app(create_app(keyed)) as url:
        # No token configured: callers on this machine (the embedded stack's browser) are served.
        response = httpx.post(f"{url}/codec/decode", json=PLAIN)
        assert response.status_code == 200
        assert response.json() == PLAIN
