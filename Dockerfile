# The gateway as a container: `docker build -t llm-gateway .`
# Note: no Docker engine runs on the development machines of this project, so this
# file is not exercised by CI; the same commands run in `make run` and `make test`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
# The `otel` extra, so OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on (still off by
# default); `--build-arg EXTRAS=` leaves it out.
ARG EXTRAS=otel
RUN pip install --no-cache-dir --prefix=/install ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_CONFIG=/etc/gateway/config.yaml
COPY --from=build /install /usr/local
COPY config/demo.yaml /etc/gateway/config.yaml
RUN useradd --system --uid 10001 gateway
USER gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
ENTRYPOINT ["gateway", "serve"]
