"""The `topic-init` service of docker-compose.yml: create the pipeline's topics, then exit.

The same layout the detector would create (AUDITSTREAM_PARTITIONS partitions each), made
once before the producer, detector replicas and sink start, so none of them races to make it.
"""

from __future__ import annotations

import logging
import sys

from shared.errors import AuditstreamError
from shared.kafka import TopicSpec, ensure_topics, wait_for_broker
from shared.settings import KafkaSettings, TopicSettings


def main() -> int:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kafka, t = KafkaSettings(), TopicSettings()
    names = (t.transactions_topic, t.scored_topic, t.dlq_topic)
    try:
        wait_for_broker(kafka)
        ensure_topics(kafka, [TopicSpec(n, t.partitions, t.replication_factor) for n in names])
    except AuditstreamError as exc:
        logging.getLogger("topic-init").error("%s", exc)
        return int(exc.exit_code)
    logging.getLogger("topic-init").info("topics ready: %s (%d partitions)", ", ".join(names),
                                         t.partitions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
