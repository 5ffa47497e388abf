#!/bin/bash
# Start one KRaft broker+controller with the settings of the non-Docker local broker
# (auditstream/broker/process.py), listening for containers on kafka:19092 and for the host on
# 9092 (advertised as 127.0.0.1:$KAFKA_HOST_PORT). SIGTERM stops it cleanly with exit 0.
set -euo pipefail
data=/var/lib/kafka/data
conf=/tmp/server.properties
cat >"$conf" <<PROPS
# One KRaft node that is its own controller (no default: KRaft needs roles and an id).
process.roles=broker,controller
node.id=1
# The controller quorum is this node, on a port only it uses (inside the container).
controller.quorum.bootstrap.servers=localhost:9093
controller.listener.names=CONTROLLER
# INTERNAL for the other containers (kafka:19092, never published); HOST for the host, which
# the compose file publishes on 127.0.0.1 only; each advertises the address its clients use.
listeners=INTERNAL://:19092,HOST://:9092,CONTROLLER://localhost:9093
advertised.listeners=INTERNAL://${KAFKA_ADVERTISED_HOST:-kafka}:19092,HOST://127.0.0.1:${KAFKA_HOST_PORT:-9092}
# PLAINTEXT, no authentication: a local demo broker reached only from the project's network and
# the host's loopback (docs/compose.md, "Security"); a shared cluster wants SASL/TLS instead.
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,HOST:PLAINTEXT
inter.broker.listener.name=INTERNAL
# The named volume (docker-compose.yml), so the topics outlive the container.
log.dirs=$data
PROPS
cat /opt/kafka/config/single-node.properties >>"$conf"  # shared with `auditstream broker`
cp="/opt/kafka/libs/*"
if [ ! -f "$data/meta.properties" ]; then  # first start of this volume: format it once
  id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid | tail -1)
  java -cp "$cp" kafka.tools.StorageTool format --standalone -t "$id" -c "$conf" >/dev/null
fi
# shellcheck disable=SC2086  # KAFKA_HEAP_OPTS holds several JVM options
java ${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m} \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
  -cp "$cp" kafka.Kafka "$conf" &
pid=$!
stopping=0
stop() { stopping=1; kill -TERM "$pid" 2>/dev/null || true; }
trap stop TERM INT
set +e
wait "$pid"; rc=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done
# The JVM reports a shutdown asked for by SIGTERM as 143: that is the clean stop we asked for.
if [ "$stopping" = 1 ] && [ "$rc" = 143 ]; then rc=0; fi
exit "$rc"
