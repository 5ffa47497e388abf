#!/usr/bin/env bash
# `make compose-test`: run the UNMODIFIED docker-compose.yml on a real Docker engine and check
# what it leaves behind (tests/compose/, marker `compose`). Without an image registry:
#   1. a Docker engine: if none answers, install Debian's docker.io/docker-compose/iptables
#      (as root) and start dockerd in the background; stopped again at the end;
#   2. base images: python:3.11-slim and eclipse-temurin:17-jre, if absent, are STAND-INS
#      built here with debootstrap from Debian packages (python3 and its headers + JRE), for
#      this test only (labelled org.auditstream.standin, replaced when the package list
#      changes; remove with `docker rmi python:3.11-slim eclipse-temurin:17-jre`); the
#      debootstrap tarball is cached in ~/.cache/auditstream;
#   3. the project image from a local wheelhouse (docker/wheelhouse.sh), the broker image from
#      the jars of `auditstream broker fetch` (docker/stage-kafka-libs.sh): no package index
#      in builds; only the build stage's C compiler comes from Debian's mirror (apt, HTTP), as
#      it does on the real python:3.11-slim;
#   4. pytest -m compose tests/compose: build, up (--scale detector=3, a small stream), wait
#      for every row in the exports, check them, SIGTERM each service, down -v.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
log() { echo "compose-test: $*"; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
cache=${AUDITSTREAM_CACHE:-$HOME/.cache/auditstream}/docker
started_dockerd=""

cleanup() {
  if [ -n "$started_dockerd" ]; then
    log "stopping the dockerd this test started (pid $started_dockerd)"
    $SUDO kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
  fi
}
trap cleanup EXIT

apt_install() {
  log "installing $* from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. Engine and Compose; everything missing comes from Debian in one apt-get run.
# python3-dev: the Python headers, which python:3.11-slim has too (mypyc needs them); like it,
# no C compiler: the build stage installs gcc from Debian's mirror, as it must there.
standin_packages="python3,python3-venv,python3-dev,python-is-python3,openjdk-17-jre-headless"
tarball="$cache/standin-bookworm-$(echo "$standin_packages" | md5sum | cut -c1-8).tar"
need=()
engine_up=""
docker info >/dev/null 2>&1 && engine_up=1
if [ -z "$engine_up" ]; then
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v iptables >/dev/null || need+=(iptables)
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  need+=(docker-compose)
fi
[ -f "$tarball" ] || command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then apt_install "${need[@]}"; fi
mkdir -p "$cache"
if [ -z "$engine_up" ]; then
  log "starting dockerd (log: $cache/dockerd.log)"
  $SUDO dockerd --storage-driver=overlay2 >"$cache/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; sleep 0.1; done
  docker info >/dev/null 2>&1 || { tail -20 "$cache/dockerd.log"; exit 1; }
fi
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
else
  compose="docker-compose"
fi
log "engine $(docker version --format '{{.Server.Version}}'), $($compose version | head -1)"

# 2. Base images: the real ones when present, otherwise the Debian stand-in.
bases=(python:3.11-slim eclipse-temurin:17-jre)
# The label names the package list: a stand-in of an older list is replaced.
standin="test-only $(basename "$tarball" .tar)"
missing=()
for image in "${bases[@]}"; do
  label=$(docker image inspect --format '{{index .Config.Labels "org.auditstream.standin"}}' \
    "$image" 2>/dev/null) || { missing+=("$image"); continue; }
  case "$label" in test-only*) [ "$label" = "$standin" ] || missing+=("$image") ;; esac
done
if ((${#missing[@]})); then
  if [ ! -f "$tarball" ]; then
    root=$(mktemp -d)
    log "debootstrap of Debian bookworm with $standin_packages (cached as $tarball)"
    $SUDO debootstrap --variant=minbase --include="$standin_packages" bookworm "$root" \
      http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
      || { tail -20 "$cache/debootstrap.log"; exit 1; }
    $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    $SUDO tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    $SUDO rm -rf "$root"
  fi
  id=$(docker import --change "LABEL org.auditstream.standin=\"$standin\"" "$tarball")
  for image in "${missing[@]}"; do docker tag "$id" "$image"; done
  log "stand-in base images (test only): ${missing[*]}"
fi

# 3. What the offline builds need, from the host.
docker/wheelhouse.sh
docker/stage-kafka-libs.sh

# 4. The test itself.
export AUDITSTREAM_COMPOSE_TEST=1 AUDITSTREAM_COMPOSE="$compose"
set +e
.venv/bin/pytest -m compose tests/compose -p no:cacheprovider -v -s
rc=$?
set -e
log "finished in $(( $(date +%s) - start )) s (exit $rc)"
exit "$rc"
