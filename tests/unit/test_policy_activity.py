"""`load_client_policy` keeps parsed policies until a file changes, and sees every change.

The cache exists for speed (docs/benchmarks.md); what must not change is the promise that the
policy in force now is the one returned, and that a broken file is reported, never hidden.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.policies import PolicyActivities

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "policies" / "clients", tmp_path / "clients")
    return tmp_path


async def _load(activities: PolicyActivities, client: str = "demo") -> object:
    return await ActivityEnvironment().run(activities.load_client_policy, client)


async def test_unchanged_files_are_not_parsed_again(policies: Path) -> None:
    activities = PolicyActivities(policies)
    first = await _load(activities)
    assert await _load(activities) is first


async def test_an_edit_applies_to_the_next_call(policies: Path) -> None:
    activities = PolicyActivities(policies)
    before = await _load(activities)
    path = policies / "clients" / "demo.yaml"
    stat = path.stat()
    path.write_text(path.read_text().replace("name: Demo Client Ltd", "name: Demo Renamed Ltd"))
    # Same size and mtime would hide an in-place edit from a stat; make sure the test does not
    # pass for that reason by keeping the mtime, so only size and content differ.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = await _load(activities)
    assert after is not before
    assert after.name == "Demo Renamed Ltd"  # type: ignore[attr-defined]


async def test_a_new_client_file_is_found(policies: Path) -> None:
    activities = PolicyActivities(policies)
    await _load(activities)
    demo = (policies / "clients" / "demo.yaml").read_text()
    (policies / "clients" / "acme.yaml").write_text(demo.replace("id: demo", "id: acme"))
    assert (await _load(activities, "acme")).id == "acme"  # type: ignore[attr-defined]


async def test_a_broken_file_fails_every_call_until_mended(policies: Path) -> None:
    activities = PolicyActivities(policies)
    await _load(activities)
    path = policies / "clients" / "demo.yaml"
    good = path.read_text()
    path.write_text(good + "\nnot: [valid\n")
    for _ in range(2):
        with pytest.raises(ApplicationError, match=r"demo\.yaml"):
            await _load(activities)
    path.write_text(good)
    assert (await _load(activities)).id == "demo"  # type: ignore[attr-defined]
