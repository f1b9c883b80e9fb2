"""`python -m fakebank [--port 8090] [--notify-delay 0] [--duplicates 1] [--never-notify] ...`

Every option also reads an environment variable (FAKEBANK_PORT, FAKEBANK_NOTIFY_DELAY...);
the command line wins. Runs until SIGINT/SIGTERM.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from fakebank.notifier import Behaviour
from fakebank.protocol import Shop
from fakebank.web import Bank, BankServer

log = logging.getLogger("fakebank")

# The development shop. Billing's development defaults use the same two values
# (services/billing/billing/payments/config.py); they are public and worth nothing elsewhere.
DEV_SITE_ID = "12345678"
DEV_KEY_TEST = "DevOnlyFakeBankTestKey0123456789"


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "on", "yes"):
        return True
    if lowered in ("0", "false", "off", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, not {value!r}")


def _number(low: float, high: float, kind=float):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number from {low} to {high}, not {value!r}")
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"expected a number from {low} to {high}, not {value!r}")
        return number
    return parse


def parser(env=os.environ) -> argparse.ArgumentParser:
    default_port = int(env.get("EF_PORT_BASE", "8000")) + 90
    p = argparse.ArgumentParser(prog="python -m fakebank", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=env.get("FAKEBANK_HOST", "127.0.0.1"), help="interface (FAKEBANK_HOST)")
    p.add_argument("--port", type=_number(0, 65535, int), default=env.get("FAKEBANK_PORT", str(default_port)),
                   help="port (FAKEBANK_PORT; default EF_PORT_BASE + 90, so 8090)")
    p.add_argument("--site-id", default=env.get("FAKEBANK_SITE_ID", DEV_SITE_ID),
                   help="the shop's vads_site_id (FAKEBANK_SITE_ID)")
    p.add_argument("--key-test", default=env.get("FAKEBANK_KEY_TEST", DEV_KEY_TEST),
                   help="the shop's TEST key (FAKEBANK_KEY_TEST)")
    p.add_argument("--key-production", default=env.get("FAKEBANK_KEY_PRODUCTION") or None,
                   help="the shop's PRODUCTION key; none by default (FAKEBANK_KEY_PRODUCTION)")
    p.add_argument("--shop-name", default=env.get("FAKEBANK_SHOP_NAME", "Espace Famille"),
                   help="the merchant's name on the payment page (FAKEBANK_SHOP_NAME)")
    p.add_argument("--notify-delay", type=_number(0, 3600), default=env.get("FAKEBANK_NOTIFY_DELAY", "0"),
                   help="seconds before the notification (FAKEBANK_NOTIFY_DELAY)")
    p.add_argument("--duplicates", type=_number(1, 50, int), default=env.get("FAKEBANK_DUPLICATES", "1"),
                   help="identical notifications sent at once (FAKEBANK_DUPLICATES)")
    p.add_argument("--never-notify", type=_flag, nargs="?", const=True,
                   default=env.get("FAKEBANK_NEVER_NOTIFY", "off"),
                   help="never send notifications (FAKEBANK_NEVER_NOTIFY=on)")
    p.add_argument("--retries", type=_number(0, 20, int), default=env.get("FAKEBANK_RETRIES", "4"),
                   help="new attempts when the merchant does not answer 2xx (FAKEBANK_RETRIES)")
    p.add_argument("--retry-delay", type=_number(0, 3600), default=env.get("FAKEBANK_RETRY_DELAY", "60"),
                   help="seconds between attempts (FAKEBANK_RETRY_DELAY)")
    p.add_argument("--notify-origin", default=env.get("FAKEBANK_NOTIFY_ORIGIN", ""),
                   help="send notifications to this scheme://host:port instead of the URL's own, e.g. "
                        "http://gateway:8000 in containers (FAKEBANK_NOTIFY_ORIGIN)")
    return p


def bank_from_args(args: argparse.Namespace) -> Bank:
    shop = Shop(site_id=args.site_id, name=args.shop_name, key_test=args.key_test, key_production=args.key_production)
    behaviour = Behaviour(notify_delay=args.notify_delay, duplicates=args.duplicates,
                          never_notify=args.never_notify, retries=args.retries, retry_delay=args.retry_delay,
                          notify_origin=args.notify_origin)
    return Bank({shop.site_id: shop}, behaviour)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s fakebank %(levelname)s %(message)s")
    args = parser().parse_args(argv)
    server = BankServer(bank_from_args(args), args.host, args.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    b = server.bank.behaviour
    log.info("simulated bank on http://%s:%d/vads-payment/ (shop %s; notify delay %ss, %d cop%s%s)", args.host,
             server.port, args.site_id, b.notify_delay, b.duplicates, "y" if b.duplicates == 1 else "ies",
             ", never notifies" if b.never_notify else "")
    stop.wait()
    server.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
