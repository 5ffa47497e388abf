"""`auditstream broker start|stop|status|fetch`."""

from __future__ import annotations

import argparse

from auditstream.broker.process import LocalBroker
from auditstream.broker.settings import BrokerSettings
from shared.errors import ExitCode
from shared.names import shown
from shared.settings import env_names


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "broker",
        help="run a local single-node Apache Kafka broker (KRaft) without Docker",
        description="Run a local single-node Apache Kafka (KRaft) broker from Maven Central's "
        "jars, bound to 127.0.0.1 (BROKER_HOST). Settings (README, Configuration): "
        f"{', '.join(sorted(env_names(BrokerSettings)))}.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "start", help="fetch jars once, format storage once, start, wait until ready"
    )
    actions.add_parser("stop", help="stop the broker by its PID and wait for it to exit")
    actions.add_parser("status", help="say whether the broker runs and answers "
                       "(exit 0 if it answers, 4 if not)")
    actions.add_parser("fetch", help="only resolve the Kafka jars from Maven Central (cached)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    broker = LocalBroker(BrokerSettings())
    if args.action == "start":
        st = broker.start()
        state = "started" if broker.launched else "already running"
        print(f"Apache Kafka {broker.reported_version() or st.kafka_version} broker {state} "
              f"(pid {st.pid})")
        print(f"bootstrap: {st.bootstrap}")
        print(f"export KAFKA_BOOTSTRAP_SERVERS={st.bootstrap}")
        return 0
    if args.action == "stop":
        was = broker.stop()
        print("broker stopped" if was else "broker was not running")
        return 0
    if args.action == "fetch":
        from auditstream.broker.libs import ensure_libs

        s = broker.settings
        print(ensure_libs(s.libs_dir, s.kafka_version, s.cache_dir))
        return 0
    st = broker.status()
    print(f"{'running' if st.running else 'stopped'}: {st.detail}")
    print(f"home: {shown(st.home)}")
    return int(ExitCode.OK if st.answering else ExitCode.KAFKA_UNREACHABLE)
