"""The requests service's integration tests: one migrated PostgreSQL database per module, the
real app (servicekit's ASGI stack, connexion validation, service tokens, the upload limit) and
the use cases. Tests isolate themselves with a fresh commune (`world`): the demo catalogue
seeded for it, an agent the agents projection knows, families with a child each."""
from __future__ import annotations

import io
import json
import os
import struct
import uuid
import zlib
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from servicekit import tokens
from servicekit.db import Database
from servicekit.messaging.tables import outbox
from servicekit.testing import migrated_pg_database, service_app
from servicekit.types import utcnow

from demandes import seed
from demandes.models import agents, children, documents, families

pytestmark = pytest.mark.integration

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "..", "migrations")
SECRET = "requests-tests-service-token-secret-0123456789"
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="module")
def db_url():
    with migrated_pg_database("requests_it", MIGRATIONS) as url:
        yield url


@pytest.fixture(scope="module")
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def storage_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("requests-documents")


@pytest.fixture(scope="module")
def app(db_url, storage_dir):
    env = {"REQUESTS_DATABASE_URL": db_url, "SERVICE_TOKEN_SECRET": SECRET, "EF_ENV": "test",
           "REQUESTS_STORAGE_DIR": str(storage_dir), "REQUESTS_MAX_FILE_BYTES": str(1024 * 1024),
           "PUBLIC_URL": "https://famille.example.org",
           "REQUESTS_CLAMD_SOCKET": None, "REQUESTS_CLAMD_HOST": None}  # no scanner unless a test starts one
    with service_app("demandes", env) as application:
        yield application


@pytest.fixture(scope="module")
def client(app):
    with app.test_client() as test_client:
        yield test_client


