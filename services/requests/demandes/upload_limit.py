"""An ASGI guard that caps the size of upload bodies before anything parses them: a declared
Content-Length over the cap is answered 413 at once; a body that grows past it while streaming
(chunked, or a lying Content-Length) is cut and answered 413 too. Nothing reaches the operation,
so nothing is stored. The body is read whole (at most the cap) then replayed to the app.
"""
from __future__ import annotations

import json

from demandes.domain.documents import MAX_FILES_PER_UPLOAD, human_size

MULTIPART_OVERHEAD = 256 * 1024   # form fields and part headers around the files


def body_cap(max_file_bytes: int) -> int:
    return MAX_FILES_PER_UPLOAD * max_file_bytes + MULTIPART_OVERHEAD


def make_middleware(max_file_bytes: int, is_upload=lambda path: path.endswith(("/uploads", "/me/documents"))):
    cap = body_cap(max_file_bytes)
    detail = (f"Envoi trop volumineux : {human_size(max_file_bytes)} au plus par fichier, "
              f"{MAX_FILES_PER_UPLOAD} fichiers au plus à la fois. Rien n'a été enregistré.")

    class UploadLimit:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or scope.get("method") != "POST" or not is_upload(scope.get("path", "")):
                await self.app(scope, receive, send)
                return
            declared = dict(scope.get("headers") or ()).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                await _refuse(send, detail)
                return
            # Read the whole body (bounded) before the app sees any of it, then replay it.
            chunks, seen = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > cap:
                    await _refuse(send, detail)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)

    return UploadLimit


async def _refuse(send, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": "Fichier trop volumineux", "status": 413, "detail": detail},
                      ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
