"""Database.run_read / run_write run at most `threads` units of work of a process at once."""
import asyncio
import threading
import time

from servicekit.db import Database


def test_units_of_work_beyond_the_limit_wait_their_turn(tmp_path, monkeypatch):
    db = Database(f"sqlite:///{tmp_path / 'threads.db'}", threads=2)
    running, most = 0, 0
    lock = threading.Lock()

    def unit(session):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return "done"

    async def main():
        return await asyncio.gather(*[db.run_read(unit) for _ in range(4)], *[db.run_write(unit) for _ in range(4)])

    assert asyncio.run(main()) == ["done"] * 8
    assert most == 2
    asyncio.run(main())  # a new event loop gets its own limiter
    db.dispose()


def test_the_limit_comes_from_db_threads(monkeypatch, tmp_path):
    monkeypatch.setenv("DB_THREADS", "7")
    db = Database(f"sqlite:///{tmp_path / 'threads.db'}")
    assert db.threads == 7
    db.dispose()
