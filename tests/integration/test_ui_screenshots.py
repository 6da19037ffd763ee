"""The Temporal UI seen in a real headless browser: the script behind docs/img/, run quickly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import ui_screenshots

pytestmark = pytest.mark.skipif(
    ui_screenshots.find_chromium() is None,
    reason="no chromium binary installed (Debian package `chromium`, or set CHROMIUM); "
    "expected on CI machines, which do not install a browser",
)


def test_screenshots_show_the_sev1_list_and_its_history(tmp_path: Path) -> None:
    # take() itself fails unless the rendered list names the SEV1 incident and no other, and
    # the history page names it.
    shots = ui_screenshots.take(tmp_path, budget_ms=6000)
    assert {shot.name for shot in shots} == {"list", "history"}
    for shot in shots:
        assert shot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.path.stat().st_size > 5000, f"{shot.name} looks blank"
