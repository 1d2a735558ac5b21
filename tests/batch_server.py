"""A fake batch endpoint on 127.0.0.1 for tests and benchmarks: OpenAI's files + batches and Anthropic's
Message Batches, on top of tests/fakeserver.py's chat server (no model, no internet).

    with BatchServer() as server:        # server.url (…/v1) for openai/NAME, server.base for anthropic/NAME
        ...                              # or the pytest fixture `batch_server`
    server.batch_requests                # (batch id, custom_id, body) of every request every batch carried
    server.requests                      # requests outside a batch (the interactive endpoints): should stay 0

OpenAI shapes: POST /v1/files (multipart, purpose=batch), POST /v1/batches, GET /v1/batches/{id},
POST /v1/batches/{id}/cancel, GET /v1/files/{id}/content (JSONL: one `{"id", "custom_id", "response":
{"status_code", "request_id", "body"}, "error"}` a line; failed items go to the batch's error_file_id with a
4xx/5xx status_code). Anthropic shapes: POST /v1/messages/batches ({"requests": [{"custom_id", "params"}]}),
GET /v1/messages/batches/{id}, GET /v1/messages/batches/{id}/results (JSONL of `{"custom_id", "result":
{"type": "succeeded", "message"} | {"type": "errored", "error"} | {"type": "expired"}}`),
POST /v1/messages/batches/{id}/cancel.

Replies come from the chat server's `script` (default af_script: the free tier needs a <NEXT/> turn), so a run
against it takes the notebook's rounds. Knobs, each settable on a running server:
- `hold`: True keeps every batch in progress (or a function batch -> bool); set it False and the next
  retrieve ends them.
- `fail_item(custom_id, body) -> None | "error" | "expired" | (status, message)`: items that fail (into the
  error file / errored; a tuple gives the HTTP status and the provider's message: 400 is Anthropic's
  invalid_request_error) or expire (OpenAI: the batch ends "expired" with those items unanswered; Anthropic:
  result "expired").
- `fail_batch(batch) -> bool`: the whole batch ends "failed" (OpenAI) before any item runs.
A batch ends (its replies are computed) at the first retrieve after it is released; `server.retrieves` counts
the polls.

Run it alone for benchmarks or by hand:  python tests/batch_server.py --port 8766
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from fakeserver import FakeServer, af_script, serve_until_interrupted, single_turn_script


@dataclass
class FakeBatch:
    """One batch as the server holds it."""

    id: str
    kind: str  # openai | anthropic
    requests: list[tuple[str, dict]]  # (custom_id, body) in order
    created_at: int
    endpoint: str = "/v1/chat/completions"
    input_file_id: str | None = None
    metadata: dict | None = None
    status: str = "in_progress"  # OpenAI's words: in_progress | completed | failed | expired | cancelled
    output_file_id: str | None = None
    error_file_id: str | None = None
    results: list[dict] = field(default_factory=list)  # Anthropic's result lines
    completed: int = 0
    failed: int = 0
    expired: int = 0
    canceled: int = 0
    ended_at: int | None = None


class BatchServer(FakeServer):
    """FakeServer plus the batch endpoints; every batched request is recorded with its batch and custom id."""

    def __init__(self, script: Callable = af_script, *, hold: bool | Callable = False,
                 fail_item: Callable[[str, dict], str | None] | None = None,
                 fail_batch: Callable[[FakeBatch], bool] | None = None, record_batches: bool = True,
                 answered_before_cancel: int = 0, **kw):
        super().__init__(script, **kw)
        self.hold = hold
        self.answered_before_cancel = answered_before_cancel  # an Anthropic cancel: the first N items succeeded
        self.fail_item = fail_item
        self.fail_batch = fail_batch
        self.record_batches = record_batches
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, bytes] = {}
        self.batch_requests: list[tuple[str, str, dict]] = []  # (batch id, custom_id, body)
        self.batch_request_count = 0  # counted even when record_batches is False
        self.retrieves = 0
        self.cancels: list[str] = []
        self._ids = itertools.count(1)
        self._batch_lock = threading.Lock()

    # -- what tests read -----------------------------------------------------------------------------------
    def custom_ids(self) -> list[str]:
        return [c for _, c, _ in self.batch_requests]

    def bodies_by_custom_id(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for _, custom_id, body in self.batch_requests:
            out.setdefault(custom_id, []).append(body)
        return out

    def pending(self) -> list[FakeBatch]:
        return [b for b in self.batches.values() if b.status == "in_progress"]

    # -- batch bookkeeping -----------------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def _accept(self, batch: FakeBatch) -> None:
        with self._batch_lock:
            self.batches[batch.id] = batch
            self.batch_request_count += len(batch.requests)
            if self.record_batches:
                self.batch_requests.extend((batch.id, c, b) for c, b in batch.requests)

    def _held(self, batch: FakeBatch) -> bool:
        return bool(self.hold(batch) if callable(self.hold) else self.hold)

    def _finish(self, batch: FakeBatch) -> None:
        """Answer every request of a released batch (once)."""
        if batch.status != "in_progress" or self._held(batch):
            return
        now = int(time.time())
        if self.fail_batch is not None and self.fail_batch(batch):
            batch.status, batch.ended_at = "failed", now
            return
        out_lines, err_lines = [], []
        for n, (custom_id, body) in enumerate(batch.requests):
            fault = self.fail_item(custom_id, body) if self.fail_item else None
            if batch.kind == "anthropic":
                if fault == "expired":
                    batch.expired += 1
                    batch.results.append({"custom_id": custom_id, "result": {"type": "expired"}})
                elif fault:
                    batch.failed += 1
                    status, message = fault if isinstance(fault, tuple) else (500, "fake batch: injected failure")
                    kind = "invalid_request_error" if status == 400 else "api_error"
                    batch.results.append({"custom_id": custom_id, "result": {"type": "errored", "error": {
                        "type": "error", "error": {"type": kind, "message": message}}}})
                else:
                    batch.completed += 1
                    batch.results.append({"custom_id": custom_id, "result": {
                        "type": "succeeded", "message": self.anthropic_reply(body, n)}})
                continue
            if fault == "expired":
                batch.expired += 1  # left unanswered: the batch ends "expired"
                continue
            line = {"id": f"batch_req_{batch.id}_{n}", "custom_id": custom_id, "error": None}
            if fault:
                batch.failed += 1
                status, message = fault if isinstance(fault, tuple) else (500, "fake batch: injected failure")
                line["response"] = {"status_code": status, "request_id": f"req_{n}", "body": {"error": {
                    "message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
                    "code": None}}}
                err_lines.append(line)
            else:
                batch.completed += 1
                line["response"] = {"status_code": 200, "request_id": f"req_{n}", "body": self.chat_reply(body, n)}
                out_lines.append(line)
        batch.ended_at = now
        if batch.kind == "openai":
            batch.status = "expired" if batch.expired else "completed"
            if out_lines:
                batch.output_file_id = self._new_id("file-out-")
                self.files[batch.output_file_id] = _jsonl(out_lines)
            if err_lines:
                batch.error_file_id = self._new_id("file-err-")
                self.files[batch.error_file_id] = _jsonl(err_lines)
        else:
            batch.status = "completed"

    # -- OpenAI ---------------------------------------------------------------------------------------------
    def _openai_json(self, batch: FakeBatch) -> dict:
        return {
            "id": batch.id, "object": "batch", "endpoint": batch.endpoint, "errors": None,
            "input_file_id": batch.input_file_id, "completion_window": "24h", "status": batch.status,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
            "created_at": batch.created_at, "in_progress_at": batch.created_at,
            "expires_at": batch.created_at + 86400, "finalizing_at": None,
            "completed_at": batch.ended_at if batch.status == "completed" else None,
            "failed_at": batch.ended_at if batch.status == "failed" else None,
            "expired_at": batch.ended_at if batch.status == "expired" else None,
            "cancelling_at": None, "cancelled_at": batch.ended_at if batch.status == "cancelled" else None,
            "request_counts": {"total": len(batch.requests), "completed": batch.completed,
                               "failed": batch.failed + batch.expired},
            "metadata": batch.metadata,
        }

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        data = upload.file.read() if hasattr(upload, "file") else str(upload or "").encode()
        file_id = self._new_id("file-")
        self.files[file_id] = data
        return web.json_response({"id": file_id, "object": "file", "bytes": len(data),
                                  "created_at": int(time.time()), "filename": getattr(upload, "filename", "batch.jsonl"),
                                  "purpose": form.get("purpose", "batch"), "status": "processed"})

    async def _create_openai(self, request: web.Request) -> web.Response:
        body = await request.json()
        data = self.files.get(body.get("input_file_id", ""))
        if data is None:
            return web.json_response({"error": {"message": "no such file", "type": "invalid_request_error"}},
                                     status=404)
        requests = []
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                requests.append((item["custom_id"], item["body"]))
        batch = FakeBatch(self._new_id("batch_"), "openai", requests, int(time.time()),
                          endpoint=body.get("endpoint", "/v1/chat/completions"),
                          input_file_id=body["input_file_id"], metadata=body.get("metadata"))
        self._accept(batch)
        return web.json_response(self._openai_json(batch))

    async def _retrieve_openai(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.kind != "openai":
            return web.json_response({"error": {"message": "no such batch", "type": "invalid_request_error"}},
                                     status=404)
        self.retrieves += 1
        self._finish(batch)
        return web.json_response(self._openai_json(batch))

    async def _cancel_openai(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        self.cancels.append(batch.id)
        if batch.status == "in_progress":
            batch.status, batch.ended_at = "cancelled", int(time.time())
        return web.json_response(self._openai_json(batch))

    async def _content(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["id"])
        if data is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    # -- Anthropic --------------------------------------------------------------------------------------------
    def _anthropic_json(self, batch: FakeBatch) -> dict:
        ended = batch.status != "in_progress"
        iso = lambda t: None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        return {
            "id": batch.id, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
            "request_counts": {"processing": 0 if ended else len(batch.requests), "succeeded": batch.completed,
                               "errored": batch.failed, "canceled": batch.canceled, "expired": batch.expired},
            "ended_at": iso(batch.ended_at), "created_at": iso(batch.created_at),
            "expires_at": iso(batch.created_at + 86400), "archived_at": None,
            "cancel_initiated_at": iso(batch.ended_at) if batch.status == "cancelled" else None,
            "results_url": f"{self.base}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    async def _create_anthropic(self, request: web.Request) -> web.Response:
        body = await request.json()
        requests = [(r["custom_id"], r["params"]) for r in body.get("requests", [])]
        batch = FakeBatch(self._new_id("msgbatch_"), "anthropic", requests, int(time.time()))
        self._accept(batch)
        return web.json_response(self._anthropic_json(batch))

    async def _retrieve_anthropic(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.kind != "anthropic":
            return web.json_response({"type": "error", "error": {"type": "not_found_error", "message": "no batch"}},
                                     status=404)
        self.retrieves += 1
        self._finish(batch)
        return web.json_response(self._anthropic_json(batch))

    async def _results_anthropic(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.status == "in_progress":
            return web.json_response({"type": "error", "error": {"type": "not_found_error",
                                                                 "message": "results not ready"}}, status=404)
        return web.Response(body=_jsonl(batch.results), content_type="application/binary")

    async def _cancel_anthropic(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return web.json_response({"type": "error", "error": {"type": "not_found_error"}}, status=404)
        self.cancels.append(batch.id)
        if batch.status == "in_progress":
            batch.status, batch.ended_at = "cancelled", int(time.time())
            # as the real API: processing_status 'ended', the items answered before the cancel 'succeeded', the
            # rest 'canceled'
            answered = min(self.answered_before_cancel, len(batch.requests))
            batch.completed, batch.canceled = answered, len(batch.requests) - answered
            batch.results = [{"custom_id": c, "result": {"type": "succeeded", "message": self.anthropic_reply(b, n)}}
                             if n < answered else {"custom_id": c, "result": {"type": "canceled"}}
                             for n, (c, b) in enumerate(batch.requests)]
        return web.json_response(self._anthropic_json(batch))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_post("/v1/batches", self._create_openai)
        app.router.add_get("/v1/batches/{id}", self._retrieve_openai)
        app.router.add_post("/v1/batches/{id}/cancel", self._cancel_openai)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/messages/batches", self._create_anthropic)
        app.router.add_get("/v1/messages/batches/{id}", self._retrieve_anthropic)
        app.router.add_get("/v1/messages/batches/{id}/results", self._results_anthropic)
        app.router.add_post("/v1/messages/batches/{id}/cancel", self._cancel_anthropic)


def _jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")


try:  # as a pytest fixture: `from batch_server import batch_server` in a test module
    import pytest

    @pytest.fixture
    def batch_server():
        """A BatchServer with af_script, batches released at once; set its knobs in the test."""
        with BatchServer() as server:
            yield server
except ImportError:  # run as a script without pytest installed
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake batch endpoint (OpenAI files/batches, Anthropic "
                                                 "message batches) on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--script", choices=["af", "single"], default="af")
    args = parser.parse_args()
    server = BatchServer(single_turn_script if args.script == "single" else af_script, port=args.port,
                         record=False, record_batches=False)
    serve_until_interrupted(server, f"fake batch server on {server.url} (anthropic: {server.base})")


if __name__ == "__main__":
    main()
