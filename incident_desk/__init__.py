"""Incident Desk entry points: settings, the CLI and the process supervisor behind `make run`."""