def auth(caller: tokens.Caller) -> dict:
    return {"Authorization": f"Bearer {tokens.mint(caller, 'requests', SECRET)}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def outbox_events(db: Database, event_type: str | None = None) -> list[dict]:
    with db.read() as s:
        rows = s.execute(sa.select(outbox.c.routing_key, outbox.c.body).order_by(outbox.c.seq)).all()
    return [json.loads(body)["data"] for key, body in rows if event_type is None or key == event_type]


# --- files -------------------------------------------------------------------------------------------
def pdf_bytes(text: str = "Justificatif") -> bytes:
    body = (f"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            f"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% {text} {uuid.uuid4().hex}\n"
            "trailer << /Root 1 0 R >>\n%%EOF\n")
    return body.encode()


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.js", "alert(document.cookie)")
    return buffer.getvalue()


def windows_exe() -> bytes:
    stub = b"MZ" + b"\x90\x00" * 29 + b"\x80\x00\x00\x00"
    stub = stub.ljust(0x40, b"\x00") + b"This program cannot be run in DOS mode.\r\r\n$"
    return stub.ljust(0x80, b"\x00") + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200


# --- the world -------------------------------------------------------------------------------------
@dataclass
class Family:
    family_id: str
    child_id: str
    caller: tokens.Caller

    @property
    def headers(self) -> dict:
        return auth(self.caller)


@dataclass
class World:
    db: Database
    client: object
    commune: str
    agent: tokens.Caller
    families: list = field(default_factory=list)

    @property
    def agent_headers(self) -> dict:
        return auth(self.agent)

    def family(self, name: str = "Martin") -> Family:
        family_id, child_id = str(uuid.uuid4()), str(uuid.uuid4())
        now = utcnow()
        with self.db.transaction() as s:
            s.execute(families.insert().values(family_id=family_id, commune=self.commune, family_name=name,
                                               status="active", updated_at=now))
            s.execute(children.insert().values(child_id=child_id, family_id=family_id, given_name="Léa",
                                               family_name=name, changed_at=now))
        family = Family(family_id, child_id, tokens.Caller(sub=unique("parent"), role="parent", family_id=family_id))
        self.families.append(family)
        return family

    def category(self, code: str) -> dict:
        r = self.client.get("/internal/agent/categories", headers=self.agent_headers)
        assert r.status_code == 200, r.text
        return next(c for c in r.json()["items"] if c["code"] == code)

    def upload(self, family: Family, files, doc_type: str = "justificatif_domicile", **form):
        """POST /internal/me/documents; `files` is a list of (name, bytes[, content type])."""
        parts = [("file", (f[0], io.BytesIO(f[1]), f[2] if len(f) > 2 else "application/pdf")) for f in files]
        data = {"commune": self.commune, "doc_type": doc_type, **form}
        return self.client.post("/internal/me/documents", data=data, files=parts, headers=family.headers)

    def document(self, family: Family, doc_type: str = "justificatif_domicile", **form) -> dict:
        r = self.upload(family, [("justificatif.pdf", pdf_bytes())], doc_type, **form)
        assert r.status_code == 201, r.text
        return r.json()["items"][0]

    def draft(self, family: Family, code: str, data: dict, document_ids=(), text=None) -> dict:
        body = {"category_id": self.category(code)["id"], "data": data, "document_ids": list(document_ids)}
        if text is not None:
            body["text"] = text
        r = self.client.post("/internal/me/requests", json=body, headers=family.headers)
        assert r.status_code == 201, r.text
        return r.json()

    def sent(self, family: Family, code: str = "autre", data: dict | None = None, document_ids=()) -> dict:
        draft = self.draft(family, code, data or {"subject": "Question", "message": "Bonjour"}, document_ids)
        r = self.client.post(f"/internal/me/requests/{draft['id']}/submit", headers=family.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def decide(self, request_id: str, status: str, message: str | None = None):
        body = {"status": status}
        if message is not None:
            body["message"] = message
        return self.client.post(f"/internal/agent/requests/{request_id}/decision", json=body,
                                headers=self.agent_headers)


def make_world(db: Database, client) -> World:
    commune = unique("commune")
    agent = tokens.Caller(sub=unique("agent"), role="agent", commune=commune)
    with db.transaction() as s:
        s.execute(agents.insert().values(user_id=agent.sub, commune=commune, role="agent", active=True,
                                         changed_at=utcnow(), updated_at=utcnow()))
        seed.seed_demo(s, commune)
    return World(db, client, commune, agent)


@pytest.fixture
def world(db, client) -> World:
    return make_world(db, client)


def stored_documents(db: Database, family_id: str) -> int:
    with db.read() as s:
        return s.execute(sa.select(sa.func.count()).select_from(documents)
                         .where(documents.c.family_id == family_id)).scalar()


# --- a real ClamAV daemon (Debian's clamav-daemon) with the project's own signature ---------------
@pytest.fixture(scope="module")
def clamd_socket(tmp_path_factory):
    """clamd started for these tests: its own config in a temp dir, and a signature database of
    ours (the official one cannot be downloaded here): an .ndb body signature matching the EICAR
    test string anywhere in a file. Skipped, with the reason, only if clamd cannot start."""
    import hashlib
    import shutil
    import subprocess
    import time

    from demandes.scanner import Clamd

    binary = shutil.which("clamd") or ("/usr/sbin/clamd" if os.path.exists("/usr/sbin/clamd") else None)
    if binary is None:
        pytest.skip("clamd is not installed (scripts/install-system-deps.sh installs clamav-daemon)")
    home = tmp_path_factory.mktemp("clamd")
    (home / "db").mkdir()
    (home / "db" / "espace-famille-test.ndb").write_text(f"EspaceFamille.Test.EICAR:0:*:{EICAR.hex()}\n")
    (home / "db" / "espace-famille-test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:"
                                                         "EspaceFamille.Test.EICAR.File\n")
    socket_path = home / "clamd.sock"
    (home / "clamd.conf").write_text(
        f"DatabaseDirectory {home / 'db'}\nLocalSocket {socket_path}\nForeground yes\n"
        f"LogFile {home / 'clamd.log'}\nPidFile {home / 'clamd.pid'}\nStreamMaxLength 20M\n"
        "User root\n" if os.geteuid() == 0 else
        f"DatabaseDirectory {home / 'db'}\nLocalSocket {socket_path}\nForeground yes\n"
        f"LogFile {home / 'clamd.log'}\nPidFile {home / 'clamd.pid'}\nStreamMaxLength 20M\n")
    process = subprocess.Popen([binary, "-c", str(home / "clamd.conf")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    scanner = Clamd(socket_path=str(socket_path), timeout=10)
    deadline = time.monotonic() + 60
    while not (socket_path.exists() and scanner.ping()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (home / "clamd.log").read_text() if (home / "clamd.log").exists() else ""
            pytest.skip(f"clamd did not start: {process.stderr.read().decode()[-500:]} {log[-500:]}")
        time.sleep(0.1)
    yield str(socket_path)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
