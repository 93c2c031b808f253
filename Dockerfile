# Understudy: mock server for the OpenAI and Anthropic streaming APIs.
#
# Two stages: the first builds the project's wheel, the second installs only that wheel
# (and its runtime dependencies) on a clean python:3.12-slim, so no build tooling or
# source tree ends up in the final image.
#
# Plain Dockerfile on purpose: no "# syntax=" line and no BuildKit-only features, so the
# legacy builder, BuildKit and Podman/Buildah all build it the same way.

FROM python:3.12-slim AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY scenarios ./scenarios
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .


FROM python:3.12-slim

LABEL org.opencontainers.image.title="understudy" \
      org.opencontainers.image.description="Mock server for the OpenAI and Anthropic streaming APIs, driven by YAML scenarios" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UNDERSTUDY_HOST=0.0.0.0 \
    UNDERSTUDY_PORT=8000 \
    UNDERSTUDY_SCENARIOS=/app/scenarios

# The wheel is tiny; its dependencies come from the package index as binary wheels.
COPY --from=builder /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 understudy \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin understudy

WORKDIR /app
# The bundled catalog. Mount a folder over /app/scenarios to replace it, or mount one
# elsewhere and list both in UNDERSTUDY_SCENARIOS to extend it.
COPY scenarios /app/scenarios

USER 10001:10001
EXPOSE 8000

# Probed every second, so "docker compose up --wait" and depends_on: service_healthy go on
# about a second after the server answers. A short interval rather than --start-interval:
# builders older than Docker 25 refuse that flag ("Unknown flag: start-interval"). Each
# probe is cheap: python -I -S with a raw socket costs ~20 ms of CPU, urllib.request ~80.
# A long-lived container can probe less often: docker run --health-interval=30s.
HEALTHCHECK --interval=1s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python", "-I", "-S", "-c", "import os, socket; s = socket.create_connection(('127.0.0.1', int(os.environ.get('UNDERSTUDY_PORT', '8000'))), 2); s.sendall(b'GET /health HTTP/1.0\\r\\n\\r\\n'); raise SystemExit(s.recv(12)[9:12] != b'200')"]

# Exec form: the server is PID 1 and receives SIGTERM from "docker stop" directly,
# shuts down gracefully and exits 0.
ENTRYPOINT ["understudy"]
CMD ["serve"]
