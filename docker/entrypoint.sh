#!/bin/sh
# Entrypoint of the auditstream image. When SINK_EXPORTS_DIR is set (the sink), first check
# that this container's user can write there: a bind-mounted host folder keeps its host
# owner, so on Linux `./exports` owned by you (or root) is not writable by uid 10001. Say
# exactly what to run instead of failing later with a PermissionError traceback; exit 5 is
# OUTPUT_UNWRITABLE in shared/errors.py. Then run the command (tini, from `init: true`,
# passes SIGTERM on to it).
set -eu
dir=${SINK_EXPORTS_DIR:-}
if [ -n "$dir" ]; then
  mkdir -p "$dir" 2>/dev/null || true
  probe="$dir/.auditstream-write-test.$$"
  if (: >"$probe") 2>/dev/null; then
    rm -f "$probe"
  else
    me="$(id -u):$(id -g)"
    owner=$(stat -c '%u:%g' "$dir" 2>/dev/null || echo "?:?")
    mode=$(stat -c '%a' "$dir" 2>/dev/null || echo "?")
    cat >&2 <<MSG
auditstream: error: the exports folder $dir is not writable by this container's user
(uid:gid $me); on the host it is the folder mounted there (AUDITSTREAM_EXPORTS, default
./exports), owned by uid:gid $owner with mode $mode. Either run the containers as its owner:
    AUDITSTREAM_UID=${owner%%:*} AUDITSTREAM_GID=${owner##*:} docker compose up
  (your own folder: AUDITSTREAM_UID=\$(id -u) AUDITSTREAM_GID=\$(id -g) docker compose up)
or let uid:gid $me write to it:
    sudo chown -R $me ./exports
MSG
    exit 5
  fi
fi
exec "$@"
