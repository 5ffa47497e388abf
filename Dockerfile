# One image for the producer, detector and sink services (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY producer ./producer
COPY detector ./detector
COPY sink ./sink
COPY dashboard ./dashboard
RUN pip install --no-cache-dir . && useradd --create-home --uid 10001 auditstream \
    && mkdir -p /app/exports && chown auditstream /app/exports
USER auditstream
CMD ["auditstream", "--help"]
