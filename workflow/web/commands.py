"""How the API runs a command on a measure: who may, `If-Match`, `Idempotency-Key`, uploads, the answer."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request, UploadFile
from fastapi.responses import JSONResponse

from states.errors import InvalidInput
from states.measure import Measure
from states.permissions import Actor

from .. import ledger
from ..app import App
from . import access, idempotency
from .schemas import EvidenceItem, ExtensionItem, MeasureOut

MAX_UPLOAD = 100 * 1024 * 1024  # bytes per file


def if_match(raw: str | None) -> int | None:
    """The version an `If-Match` header expects (`3`, `"3"` or `W/"3"`); None for no header or `*`."""
    if raw is None or raw.strip() in ("", "*"):
        return None
    text = raw.strip().removeprefix("W/").strip().strip('"')
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidInput("If-Match", f"{raw!r} is not a measure version (the ETag of GET /api/measures/REF)")
    return int(text)


def etag(version: int) -> dict[str, str]:
    """The ETag header of a measure at `version`."""
    return {"ETag": f'"{version}"'}


def measure_out(app: App, actor: Actor, ref: str | int) -> MeasureOut:
    """A measure as `actor` may see it: its evidence only for its people and overseers."""
    d = ledger.detail(app, str(ref), actor.handle)
    inside = access.sees_inside(actor, d.row.owner, d.row.verifier, d.row.leader)
    evidence = [EvidenceItem(**e, url=f"/api/evidence/{e['sha256']}" if e["kind"] == "file" else None)
                for e in d.evidence] if inside else None
    return MeasureOut(**d.row.as_json(), text=d.text, points=d.points, evidence=evidence,
                      extensions=[ExtensionItem(**x) for x in d.extensions], available_events=d.available)


@dataclass(frozen=True)
class Command:
    """One command as asked over HTTP."""

    app: App
    actor: Actor
    request: Request
    ref: str
    action: str  # the event, as the access log names it
    inputs: dict[str, Any]  # what the request asked, for the idempotency fingerprint
    if_match: str | None = None
    idempotency_key: str | None = None


def answer_measure(app: App, actor: Actor, m: Measure) -> dict[str, Any]:
    """The usual answer to a command: the measure as the caller now sees it."""
    return measure_out(app, actor, m.code).model_dump(mode="json")


def run(c: Command, work: Callable[[App, int | None], Measure],
        answer: Callable[[App, Actor, Measure], dict[str, Any]] = answer_measure) -> JSONResponse:
    """Run `work(app, expected_version)` once for this request, however often it is retried with its key."""
    access.ensure_writer(c.app, c.actor, c.action, c.ref)
    expected = if_match(c.if_match)
    if c.idempotency_key is None:
        m = work(c.app, expected)
        return JSONResponse(answer(c.app, c.actor, m), headers=etag(m.version))
    print_ = idempotency.fingerprint({"inputs": c.inputs, "if_match": expected})
    got = idempotency.claim(c.app, c.actor.handle, c.idempotency_key, c.request.method, c.request.url.path, print_)
    if isinstance(got, idempotency.Stored):
        body = got.body if got.body is not None else measure_out(c.app, c.actor, c.ref).model_dump(mode="json")
        headers = {"Idempotent-Replayed": "true", **(etag(body["version"]) if "version" in body else {})}
        return JSONResponse(body, status_code=got.status, headers=headers)
    try:
        m = work(idempotency.keyed(c.app, got), expected)
    except BaseException:
        idempotency.release(c.app, got)
        raise
    body = answer(c.app, c.actor, m)
    idempotency.finish(c.app, got, 200, body)
    return JSONResponse(body, headers=etag(m.version))


def _safe_name(name: str, n: int) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")[:200]
    return base or f"file-{n}"


@contextmanager
def uploaded(files: list[UploadFile]) -> Iterator[tuple[list[Path], list[str]]]:
    """The uploads as files with their own names in a temporary folder, and their SHA-256s."""
    with tempfile.TemporaryDirectory(prefix="rectify-upload-") as folder:
        paths: list[Path] = []
        hashes: list[str] = []
        for n, f in enumerate(files, start=1):
            target = Path(folder) / str(n) / _safe_name(f.filename or "", n)
            target.parent.mkdir()
            digest, size = hashlib.sha256(), 0
            with target.open("wb") as out:
                while chunk := f.file.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise InvalidInput("files", f"{target.name}: larger than {MAX_UPLOAD // (1 << 20)} MB")
                    digest.update(chunk)
                    out.write(chunk)
            paths.append(target)
            hashes.append(digest.hexdigest())
        yield paths, hashes
