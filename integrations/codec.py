"""AES-256-GCM payload encryption, so workflow history at rest holds no readable report text.

Reports carry free text and reporters' contact details; Temporal stores every workflow input,
activity argument and result in its history. With a key configured, each payload is encrypted
before it leaves the process and decrypted when it comes back, in workers, clients and the codec
server alike, so only holders of a key (and the Temporal UI through the codec server) read it.

Rotation: a keyring holds several keys by id. The first one encrypts; every one decrypts, and the
id of the key used travels in the payload's metadata. To rotate, put the new key first and keep
the old ones until no running incident's history still needs them.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "AesGcmCodec",
    "CodecConfigError",
    "CodecError",
    "load_keyring",
    "parse_keyring",
]

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12


class CodecError(ValueError):
    """A payload could not be decrypted; the message names the key id, never key material."""


class CodecConfigError(ValueError):
    """The configured keys are unusable; the message names the offending key id or line."""


class AesGcmCodec(PayloadCodec):
    """Encrypts whole serialized payloads, keeping their original encoding inside the ciphertext.

    The key id is bound to the ciphertext as associated data, so relabelling a payload with
    another key id fails authentication instead of silently decrypting garbage.
    Payloads that are not encrypted pass through decode unchanged: history written before a
    key was configured stays readable.
    """

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise CodecConfigError("at least one encryption key is needed")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise CodecConfigError(
                    f"key '{key_id}' is {len(key)} bytes; AES-256 needs 32 bytes"
                )
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.encrypting_key_id = next(iter(keys))

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.encrypting_key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            known = ", ".join(self._ciphers)
            raise CodecError(
                f"payload is encrypted under key id '{key_id}', which is not configured "
                f"(configured key ids: {known}); add that key to INCIDENT_DESK_CODEC_KEYS"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise CodecError(
                f"payload under key id '{key_id}' failed authentication: "
                "it was altered, or the key configured under that id is not the one used"
            ) from None
        return Payload.FromString(plain)


def parse_keyring(spec: str) -> dict[str, bytes]:
    """Parse `id:base64key,id2:base64key2` (commas or newlines; `#` starts a comment).

    Order matters: the first key encrypts. Generate a key with
    `python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"`.
    """
    keys: dict[str, bytes] = {}
    entries = [
        entry.strip()
        for line in spec.splitlines()
        for entry in line.split("#", 1)[0].split(",")
        if entry.strip()
    ]
    for entry in entries:
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise CodecConfigError(
                "a codec key entry is not of the form id:base64key "
                f"(entry starting '{key_id[:12]}')"
            )
        if key_id in keys:
            raise CodecConfigError(f"key id '{key_id}' is configured twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecConfigError(f"key '{key_id}' is not valid base64") from None
        if len(key) != 32:
            raise CodecConfigError(
                f"key '{key_id}' decodes to {len(key)} bytes; AES-256 needs 32 bytes"
            )
        keys[key_id] = key
    return keys


def load_keyring(spec: str | None, keys_file: Path | None) -> dict[str, bytes]:
    """Keys from the variable first, then from the file (a secret mount in production)."""
    keys = parse_keyring(spec or "")
    if keys_file is not None:
        try:
            text = keys_file.read_text()
        except OSError as exc:
            raise CodecConfigError(f"cannot read codec keys file {keys_file}: {exc}") from None
        for key_id, key in parse_keyring(text).items():
            if key_id in keys:
                raise CodecConfigError(f"key id '{key_id}' is configured twice")
            keys[key_id] = key
    return keys
