# One image for the producer, detector and sink services (see docker-compose.yml).
#   docker compose build                                    # dependencies from PyPI
#   docker/wheelhouse.sh && AUDITSTREAM_PIP_FROM=wheelhouse docker compose build
#                                                           # no PyPI: docker/wheelhouse/ only
# The detection core is compiled by mypyc in the build stage, with a C compiler from Debian's
# mirror (apt) that the final image does not carry; CORE=python (AUDITSTREAM_IMAGE_CORE)
# skips that: no compiler and no network at all, the core then runs as Python (same
# outputs, about 1.7x slower).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# "pypi" (default) or "wheelhouse": `pip install --no-index --find-links docker/wheelhouse`.
ARG PIP_FROM=pypi
# "compiled" (default; the build fails if the core does not compile) or "python".
ARG CORE=compiled
WORKDIR /src
# What mypyc needs and the base lacks: python:3.11-slim has the Python headers but no C
# compiler; a Debian python3 base needs python3-dev too. Only in this stage.
RUN set -eu; \
    case "$CORE" in \
      compiled) ;; \
      python) exit 0 ;; \
      *) echo "CORE must be compiled or python, not '$CORE'" >&2; exit 2 ;; \
    esac; \
    need=""; \
    command -v gcc >/dev/null || need="gcc"; \
    [ -e /usr/include/stdio.h ] || need="$need libc6-dev"; \
    python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
      || need="$need python3-dev"; \
    if [ -n "$need" ]; then \
      echo "installing from Debian for mypyc:$need"; \
      apt-get update -qq; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null; \
      rm -rf /var/lib/apt/lists/*; \
    fi
COPY docker/wheelhouse/ /wheelhouse/
COPY pyproject.toml ./
# Dependencies first, read from pyproject.toml: a source edit does not reinstall them. The
# compiler's Python side (mypy, which carries mypyc, and setuptools: the `compile` extra)
# goes to /opt/compile-tools, outside the venv that the final image copies.
RUN set -eu; \
    case "$PIP_FROM" in \
      pypi) src="" ;; \
      wheelhouse) src="--no-index --find-links /wheelhouse" ;; \
      *) echo "PIP_FROM must be pypi or wheelhouse, not '$PIP_FROM'" >&2; exit 2 ;; \
    esac; \
    echo "$src" >/tmp/pip-src; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' >/tmp/requirements.txt; \
    python3 -m venv /opt/auditstream; \
    pip="/opt/auditstream/bin/pip install --no-cache-dir --disable-pip-version-check $src"; \
    $pip -r /tmp/requirements.txt; \
    if [ "$CORE" = compiled ]; then \
      python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["compile"]))' >/tmp/compile.txt; \
      $pip --target /opt/compile-tools -r /tmp/compile.txt; \
    fi
# The whole context (.dockerignore keeps it to sources): pyproject.toml says what is a package.
COPY . ./
RUN /opt/auditstream/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
      $(cat /tmp/pip-src) .
# Compiled in the source tree (the build type-checks with pyproject.toml's mypy settings),
# then placed beside the installed core, whose sources its stamp must match (compiled.py):
# checked here, so a build that would fall back to Python fails instead.
RUN set -eu; \
    [ "$CORE" = compiled ] || exit 0; \
    CI=1 PYTHONPATH=/opt/compile-tools:/src /opt/auditstream/bin/python -m detector.core.compile \
      || { echo "the detection core did not compile; --build-arg CORE=python builds an image whose core runs as Python" >&2; exit 1; }; \
    cd /; \
    target=$(/opt/auditstream/bin/python -c 'from detector.core.compiled import TARGET; print(TARGET)'); \
    cp -R /src/detector/core/_compiled "$target"; \
    kind=$(AUDITSTREAM_CORE=compiled /opt/auditstream/bin/python -c 'import detector.core; print(detector.core.KIND)'); \
    echo "detection core in the image: $kind"; \
    [ "$kind" = "compiled (mypyc)" ] || { echo "expected a compiled core in $target" >&2; exit 1; }

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/auditstream/bin:$PATH
COPY --from=build /opt/auditstream /opt/auditstream
COPY docker/entrypoint.sh docker/init_topics.py /opt/auditstream/docker/
# The compiled kernel (the default detection core) compiled here, against the very files of
# this image (numba checks each entry against its source file before using it): a container
# loads it in a second or two instead of compiling for a minute at its first partition
# assignment. Owned by the image's user; any other uid (AUDITSTREAM_UID) reads it as it is
# (detector/kernel/jit.py).
ENV AUDITSTREAM_KERNEL_CACHE=/opt/auditstream-kernel
RUN useradd --create-home --uid 10001 auditstream \
    && mkdir -p /app/exports && chown auditstream /app/exports \
    && python -m detector.kernel.warm \
    && chown -R auditstream "$AUDITSTREAM_KERNEL_CACHE"
WORKDIR /app
USER auditstream
# Checks that the exports folder is writable before the sink starts (see the script).
ENTRYPOINT ["/opt/auditstream/docker/entrypoint.sh"]
CMD ["auditstream", "--help"]
