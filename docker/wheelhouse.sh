#!/usr/bin/env bash
# Fill docker/wheelhouse/ with every wheel the project image needs (its dependencies, its
# build backend, and mypy and setuptools that compile its detection core: the `compile`
# extra), for Linux containers with CPython 3.11, so that
#   docker compose build --build-arg PIP_FROM=wheelhouse     (or AUDITSTREAM_PIP_FROM=wheelhouse)
# installs with `pip install --no-index --find-links` and never reaches a package index (the
# build stage still fetches a C compiler from Debian's mirror unless CORE=python: Dockerfile).
# Run it where PyPI (or your mirror: PIP_INDEX_URL) answers; the host OS does not matter.
# WHEEL_ARCH=aarch64 for ARM images.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
arch=${WHEEL_ARCH:-x86_64}
out=docker/wheelhouse
# The requirements come from pyproject.toml, so the wheelhouse never drifts from it.
mapfile -t reqs < <("$py" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    meta = tomllib.load(f)
print("\n".join(meta["project"]["dependencies"] + meta["build-system"]["requires"]
                + meta["project"]["optional-dependencies"]["compile"]))
PY
)
"$py" -m pip download --quiet --dest "$out" --only-binary=:all: \
  --implementation cp --python-version 3.11 --abi cp311 \
  --platform "manylinux_2_28_$arch" --platform "manylinux_2_17_$arch" \
  --platform "manylinux2014_$arch" "${reqs[@]}"
echo "wheelhouse: $(find "$out" -name '*.whl' | wc -l) wheels in $out"
