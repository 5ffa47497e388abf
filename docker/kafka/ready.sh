#!/bin/bash
# The broker container's health check (docker-compose.yml): exit 0 only when the broker
# answers a Kafka request on 127.0.0.1:PORT (default 19092, the listener the other containers
# use), not merely when the port accepts a TCP connection: a bound port whose requests are not
# yet processed, or anything else listening there, is not ready. The request is ApiVersions
# (key 18) v0, which every broker answers, at worst with an error code, so the check does not
# depend on the broker's version; it passes when a reply carries this request's correlation id.
# READY_TIMEOUT_S (default 4, below the compose check's timeout of 5 s) bounds the wait.
set -euo pipefail
port=${1:-19092}
exec 3<>"/dev/tcp/127.0.0.1/$port"
# Length 10, then: api key 18, version 0, correlation id 0x41530001, client id null (-1).
printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x41\x53\x00\x01\xff\xff' >&3
# The reply: length (4 bytes), correlation id (4), error code (2), ...
reply=$(timeout "${READY_TIMEOUT_S:-4}" head -c 8 <&3 | od -An -tx1 | tr -d ' \n') || true
exec 3<&-
if [ "${reply:8:8}" != 41530001 ]; then
  echo "no Kafka reply on 127.0.0.1:$port (got '${reply}')" >&2
  exit 1
fi
