"""Dead letters: list them and replay them into their consumer queue.

    python -m <service> dlq list [--limit N] [--offset N]
    python -m <service> dlq replay [--queue QUEUE] [--id EVENT_ID] [--limit N]

Both read the dead-letter queues with basic.get without acknowledging, one message at a time
(a DLQ can be large: `list` reads at most offset + limit messages and keeps only the page), so
an interrupted command loses nothing: whatever was not explicitly acked returns to its place in
the queue when the channel closes. Replay publishes a copy (x-retries reset to 0) to the
consumer queue through the default exchange with publisher confirms, and acks the dead letter
only once that copy is confirmed. `servicekit.cli` wires `main(argv, settings, worker.queues)`
into every service's `python -m <service> dlq`.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone

import amqp
import amqp.exceptions

from servicekit.messaging.broker import close_quietly, connect
from servicekit.messaging.confirms import ConfirmingPublisher, Outgoing
from servicekit.messaging.names import dead_letter_queue, original_queue
from servicekit.messaging.retries import (ERROR_HEADER, FAILED_AT_HEADER, RETRIES_HEADER, carried_headers,
                                          retries_of)
from servicekit.settings import ServiceSettings

REPLAYED_AT_HEADER = "x-replayed-at"
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # the consumer queue it failed on (its DLQ is `<queue>.dlq`)
    event_id: str
    event_type: str
    retries: int
    failed_at: str
    error: str


def _describe(queue: str, message: amqp.Message) -> DeadLetter:
    headers = message.headers or {}
    event_type = ""
    try:
        event_type = str(json.loads(message.body).get("type", ""))
    except (ValueError, AttributeError, UnicodeDecodeError):
        pass
    return DeadLetter(queue=queue, event_id=str(message.properties.get("message_id") or ""), event_type=event_type,
                      retries=retries_of(headers), failed_at=str(headers.get(FAILED_AT_HEADER, "")),
                      error=str(headers.get(ERROR_HEADER, "")))


def _existing_dlqs(conn, queues: Sequence[str]) -> list[tuple[str, int]]:
    """(consumer queue, dead letters waiting) for the queues whose DLQ exists (a never-started
    consumer has none yet)."""
    found = []
    for queue in queues:
        channel = conn.channel()
        try:
            found.append((queue, channel.queue_declare(dead_letter_queue(queue), passive=True).message_count))
        except amqp.exceptions.NotFound:
            continue
        finally:
            try:
                channel.close()
            except Exception:  # closed by the broker after NotFound
                pass
    return found


def _stream(conn, queue: str) -> Iterator[tuple[amqp.Channel, amqp.Message]]:
    """The messages of `queue`'s DLQ one at a time, unacked: whatever the caller does not ack
    returns to the DLQ, in its place, when the channel closes (at the end or when the caller
    stops early). Only the message in hand is held in memory."""
    channel = conn.channel()
    channel.auto_decode = False
    try:
        while (message := channel.basic_get(dead_letter_queue(queue), no_ack=False)) is not None:
            yield channel, message
    finally:
        channel.close()


def page_dead_letters(amqp_url: str, queues: Sequence[str], *, limit: int | None = None,
                      offset: int = 0) -> tuple[list[DeadLetter], int]:
    """Dead letters `offset` to `offset + limit` (all after `offset` if `limit` is None) across
    the queues, in queue then arrival order, and how many there are in all. Reads at most
    `offset + limit` messages; nothing is consumed."""
    conn = connect(amqp_url)
    try:
        existing = _existing_dlqs(conn, [original_queue(q) for q in queues])
        total = sum(count for _queue, count in existing)
        letters: list[DeadLetter] = []
        skip = offset
        for queue, count in existing:
            if len(letters) == limit:
                break
            if skip >= count:  # this whole queue is before the page: do not read it
                skip -= count
                continue
            with closing(_stream(conn, queue)) as messages:
                for _channel, message in messages:
                    if skip:
                        skip -= 1
                        continue
                    letters.append(_describe(queue, message))
                    if len(letters) == limit:
                        break
        return letters, total
    finally:
        close_quietly(conn)


def list_dead_letters(amqp_url: str, queues: Sequence[str], *, limit: int | None = None,
                      offset: int = 0) -> list[DeadLetter]:
    return page_dead_letters(amqp_url, queues, limit=limit, offset=offset)[0]


def replay(amqp_url: str, queues: Sequence[str], *, queue: str | None = None,
           event_id: str | None = None, limit: int | None = None) -> list[DeadLetter]:
    """Send dead letters back to their consumer queue (all, or those of `queue` / `event_id`,
    at most `limit`), one at a time: each is acked only once its copy is confirmed."""
    targets = [original_queue(q) for q in queues]
    if queue is not None:
        targets = [q for q in targets if q == original_queue(queue)]
    conn = connect(amqp_url)
    try:
        replayed: list[DeadLetter] = []
        publisher = ConfirmingPublisher(conn.channel())
        for target, _count in _existing_dlqs(conn, targets):
            if len(replayed) == limit:
                break
            with closing(_stream(conn, target)) as messages:
                for channel, message in messages:
                    letter = _describe(target, message)
                    if event_id is not None and letter.event_id != event_id:
                        continue  # stays in the DLQ
                    [result] = publisher.publish([_replay_copy(target, message)])
                    if not result.ok:
                        raise RuntimeError(f"could not replay {letter.event_id} to {target}: {result.error}")
                    channel.basic_ack(message.delivery_tag)
                    replayed.append(letter)
                    if len(replayed) == limit:
                        break
        return replayed
    finally:
        close_quietly(conn)


def _replay_copy(queue: str, message: amqp.Message) -> Outgoing:
    props = message.properties
    headers = carried_headers(message.headers, **{
        RETRIES_HEADER: 0, REPLAYED_AT_HEADER: datetime.now(timezone.utc).isoformat(timespec="seconds")})
    for dropped in (ERROR_HEADER, FAILED_AT_HEADER):
        headers.pop(dropped, None)
    return Outgoing(exchange="", routing_key=queue, body=message.body, message_id=props.get("message_id") or "",
                    headers=headers, content_type=props.get("content_type") or "application/json",
                    content_encoding=props.get("content_encoding"))


def format_table(letters: Sequence[DeadLetter], error_width: int = 80) -> str:
    """A plain-text table for operators."""
    header = ("QUEUE", "EVENT ID", "TYPE", "RETRIES", "FAILED AT", "ERROR")
    rows = [(l.queue, l.event_id, l.event_type, str(l.retries), l.failed_at, _shorten(l.error, error_width))
            for l in letters]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in (header, *rows)]
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def main(argv: Sequence[str], settings: ServiceSettings, queues: Sequence[str]) -> int:
    """`dlq list [--limit N] [--offset N]` / `dlq replay [--queue Q] [--id EVENT_ID] [--limit N]`;
    returns the exit status."""
    parser = argparse.ArgumentParser(prog=f"python -m {settings.service} dlq",
                                     description="Inspect and replay dead-lettered events.")
    commands = parser.add_subparsers(dest="command", required=True)
    list_cmd = commands.add_parser("list", help="show the dead letters of every consumer queue, a page at a time")
    list_cmd.add_argument("--limit", type=_positive, default=DEFAULT_PAGE_SIZE,
                          help=f"at most this many (default {DEFAULT_PAGE_SIZE})")
    list_cmd.add_argument("--offset", type=_count, default=0, help="skip this many first (default 0)")
    replay_cmd = commands.add_parser("replay", help="send dead letters back to their consumer queue")
    replay_cmd.add_argument("--queue", help="only this consumer queue (name with or without .dlq)")
    replay_cmd.add_argument("--id", dest="event_id", help="only this event id")
    replay_cmd.add_argument("--limit", type=_positive, default=None, help="at most this many (default: all)")
    args = parser.parse_args(list(argv))

    known = [original_queue(q) for q in queues]
    if args.command == "list":
        letters, total = page_dead_letters(settings.amqp_url, known, limit=args.limit, offset=args.offset)
        print(format_table(letters) if letters else "No dead letters" + (" on this page." if total else "."))
        print(_page_summary(len(letters), total, args.offset, len(known)))
        return 0
    if args.queue is not None and original_queue(args.queue) not in known:
        print(f"Unknown queue {args.queue!r}. Known queues: {', '.join(known) or '(none)'}", file=sys.stderr)
        return 2
    replayed = replay(settings.amqp_url, known, queue=args.queue, event_id=args.event_id, limit=args.limit)
    if replayed:
        print(format_table(replayed))
    print(f"{len(replayed)} dead letter(s) replayed.")
    if args.event_id is not None and not replayed:
        print(f"No dead letter with event id {args.event_id}.", file=sys.stderr)
        return 1
    return 0


def _page_summary(shown: int, total: int, offset: int, queues: int) -> str:
    if offset == 0 and shown == total:
        return f"{total} dead letter(s) in {queues} queue(s)."
    if shown == 0:
        return f"No dead letter after the first {offset}; {total} in {queues} queue(s)."
    last = offset + shown
    more = f" Next page: --offset {last}." if last < total else ""
    return f"Showing dead letter(s) {offset + 1} to {last} of {total} in {queues} queue(s).{more}"
