"""Dead letters: list them and replay them into their consumer queue.

    python -m <service> dlq list
    python -m <service> dlq replay [--queue QUEUE] [--id EVENT_ID]

Both read the dead-letter queues with basic.get without acknowledging, so an interrupted
command loses nothing: whatever was not explicitly acked returns to the queue when the channel
closes. Replay publishes a copy (x-retries reset to 0) to the consumer queue through the
default exchange with publisher confirms, and acks the dead letter only once that copy is
confirmed. A service wires `main(argv, settings, worker.queues)` into its CLI.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
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


def _get_all(channel: amqp.Channel, dlq: str) -> list[amqp.Message]:
    """Every message of `dlq`, unacked (they return to the queue when the channel closes)."""
    messages = []
    while (message := channel.basic_get(dlq, no_ack=False)) is not None:
        messages.append(message)
    return messages


def _existing_dlqs(conn, queues: Sequence[str]) -> list[str]:
    """The consumer queues whose DLQ exists (a never-started consumer has none yet)."""
    found = []
    for queue in queues:
        channel = conn.channel()
        try:
            channel.queue_declare(dead_letter_queue(queue), passive=True)
            found.append(queue)
        except amqp.exceptions.NotFound:
            continue
        finally:
            try:
                channel.close()
            except Exception:  # closed by the broker after NotFound
                pass
    return found


def list_dead_letters(amqp_url: str, queues: Sequence[str]) -> list[DeadLetter]:
    conn = connect(amqp_url)
    try:
        letters = []
        for queue in _existing_dlqs(conn, [original_queue(q) for q in queues]):
            channel = conn.channel()
            channel.auto_decode = False
            letters += [_describe(queue, m) for m in _get_all(channel, dead_letter_queue(queue))]
            channel.close()  # nothing acked: every message goes back to the DLQ
        return letters
    finally:
        close_quietly(conn)


def replay(amqp_url: str, queues: Sequence[str], *, queue: str | None = None,
           event_id: str | None = None) -> list[DeadLetter]:
    """Send dead letters back to their consumer queue (all, or those of `queue` / `event_id`)."""
    targets = [original_queue(q) for q in queues]
    if queue is not None:
        targets = [q for q in targets if q == original_queue(queue)]
    conn = connect(amqp_url)
    try:
        replayed = []
        publisher = ConfirmingPublisher(conn.channel())
        for target in _existing_dlqs(conn, targets):
            channel = conn.channel()
            channel.auto_decode = False
            for message in _get_all(channel, dead_letter_queue(target)):
                letter = _describe(target, message)
                if event_id is not None and letter.event_id != event_id:
                    continue
                [result] = publisher.publish([_replay_copy(target, message)])
                if not result.ok:
                    raise RuntimeError(f"could not replay {letter.event_id} to {target}: {result.error}")
                channel.basic_ack(message.delivery_tag)
                replayed.append(letter)
            channel.close()  # unmatched messages go back to the DLQ
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


def main(argv: Sequence[str], settings: ServiceSettings, queues: Sequence[str]) -> int:
    """`dlq list` / `dlq replay [--queue Q] [--id EVENT_ID]`; returns the exit status."""
    parser = argparse.ArgumentParser(prog=f"python -m {settings.service} dlq",
                                     description="Inspect and replay dead-lettered events.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="show the dead letters of every consumer queue")
    replay_cmd = commands.add_parser("replay", help="send dead letters back to their consumer queue")
    replay_cmd.add_argument("--queue", help="only this consumer queue (name with or without .dlq)")
    replay_cmd.add_argument("--id", dest="event_id", help="only this event id")
    args = parser.parse_args(list(argv))

    known = [original_queue(q) for q in queues]
    if args.command == "list":
        letters = list_dead_letters(settings.amqp_url, known)
        print(format_table(letters) if letters else "No dead letters.")
        print(f"{len(letters)} dead letter(s) in {len(known)} queue(s).")
        return 0
    if args.queue is not None and original_queue(args.queue) not in known:
        print(f"Unknown queue {args.queue!r}. Known queues: {', '.join(known) or '(none)'}", file=sys.stderr)
        return 2
    replayed = replay(settings.amqp_url, known, queue=args.queue, event_id=args.event_id)
    if replayed:
        print(format_table(replayed))
    print(f"{len(replayed)} dead letter(s) replayed.")
    if args.event_id is not None and not replayed:
        print(f"No dead letter with event id {args.event_id}.", file=sys.stderr)
        return 1
    return 0
