"""`python -m intake`: the intake server alone, as `incident-desk up` and production run it."""

from __future__ import annotations

import logging

import uvicorn

from incident_desk.config import ConfigError, load_settings
from intake.app import create_app


def main() -> None:
    # uvicorn configures only its own loggers; ours (e.g. ignored webhooks) must show too.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise SystemExit(f"configuration error:\n{exc}") from None
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.intake_port, log_level="info"
    )


if __name__ == "__main__":
    main()
