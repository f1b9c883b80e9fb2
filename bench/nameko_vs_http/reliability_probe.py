"""Probe two reliability properties of nameko events on a real RabbitMQ.

(b) Is an event published *before* the consumer's queue exists delivered once the consumer
    starts, or dropped?  (And does the publisher learn about it?)
(c) When an @event_handler raises, is the message acked (and therefore lost), or kept for a
    retry?  Also: what the opt-in `requeue_on_error=True` does.

Every run uses unique exchange/queue names and deletes them at the end, so it can be run
against a shared broker. Run it with the throwaway venv that has nameko + eventlet:

    /tmp/nameko-venv/bin/python bench/nameko_vs_http/reliability_probe.py \
        --amqp amqp://guest:guest@127.0.0.1:5672/

It prints a JSON report on stdout and exits 0 whether nameko passes or fails the probes
(the findings are the output); it exits 1 only when the probe itself could not run.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from importlib.metadata import version  # noqa: E402

from kombu import Connection, Exchange, Queue  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.events import EventDispatcher, event_handler  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.standalone.events import event_dispatcher  # noqa: E402
from nameko.testing.services import entrypoint_hook  # noqa: E402

RUN = uuid.uuid4().hex[:8]
SOURCE = f"probe{RUN}"  # the "publishing service" name; its exchange is "<SOURCE>.events"

received: dict[str, list] = {"early": [], "raising": [], "requeue": []}


class Publisher:
    """The producing service, as nameko intends it: an EventDispatcher dependency, which
    declares the "<SOURCE>.events" exchange when the service starts."""

    name = SOURCE
    dispatch = EventDispatcher()

    @rpc
    def emit(self, event_type, payload):
        self.dispatch(event_type, payload)


class EarlyConsumer:
    name = f"early{RUN}"

    @event_handler(SOURCE, "early_event")
    def handle(self, payload):
        received["early"].append(payload)


class RaisingConsumer:
    name = f"raising{RUN}"

    @event_handler(SOURCE, "raising_event")
    def handle(self, payload):
        received["raising"].append(payload)
        raise RuntimeError("handler failure (simulated)")


class RequeueConsumer:
    name = f"requeue{RUN}"

    @event_handler(SOURCE, "requeue_event", requeue_on_error=True)
    def handle(self, payload):
        received["requeue"].append(payload)
        raise RuntimeError("handler failure (simulated)")


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        eventlet.sleep(0.05)
    return predicate()


def queue_depth(conn: Connection, name: str) -> int | None:
    """Ready messages in queue `name`, or None if the queue does not exist."""
    channel = conn.channel()
    try:
        _, count, _ = channel.queue_declare(queue=name, passive=True)
        return count
    except Exception:
        return None
    finally:
        try:
            channel.close()
        except Exception:
            pass


def start(cls, config) -> ServiceContainer:
    container = ServiceContainer(cls, config)
    container.start()
    return container


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--wait", type=float, default=3.0, help="seconds to wait for a delivery")
    args = parser.parse_args()
    config = {"AMQP_URI": args.amqp}
    dispatch = event_dispatcher(config)
    report: dict = {
        "python": sys.version.split()[0],
        "nameko": version("nameko"),
        "eventlet": version("eventlet"),
        "kombu": version("kombu"),
        "run_id": RUN,
    }
    containers: list[ServiceContainer] = []
    queues = [
        f"evt-{SOURCE}-early_event--{EarlyConsumer.name}.handle",
        f"evt-{SOURCE}-raising_event--{RaisingConsumer.name}.handle",
        f"evt-{SOURCE}-requeue_event--{RequeueConsumer.name}.handle",
        f"rpc-{SOURCE}",  # the publisher service's RPC queue (it has an @rpc entrypoint)
    ]
    conn = Connection(args.amqp)
    try:
        conn.connect()
        # ---- (b) publish before any consumer queue exists --------------------------------
        # b0: nameko's standalone dispatcher, before anything declared the exchange.
        standalone_error = None
        try:
            dispatch(SOURCE, "early_event", {"n": 0, "when": "standalone, no exchange yet"})
        except Exception as exc:
            standalone_error = repr(exc)
        # b1: the normal case: the publishing service runs (its exchange exists), the
        # consumer service has not started yet (e.g. deployed later, or its queue was never
        # declared because it has never run).
        publisher = start(Publisher, config)
        containers.append(publisher)
        publish_error = None
        try:
            with entrypoint_hook(publisher, "emit") as emit:
                emit("early_event", {"n": 1, "when": "before consumer"})
        except Exception as exc:
            publish_error = repr(exc)
        early = start(EarlyConsumer, config)
        containers.append(early)
        wait_until(lambda: received["early"], args.wait)
        got_before = list(received["early"])
        # control: the same handler does receive an event published once its queue exists
        with entrypoint_hook(publisher, "emit") as emit:
            emit("early_event", {"n": 2, "when": "after consumer"})
        wait_until(lambda: len(received["early"]) > len(got_before), args.wait)
        report["b_publish_before_consumer"] = {
            "standalone_dispatcher_without_exchange": standalone_error or "no error",
            "service_dispatcher_publisher_error": publish_error,
            "delivered_events_published_before_queue": got_before,
            "control_delivered_after_queue_exists": received["early"][len(got_before):],
            "verdict": "DROPPED silently" if not got_before and publish_error is None else
            ("delivered" if got_before else "error raised to publisher"),
        }

        # ---- (c) a handler that raises (default settings) --------------------------------
        raising = start(RaisingConsumer, config)
        containers.append(raising)
        dispatch(SOURCE, "raising_event", {"n": 1})
        wait_until(lambda: received["raising"], args.wait)
        eventlet.sleep(args.wait)  # leave time for any redelivery
        raising.stop()
        containers.remove(raising)
        depth = queue_depth(conn, queues[1])
        report["c_handler_raises_default"] = {
            "handler_invocations": len(received["raising"]),
            "messages_left_in_queue_after_consumer_stopped": depth,
            "verdict": "ACKED and LOST" if depth == 0 and len(received["raising"]) == 1 else
            "kept for retry",
        }

        # ---- (c') the opt-in requeue_on_error=True ----------------------------------------
        requeue = start(RequeueConsumer, config)
        containers.append(requeue)
        dispatch(SOURCE, "requeue_event", {"n": 1})
        wait_until(lambda: received["requeue"], args.wait)
        t0 = time.monotonic()
        eventlet.sleep(2.0)
        elapsed = time.monotonic() - t0
        requeue.kill()  # stop() would wait for the endless redelivery loop
        containers.remove(requeue)
        report["c_handler_raises_requeue_on_error"] = {
            "handler_invocations_in_about_2s": len(received["requeue"]),
            "invocations_per_second": round(len(received["requeue"]) / max(elapsed, 0.001)),
            "verdict": "immediate redelivery loop, no delay, no limit, no dead-letter"
            if len(received["requeue"]) > 10 else "bounded",
        }
    except Exception as exc:
        print(json.dumps({"error": repr(exc), **report}, indent=2))
        return 1
    finally:
        for c in containers:
            try:
                c.kill()
            except Exception:
                pass
        try:
            ch = conn.channel()
            for q in queues:
                try:
                    Queue(q, channel=ch).delete()
                except Exception:
                    ch = conn.channel()
            Exchange(f"{SOURCE}.events", channel=ch).delete()
        except Exception:
            pass
        conn.release()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
