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

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('UNDERSTUDY_PORT', '8000'), timeout=4)"]

# Exec form: the server is PID 1 and receives SIGTERM from "docker stop" directly,
# shuts down gracefully and exits 0.
ENTRYPOINT ["understudy"]
CMD ["serve"]
