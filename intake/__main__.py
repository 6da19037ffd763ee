"""`python -m intake`: the intake server alone, as `incident-desk up` and production run it."""

from __future__ import annotations

import logging

import uvicorn

from incident_desk.settings import Settings
from intake.app import create_app


def main() -> None:
    # uvicorn configures only its own loggers; ours (e.g. ignored webhooks) must show too.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.intake_port, log_level="info"
    )


if __name__ == "__main__":
    main()
