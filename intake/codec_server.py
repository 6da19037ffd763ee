"""The remote codec server for the Temporal UI: authorised staff read decrypted history.

The UI posts `{"payloads": [{"metadata": {...}, "data": "..."}]}` (protobuf JSON: bytes as
base64) to `<endpoint>/encode` or `<endpoint>/decode` straight from the browser, hence CORS for
the UI's origin. Whoever can call `/decode` can read every incident's payloads, so calls carry
`Authorization: Bearer <INCIDENT_DESK_CODEC_TOKEN>`; with no token configured only callers on
this machine (loopback) are served, which is the embedded `make run` case where the browser and
the intake server share a host.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from ipaddress import ip_address
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from incident_desk.settings import Settings
from integrations.codec import AesGcmCodec, CodecError

__all__ = ["MAX_BODY_BYTES", "codec_app", "codec_origins", "mount_codec_server"]

MAX_BODY_BYTES = 8 * 1024 * 1024


def codec_origins(settings: Settings) -> list[str]:
    """Configured origins, else the Temporal UI's own (and its localhost twin for 127.0.0.1)."""
    if settings.codec_cors_origins:
        return [o.strip().rstrip("/") for o in settings.codec_cors_origins.split(",") if o.strip()]
    ui = urlsplit(settings.temporal_ui)
    origins = [f"{ui.scheme}://{ui.netloc}"]
    if ui.hostname == "127.0.0.1":
        origins.append(f"{ui.scheme}://localhost{f':{ui.port}' if ui.port else ''}")
    return origins


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _authorised(request: Request, token: str | None) -> bool:
    if token is None:
        host = request.client.host if request.client else ""
        try:
            return ip_address(host).is_loopback
        except ValueError:
            return False
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def codec_app(codec: AesGcmCodec, *, token: str | None, origins: Sequence[str]) -> FastAPI:
    """A sub-application, so CORS applies to the codec routes and not to the intake API."""
    app = FastAPI(title="Incident Desk codec server", docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    async def transform(request: Request, apply: Callable[[Payload], Payload]) -> JSONResponse:
        if not _authorised(request, token):
            return _error(401, "codec server: missing or wrong bearer token")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"codec server: body over {MAX_BODY_BYTES} bytes")
        payloads = Payloads()
        try:
            json_format.Parse(body or b"{}", payloads)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            return _error(400, f'codec server: expected {{"payloads": [...]}}: {exc}')
        try:
            result = [apply(p) for p in payloads.payloads]
        except CodecError as exc:
            return _error(422, f"codec server: {exc}")
        out = Payloads(payloads=result)  # type: ignore[arg-type]
        return JSONResponse(json_format.MessageToDict(out))

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        return await transform(request, codec.encrypt)

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        return await transform(request, codec.decrypt)

    return app


def mount_codec_server(app: FastAPI, settings: Settings, codec: AesGcmCodec | None) -> None:
    """Serve `/codec/encode` and `/codec/decode` when a key is configured, else nothing."""
    if codec is None:
        return
    token = settings.codec_token.get_secret_value() if settings.codec_token else None
    app.mount("/codec", codec_app(codec, token=token, origins=codec_origins(settings)))
