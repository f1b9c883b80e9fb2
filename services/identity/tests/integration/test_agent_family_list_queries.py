"""The agent's family list costs the same few queries whatever the page size (no query per row)."""
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
from accounts_testkit import activate, app, client, db, db_url, make_agent, make_commune, register, unique  # noqa: F401

from identity import households

pytestmark = pytest.mark.integration


@contextmanager
def counted_statements(db):
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def statements_to_list(db, agent) -> tuple[int, dict]:
    with counted_statements(db) as statements, db.read() as s:
        page = households.list_families(s, agent, per_page=50)
    return len(statements), page


def test_list_families_runs_a_constant_number_of_queries(client, db):
    small, large = make_commune(db), make_commune(db)
    small_agent, large_agent = make_agent(db, small), make_agent(db, large)
    register(client, small_agent, f"{unique('p')}@example.org", "Aubert")
    activate(client, db, small_agent, f"{unique('p')}@example.org", "Bernard")
    for i in range(6):
        register(client, large_agent, f"{unique('p')}@example.org", f"Famille {i}")
    for i in range(3):
        activate(client, db, large_agent, f"{unique('p')}@example.org", f"Active {i}")

    few, small_page = statements_to_list(db, small_agent)
    many, large_page = statements_to_list(db, large_agent)
    assert small_page["total"] == 2 and large_page["total"] == 9
    assert many == few, f"{few} statements for 2 families, {many} for 9"
    # Every row still shows its login e-mail and its latest link.
    assert all(item["login_email"] and item["activation"] for item in large_page["items"])
