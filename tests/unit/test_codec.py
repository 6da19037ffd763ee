"""The payload codec: round trip, rotation, and clear refusals; never key material in errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from incident_desk.connection import codec_for, encryption_notice, ui_codec_args
from incident_desk.settings import Settings
from integrations.codec import (
    ENCODING,
    KEY_ID_METADATA,
    AesGcmCodec,
    CodecConfigError,
    CodecError,
    parse_keyring,
)

OLD, NEW = os.urandom(32), os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_the_data_and_names_the_key() -> None:
    codec = AesGcmCodec({"k2": NEW, "k1": OLD})
    original = [plain('{"contact": "maria@example.com"}'), plain("null")]
    encoded = await codec.encode(original)
    assert all(p.metadata["encoding"] == ENCODING for p in encoded)
    assert all(p.metadata[KEY_ID_METADATA] == b"k2" for p in encoded)
    assert b"maria" not in encoded[0].SerializeToString()
    assert await codec.decode(encoded) == original


async def test_rotation_new_key_encrypts_old_keys_still_decrypt() -> None:
    before = await AesGcmCodec({"k1": OLD}).encode([plain("old history")])
    rotated = AesGcmCodec({"k2": NEW, "k1": OLD})
    assert (await rotated.decode(before))[0].data == b"old history"
    assert (await rotated.encode([plain("x")]))[0].metadata[KEY_ID_METADATA] == b"k2"


async def test_unencrypted_payloads_pass_through_decode() -> None:
    codec = AesGcmCodec({"k1": OLD})
    assert await codec.decode([plain("written before a key was set")]) == [
        plain("written before a key was set")
    ]


async def test_unknown_key_id_is_a_clear_error_naming_it() -> None:
    encoded = await AesGcmCodec({"retired-2025": OLD}).encode([plain("x")])
    with pytest.raises(CodecError, match="key id 'retired-2025', which is not configured") as err:
        await AesGcmCodec({"k2": NEW}).decode(encoded)
    assert b64(OLD) not in str(err.value) and b64(NEW) not in str(err.value)


async def test_a_relabelled_or_altered_payload_fails_authentication() -> None:
    encoded = (await AesGcmCodec({"a": OLD}).encode([plain("x")]))[0]
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"b"}, data=encoded.data)
    with pytest.raises(CodecError, match="failed authentication"):
        await AesGcmCodec({"a": OLD, "b": OLD}).decode([relabelled])


def test_keyring_parsing_keeps_order_and_refuses_bad_keys(tmp_path: Path) -> None:
    keys = parse_keyring(f"k2:{b64(NEW)}, k1:{b64(OLD)}  # newest first\n")
    assert list(keys) == ["k2", "k1"]
    with pytest.raises(CodecConfigError, match="key 'short' decodes to 16 bytes"):
        parse_keyring(f"short:{b64(os.urandom(16))}")
    with pytest.raises(CodecConfigError, match="'bad' is not valid base64"):
        parse_keyring("bad:not*base64")
    with pytest.raises(CodecConfigError, match="id:base64key"):
        parse_keyring(b64(NEW))
    with pytest.raises(CodecConfigError, match="'k1' is configured twice"):
        parse_keyring(f"k1:{b64(NEW)},k1:{b64(OLD)}")


def test_settings_combine_variable_and_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "codec.keys"
    keys_file.write_text(f"# rotated out in March\nk1:{b64(OLD)}\n")
    settings = Settings(codec_keys=f"k2:{b64(NEW)}", codec_keys_file=keys_file, intake_port=8123)
    codec = codec_for(settings)
    assert codec is not None and codec.key_ids == ["k2", "k1"]
    assert "ON" in encryption_notice(settings) and b64(NEW) not in encryption_notice(settings)
    assert ui_codec_args(settings) == ["--ui-codec-endpoint", "http://127.0.0.1:8123/codec"]

    unencrypted = Settings()
    assert codec_for(unencrypted) is None
    assert encryption_notice(unencrypted).startswith("Payload encryption: OFF")
    assert ui_codec_args(unencrypted) == []


def test_make_run_points_the_ui_at_the_codec_and_prints_the_metrics_url(tmp_path: Path) -> None:
    from incident_desk.connection import with_metrics_address
    from incident_desk.stack import Stack

    settings = Settings(
        state_dir=tmp_path, codec_keys=f"k1:{b64(NEW)}", intake_port=8123, metrics_address=None
    )
    stack = Stack(with_metrics_address(settings))
    temporal = next(p for p in stack.parts if p.name == "temporal")
    at = temporal.argv.index("--ui-codec-endpoint")
    assert temporal.argv[at + 1] == "http://127.0.0.1:8123/codec"
    assert stack.urls()["Worker metrics"].endswith("/metrics")
    assert "--ui-codec-endpoint" not in Stack(Settings(state_dir=tmp_path)).parts[0].argv
