# One image for every campaignflow service (worker, dialer, sink, api); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CAMPAIGNFLOW_HOME=/data

WORKDIR /app
COPY . /app
# The libraries from the lock file (exact versions, hashes), then the project itself, editable:
# it finds schemas/avro next to it, as in a checkout.
RUN pip install --no-cache-dir --require-hashes -r requirements.lock \
    && pip install --no-cache-dir --no-deps --no-build-isolation -e . \
    && mkdir -p /data

VOLUME ["/data"]
ENTRYPOINT []
CMD ["campaignflow", "--help"]
