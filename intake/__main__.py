"""`python -m intake`: the intake server alone, as `incident-desk up` and production run it."""

from __future__ import annotations

import uvicorn

from incident_desk.settings import Settings
from intake.app import create_app


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.intake_port, log_level="info"
    )


if __name__ == "__main__":
    main()
