"""Fewer system calls per message on the broker connections: a confirmed batch goes out in one
socket write, and frames are read in chunks rather than three recv calls per frame."""
import uuid

import amqp
import kombu
import pytest

from servicekit.messaging.broker import close_quietly, connect, drain_ready, read_in_chunks, writes_coalesced
from servicekit.messaging.confirms import ConfirmingPublisher, Outgoing
from servicekit.testing import wait_until

pytestmark = pytest.mark.integration


def counting(fn, calls):
    def wrapper(*args):
        calls.append(args)
        return fn(*args)
    return wrapper


@pytest.fixture
def queue(module_vhost_url):
    name = f"io.{uuid.uuid4().hex[:8]}"
    conn = connect(module_vhost_url)
    kombu.Queue(name, durable=True, auto_delete=False)(conn.channel()).declare()
    yield name
    close_quietly(conn)


def test_a_confirmed_batch_is_one_socket_write_and_every_message_arrives(module_vhost_url, queue):
    conn = connect(module_vhost_url)
    try:
        transport = conn.connection.transport
        writes = []
        transport._write = counting(transport._write, writes)
        publisher = ConfirmingPublisher(conn.channel())
        writes.clear()
        batch = [Outgoing(exchange="", routing_key=queue, body=f"m{i}", message_id=f"id{i}") for i in range(30)]
        results = publisher.publish(batch)
        assert all(r.ok for r in results)
        assert len(writes) == 1  # was one per message
        channel = conn.channel()
        received = [channel.basic_get(queue, no_ack=True).body for _ in range(30)]
        assert received == [f"m{i}" for i in range(30)]
    finally:
        close_quietly(conn)


def test_a_batch_reads_the_socket_only_to_wait_for_its_confirms(module_vhost_url, queue):
    """basic_publish reads the socket before every message (looking for connection.blocked):
    a recv and two settimeout calls per message. The batch reads only in its confirm wait."""
    conn = connect(module_vhost_url)
    try:
        publisher = ConfirmingPublisher(conn.channel())
        connection, reads, written = conn.connection, [], []
        transport = connection.transport
        transport._write = counting(transport._write, written)
        read = connection.blocking_read
        connection.blocking_read = lambda timeout=None: (reads.append(len(written)), read(timeout))[1]
        batch = [Outgoing(exchange="", routing_key=queue, body=f"m{i}", message_id=f"id{i}") for i in range(30)]
        assert all(r.ok for r in publisher.publish(batch))
        assert reads and all(n == 1 for n in reads)  # every read after the batch's one write
        channel = conn.channel()
        assert [channel.basic_get(queue, no_ack=True).body for _ in range(30)] == [f"m{i}" for i in range(30)]
    finally:
        close_quietly(conn)


def test_nothing_of_a_block_that_raised_is_sent(module_vhost_url, queue):
    conn = connect(module_vhost_url)
    try:
        channel = conn.channel()
        with pytest.raises(RuntimeError):
            with writes_coalesced(conn.connection):
                channel.basic_publish(amqp.Message("lost"), exchange="", routing_key=queue)
                raise RuntimeError("while publishing")
        channel.basic_publish(amqp.Message("sent"), exchange="", routing_key=queue)
        assert channel.basic_get(queue, no_ack=True).body == "sent"
    finally:
        close_quietly(conn)


def test_deliveries_are_read_in_chunks_not_three_recv_calls_per_frame(module_vhost_url, queue):
    producer = connect(module_vhost_url)
    conn = kombu.Connection(module_vhost_url)
    try:
        publisher = ConfirmingPublisher(producer.channel())
        publisher.publish([Outgoing(exchange="", routing_key=queue, body="x" * 200, message_id=str(i))
                           for i in range(40)])
        conn.ensure_connection(max_retries=1)
        transport = conn.connection.transport
        recvs = []
        transport._quick_recv = counting(transport._quick_recv, recvs)
        assert read_in_chunks(conn.connection)
        channel = conn.connection.channel()
        got = []
        channel.basic_consume(queue, callback=got.append, no_ack=True)
        while len(got) < 40:
            conn.drain_events(timeout=5)
        assert [m.body for m in got] == ["x" * 200] * 40
        assert len(recvs) < 40  # nine per message before
    finally:
        close_quietly(conn)
        close_quietly(producer)


def test_connect_reads_in_chunks(module_vhost_url):
    conn = connect(module_vhost_url)
    try:
        transport = conn.connection.transport
        assert transport._quick_recv != transport.sock.recv
    finally:
        close_quietly(conn)


def test_what_has_arrived_is_read_without_waiting_and_buffered_frames_without_setting_a_timeout(
        module_vhost_url, queue):
    producer = connect(module_vhost_url)
    conn = connect(module_vhost_url)
    try:
        ConfirmingPublisher(producer.channel()).publish(
            [Outgoing(exchange="", routing_key=queue, body="x" * 200, message_id=str(i)) for i in range(40)])
        transport = conn.connection.transport
        timeouts = []
        having_timeout = transport.having_timeout
        transport.having_timeout = lambda timeout: (timeouts.append(timeout), having_timeout(timeout))[1]
        channel = conn.connection.channel()
        got = []
        channel.basic_qos(0, 40, False)
        channel.basic_consume(queue, callback=got.append, no_ack=True)
        timeouts.clear()
        # what has arrived at each call (the broker sends the forty at once: few calls read nothing)
        wait_until(lambda: drain_ready(conn, lambda: len(got) >= 40) or len(got) >= 40)
        assert [m.body for m in got] == ["x" * 200] * 40
        set_timeouts = [t for t in timeouts if t is not None]
        assert len(set_timeouts) < 40  # three per message (one per frame) before
        got.clear()
        drain_ready(conn, lambda: len(got) >= 1)  # nothing left: returns at once
        assert got == []
    finally:
        close_quietly(conn)
        close_quietly(producer)
