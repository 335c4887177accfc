# syntax=docker/dockerfile:1
# One image for every process: the realtime hub (default), the api, the arq worker and the
# one-shot migration. `docker run IMAGE api`, `... worker`, `... migrate`: see
# deploy/docker-entrypoint.sh. Deployment: docs/operations.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the dependencies in a venv --------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
# Only pyproject.toml first: this layer is rebuilt when the pinned dependencies change, not
# on every code change. Every dependency ships manylinux wheels, so no compiler is needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && pip install -r requirements.txt \
 && pip check

# --- runtime: slim, non-root --------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# The code runs from /app (not installed into site-packages): core.migrate finds alembic.ini
# and migrations/ beside the packages. .dockerignore lets in only what the processes need.
COPY . /app
# Bytecode compiled at build time: the app user cannot write /app, and start-up is faster.
RUN python -m compileall -q /app /opt/venv \
 && chmod 0755 /app/deploy/docker-entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json
# Numeric, so that runtimes that check runAsNonRoot can tell without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000 8001
STOPSIGNAL SIGTERM
# /health for the hub and the api, `arq --check` for the worker (deploy/healthcheck.py).
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "/app/deploy/healthcheck.py"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["realtime"]
