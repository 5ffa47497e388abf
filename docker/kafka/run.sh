#!/bin/bash
# Start one KRaft broker+controller with the settings of the non-Docker local broker
# (auditstream/broker/process.py), listening for containers on kafka:19092 and for the host on
# 9092 (advertised as 127.0.0.1:$KAFKA_HOST_PORT). SIGTERM stops it cleanly with exit 0.
set -euo pipefail
data=/var/lib/kafka/data
conf=/tmp/server.properties
cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=INTERNAL://:19092,HOST://:9092,CONTROLLER://localhost:9093
advertised.listeners=INTERNAL://${KAFKA_ADVERTISED_HOST:-kafka}:19092,HOST://127.0.0.1:${KAFKA_HOST_PORT:-9092}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,HOST:PLAINTEXT
inter.broker.listener.name=INTERNAL
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
