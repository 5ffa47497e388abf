"""A scripted Kafka peer on 127.0.0.1: the few answers a librdkafka producer needs, and the
one a real broker gives only at a random instant of its controlled shutdown.

Not a Kafka (tests that need one run against the real broker): it answers ApiVersions (v3),
Metadata (v4), InitProducerId (v0) and Produce (v3) as one broker, node 1, leading every
partition of one topic. `leave()` makes it answer as a KRaft broker shutting down: Produce
with NOT_LEADER_OR_FOLLOWER, so the client asks for Metadata, and Metadata with the topic
but no broker (every leader -1). librdkafka then removes every broker it knows and never
bootstraps again (librdkafka #5301, docs/reliability.md). `serve()` answers as before.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter, defaultdict

API_PRODUCE, API_FETCH, API_METADATA, API_VERSIONS, API_INIT_PRODUCER_ID = 0, 1, 3, 18, 22
#: (api key, min version, max version) advertised: what is answered here, and Fetch v4,
#: never asked by a producer, without which librdkafka writes the old message format.
APIS = ((API_PRODUCE, 3, 3), (API_FETCH, 4, 4), (API_METADATA, 4, 4), (API_VERSIONS, 0, 3),
        (API_INIT_PRODUCER_ID, 0, 0))
NODE = 1
NOT_LEADER_OR_FOLLOWER = 6


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _array(items: list[bytes]) -> bytes:
    return struct.pack(">i", len(items)) + b"".join(items)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A zig-zag varint at `at`: (value, where the next field starts)."""
    shift = raw = 0
    while True:
        byte = data[at]
        at += 1
        raw |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), at


def _bytes(data: bytes, at: int) -> tuple[bytes | None, int]:
    size, at = _varint(data, at)
    return (None, at) if size < 0 else (data[at:at + size], at + size)


def _records(batch: bytes) -> list[tuple[bytes | None, bytes | None, int]]:
    """(key, value, timestamp in ms) of each record of an uncompressed record batch (v2: a
    61-byte head)."""
    assert struct.unpack(">h", batch[21:23])[0] & 7 == 0, "the peer reads no compression"
    base_time = struct.unpack(">q", batch[27:35])[0]
    count = struct.unpack(">i", batch[57:61])[0]
    out, at = [], 61
    for _ in range(count):
        size, at = _varint(batch, at)
        end = at + size
        at += 1  # attributes
        delta, at = _varint(batch, at)  # timestamp
        _, at = _varint(batch, at)  # offset delta
        key, at = _bytes(batch, at)
        value, at = _bytes(batch, at)
        out.append((key, value, base_time + delta))
        at = end
    return out


class KafkaPeer:
    """One scripted broker on a free port of 127.0.0.1 (`address`), serving until `close`."""

    def __init__(self, topic: str, partitions: int = 1) -> None:
        self.topic, self.partitions = topic, partitions
        self.leaving = False
        #: (key, value) of the records appended, and their timestamps, per partition;
        #: requests answered per API key.
        self.appended: defaultdict[int, list[tuple[bytes | None, bytes | None]]] = \
            defaultdict(list)
        self.timestamps: defaultdict[int, list[int]] = defaultdict(list)
        self.requests: Counter[int] = Counter()
        self._conns: list[socket.socket] = []
        self._closed = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def leave(self) -> None:
        self.leaving = True

    def serve(self) -> None:
        self.leaving = False

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        with conn:
            while not self._closed.is_set():
                head = self._read(conn, 4)
                if head is None:
                    return
                request = self._read(conn, struct.unpack(">i", head)[0])
                if request is None:
                    return
                key, version, correlation = struct.unpack(">hhi", request[:8])
                self.requests[key] += 1
                body = self._answer(key, version, request)
                try:
                    conn.sendall(struct.pack(">ii", len(body) + 4, correlation) + body)
                except OSError:  # the client hung up
                    return

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = conn.recv(size - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def _answer(self, key: int, version: int, request: bytes) -> bytes:
        if key == API_VERSIONS:  # v3 is flexible: a compact array, tag buffers
            if version >= 3:
                apis = b"".join(struct.pack(">hhhB", *api, 0) for api in APIS)
                return struct.pack(">hB", 0, len(APIS) + 1) + apis + struct.pack(">iB", 0, 0)
            return struct.pack(">h", 0) + _array([struct.pack(">hhh", *api) for api in APIS])
        if key == API_METADATA:
            return self._metadata()
        if key == API_INIT_PRODUCER_ID:
            return struct.pack(">ihqh", 0, 0, 4242, 0)
        if key == API_PRODUCE:
            return self._produce(request)
        raise AssertionError(f"api key {key} not scripted")

    def _metadata(self) -> bytes:
        brokers = [] if self.leaving else [
            struct.pack(">i", NODE) + _string("127.0.0.1") + struct.pack(">ih", self.port, -1)]
        leader = -1 if self.leaving else NODE
        replicas = _array([struct.pack(">i", NODE)])
        partitions = [struct.pack(">hii", 0, p, leader) + replicas + replicas
                      for p in range(self.partitions)]
        topic = struct.pack(">h", 0) + _string(self.topic) + b"\0" + _array(partitions)
        return (struct.pack(">i", 0) + _array(brokers) + _string("peer")
                + struct.pack(">i", NODE) + _array([topic]))

    def _produce(self, request: bytes) -> bytes:
        at = 8
        client_len = struct.unpack(">h", request[at:at + 2])[0]
        at += 2 + max(client_len, 0)
        txn_len = struct.unpack(">h", request[at:at + 2])[0]
        at += 2 + max(txn_len, 0) + 2 + 4  # transactional id, acks, timeout
        answers = []
        for _ in range(struct.unpack(">i", request[at:at + 4])[0]):
            at += 4
            name_len = struct.unpack(">h", request[at:at + 2])[0]
            name = request[at + 2:at + 2 + name_len].decode()
            at += 2 + name_len
            parts = []
            for _ in range(struct.unpack(">i", request[at:at + 4])[0]):
                at += 4
                partition, size = struct.unpack(">ii", request[at:at + 8])
                batch = request[at + 8:at + 8 + size]
                at += 8 + size
                base = len(self.appended[partition])
                if self.leaving:
                    error = NOT_LEADER_OR_FOLLOWER
                else:
                    error = 0
                    for key, value, timestamp in _records(batch):
                        self.appended[partition].append((key, value))
                        self.timestamps[partition].append(timestamp)
                parts.append(struct.pack(">ihqq", partition, error, base, -1))
            answers.append(_string(name) + _array(parts))
        return _array(answers) + struct.pack(">i", 0)
