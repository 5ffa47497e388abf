# One image for the producer, detector and sink services (see docker-compose.yml).
#   docker compose build                                    # dependencies from PyPI
#   docker/wheelhouse.sh && AUDITSTREAM_PIP_FROM=wheelhouse docker compose build
#                                                           # no network: docker/wheelhouse/ only
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# "pypi" (default) or "wheelhouse": `pip install --no-index --find-links docker/wheelhouse`.
ARG PIP_FROM=pypi
WORKDIR /src
COPY docker/wheelhouse/ /wheelhouse/
COPY pyproject.toml ./
# Dependencies first, read from pyproject.toml: a source edit does not reinstall them.
RUN set -eu; \
    case "$PIP_FROM" in \
      pypi) src="" ;; \
      wheelhouse) src="--no-index --find-links /wheelhouse" ;; \
      *) echo "PIP_FROM must be pypi or wheelhouse, not '$PIP_FROM'" >&2; exit 2 ;; \
    esac; \
    echo "$src" >/tmp/pip-src; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' >/tmp/requirements.txt; \
    python3 -m venv /opt/auditstream; \
    /opt/auditstream/bin/pip install --no-cache-dir --disable-pip-version-check $src -r /tmp/requirements.txt
# The whole context (.dockerignore keeps it to sources): pyproject.toml says what is a package.
COPY . ./
RUN /opt/auditstream/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
      $(cat /tmp/pip-src) .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/auditstream/bin:$PATH
COPY --from=build /opt/auditstream /opt/auditstream
COPY docker/entrypoint.sh docker/init_topics.py /opt/auditstream/docker/
RUN useradd --create-home --uid 10001 auditstream \
    && mkdir -p /app/exports && chown auditstream /app/exports
WORKDIR /app
USER auditstream
# Checks that the exports folder is writable before the sink starts (see the script).
ENTRYPOINT ["/opt/auditstream/docker/entrypoint.sh"]
CMD ["auditstream", "--help"]
