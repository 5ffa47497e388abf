#!/usr/bin/env bash
# Copy Apache Kafka's jars, resolved once from Maven Central by `auditstream broker fetch`
# (auditstream/broker/pom.xml), into docker/kafka/libs/ so the broker image is built from exactly
# the jars the non-Docker broker runs, without any network during the build.
# Without staged jars, docker/kafka/Dockerfile resolves the same pom.xml with Maven itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${AUDITSTREAM_BIN:-.venv/bin/auditstream}
libs=$("$bin" broker fetch | tail -1)
dest=docker/kafka/libs
find "$dest" -name '*.jar' -delete
cp "$libs"/*.jar "$dest"/
echo "kafka libs: $(find "$dest" -name '*.jar' | wc -l) jars from $libs in $dest"
