# The gateway as a container: `docker build -t llm-gateway .`
# No Docker engine runs on the project's development machines; instead
# tests/integration/test_container_image.py reads this file and runs its exact
# ENTRYPOINT with its ENV, HEALTHCHECK and COPY'd config, so the two cannot drift.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_CONFIG=/etc/gateway/config.yaml
COPY --from=build /install /usr/local
COPY config/demo.yaml /etc/gateway/config.yaml
RUN useradd --system --uid 10001 --no-create-home gateway
USER 10001
EXPOSE 8080
# SIGTERM drains (server.drain_s, server.shutdown_grace_s) and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["python", "-m", "gateway.healthcheck", "/healthz"]
ENTRYPOINT ["gateway", "serve"]
