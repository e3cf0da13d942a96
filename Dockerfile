# fastcommerce: the CLI and library, with the Parquet export, the NATS JetStream source and
# (once the backend is in: issue 16, items 1-4) PostgreSQL. Builds from this repository alone:
#   docker build -t fastcommerce .
#   docker run --rm -v fc-data:/data fastcommerce run /app/sample_data
# compose.yaml runs it beside PostgreSQL and NATS (README.md, "Containers").

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fastcommerce ./fastcommerce
COPY plugins ./plugins
# Wheels of the app, its plugins and every dependency, resolved together (the plugins'
# "fastcommerce" requirement is met by the local one). An extra this version does not
# define yet ("postgres" before the backend lands) is only a warning to pip.
ARG EXTRAS=parquet,postgres
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]" ./plugins/fastcommerce-nats ./plugins/fastcommerce-fraud

FROM python:3.11-slim
ARG EXTRAS=parquet,postgres
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "fastcommerce[${EXTRAS}]" fastcommerce-nats fastcommerce-fraud \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 fastcommerce \
    && mkdir /data && chown fastcommerce /data
COPY sample_data /app/sample_data
USER fastcommerce
WORKDIR /data
# the log (SQLite) lives on the /data volume unless FASTCOMMERCE_DB names another
ENV FASTCOMMERCE_DB=/data/fastcommerce.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
ENTRYPOINT ["fastcommerce"]
CMD ["--help"]
