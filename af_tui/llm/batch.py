"""Providers' batch APIs: the same requests as `client.complete` sends, submitted as batches at half price.

How to use it (the run's rounds in experiment/batch_run.py; `judge --batch` the same way):

    client = batch_client(model, api_base)          # AfError naming the providers that have one, if none
    body = request_body(model, messages, temperature=1.0, max_tokens=4000, cache_prompt=True, seed=epoch)
    requests = [BatchRequest(custom_id("p12", "free", "e0", "t0"), body), ...]
    for chunk in split(requests, client.limits, batch_size=None):   # within the provider's limits
        state = await client.submit(model, chunk, job="run")         # record state.batch_id before waiting
    state = await client.status(state.batch_id)     # BatchState: .ended, .provider_status, .done, .failed
    for item in await client.results(state.batch_id):   # once ended: ItemResult per custom id answered
        item.reply                                  # a client.Completion (text, reasoning, tokens, blocked)
        item.error, item.retry                      # or why it failed, and whether sending it again may help
    await client.cancel(state.batch_id)

The store's side (recording a batch before waiting on it, collecting it in one transaction, resuming) is
store/batches.py; the run's rounds are experiment/batch_run.py, whose `apply_result` and `_BatchRun` show the
loop a judge would follow with job="judge".

`request_body` builds the provider's request with litellm's own transformation, so each batched request is the
one `client.complete` would send for the same messages (system prompt with cache_control, the `<` prefill,
max_tokens, temperature, reasoning options). OpenAI and OpenAI-compatible bases go through litellm's batch
functions (create_file, create_batch, retrieve_batch, file_content, cancel_batch); Anthropic through the
official `anthropic` SDK (an optional extra: litellm 1.106.2 only retrieves Anthropic batches); `sim/` models
answer in this process (their batches kept in a folder under the system's temporary directory, so that a
killed run still finds them).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from af_tui.errors import AfError
from af_tui.llm.client import (
    _DUMMY_KEY,
    _RETRY_STATUS,
    Completion,
    _load,
    _message_of,
    _needs_dummy_key,
    caches_when_asked,
    mark_system_cacheable,
    provider_of,
)
from af_tui.llm.reasoning import reasoning_params, split_think, with_thought

# The providers af-tui sends batches to, by the model's prefix, and how they are named in an error.
BATCH_PROVIDERS = {"openai": "openai/ (OpenAI, and OpenAI-compatible servers with --api-base)",
                   "anthropic": "anthropic/ (Message Batches)", "sim": "sim/ (simulated)"}


# The providers' words for a batch cancelled (by `af-tui batches --cancel`, or at the provider's console).
CANCELLED = frozenset({"cancelled", "cancelling", "canceled", "canceling"})


@dataclass(frozen=True)
class Limits:
    """What one batch may hold at a provider (its documented limits; af-tui splits below them)."""

    requests: int
    bytes: int


# OpenAI: 50,000 requests and a 200 MB input file per batch. Anthropic: 100,000 requests or 256 MB per batch.
LIMITS = {"openai": Limits(50_000, 200 * 1024 * 1024), "anthropic": Limits(100_000, 256 * 1024 * 1024),
          "sim": Limits(50_000, 200 * 1024 * 1024)}
# The byte limit keeps this much room for the file's framing (OpenAI's JSONL line around each body).
_BYTES_MARGIN = 0.98


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch: its custom id (unique within the batch) and the provider's request body."""

    custom_id: str
    body: dict

    def size(self) -> int:
        """Bytes this request adds to a batch (its JSONL line, OpenAI's framing included)."""
        return len(json.dumps(self.body, ensure_ascii=False).encode("utf-8")) + len(self.custom_id) + 96


@dataclass(frozen=True)
class BatchState:
    """A batch as the provider describes it now."""

    batch_id: str
    provider_status: str  # the provider's own word: in_progress, ended, completed, expired, …
    ended: bool  # its results can be read (every item answered, failed, expired or cancelled)
    total: int
    done: int
    failed: int


@dataclass(frozen=True)
class ItemResult:
    """One item of an ended batch: a reply, or an error and whether sending it again may help."""

    custom_id: str
    reply: Completion | None = None
    error: str | None = None
    retry: bool = True  # an expired or failed item: send it in the next round (False: the request is refused)
    status: int | None = None  # the item's HTTP status, when it failed
    cancelled: bool = False  # the batch was cancelled before this item was answered (Anthropic's 'canceled')


class BatchClient(Protocol):
    provider: str
    limits: Limits

    async def submit(self, model: str, requests: list[BatchRequest], *, job: str = "run") -> BatchState: ...

    async def status(self, batch_id: str) -> BatchState: ...

    async def results(self, batch_id: str) -> list[ItemResult]: ...

    async def cancel(self, batch_id: str) -> BatchState: ...


class BatchError(Exception):
    """A batch call failed (after a few tries); `fatal` when every further call would fail alike."""

    def __init__(self, message: str, *, fatal: bool = False):
        super().__init__(message)
        self.message = message
        self.fatal = fatal


# -- what is sent -------------------------------------------------------------------------------------------

_CUSTOM_ID_RE = re.compile(r"[^A-Za-z0-9_-]+")


def custom_id(*parts: object) -> str:
    """A custom id from parts (`p12-free-e0-t1`): letters, digits, _ and - only, at most 64 characters, as
    Anthropic requires (OpenAI takes any string)."""
    text = "-".join(_CUSTOM_ID_RE.sub("_", str(p)) for p in parts)
    if len(text) > 64:
        raise ValueError(f"custom id {text!r} is longer than 64 characters")
    return text


def batch_provider(model: str) -> str | None:
    """The batch API that serves `model` (openai, anthropic, sim), or None when af-tui has none for it."""
    provider = provider_of(model)
    return provider if provider in BATCH_PROVIDERS else None


def check_batchable(model: str) -> str:
    """The model's batch provider, or a one-line AfError naming the providers that have a batch API."""
    provider = batch_provider(model)
    if provider is None:
        raise AfError(f"{model} has no batch API in af-tui; --batch works with "
                      + ", ".join(BATCH_PROVIDERS.values()) + "; run this model without --batch")
    if provider == "anthropic":
        try:
            import anthropic  # noqa: F401
        except ImportError:
            raise AfError("--batch with anthropic/ models needs the anthropic SDK: pip install 'af-tui[anthropic]'"
                          " (or pip install anthropic)") from None
    return provider


def request_body(model: str, messages: list[dict], *, temperature: float = 1.0, max_tokens: int = 4000,
                 cache_prompt: bool = False, reasoning_effort: str | None = None,
                 thinking_budget: int | None = None, seed: int | None = None) -> dict:
    """The request `client.complete` would send for these arguments, as the provider's batch takes it: an
    OpenAI chat-completions body (`model` without its prefix), Anthropic's Messages params (system blocks,
    content blocks, the prefill as the last assistant message), or for sim/ the messages and the seed."""
    provider = check_batchable(model)
    if cache_prompt and caches_when_asked(model):
        messages = mark_system_cacheable(messages)
    if provider == "sim":
        body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
        if seed is not None:
            body["metadata"] = {"af_tui_seed": seed}
        return body
    litellm = _load()
    name = model.split("/", 1)[1]
    extra = reasoning_params(reasoning_effort, thinking_budget)
    optional = litellm.get_optional_params(model=name, custom_llm_provider=provider, temperature=temperature,
                                           max_tokens=max_tokens, **extra)
    if provider == "anthropic":
        from litellm.llms.anthropic.chat.transformation import AnthropicConfig

        return AnthropicConfig().transform_request(model=name, messages=[dict(m) for m in messages],
                                                   optional_params=dict(optional), litellm_params={}, headers={})
    optional.pop("stream", None)  # litellm adds stream=False and an empty extra_body; neither is sent
    if not optional.get("extra_body"):
        optional.pop("extra_body", None)
    return {"messages": messages, "model": name, **optional}


def split(requests: list[BatchRequest], limits: Limits, batch_size: int | None = None) -> list[list[BatchRequest]]:
    """The requests in batches of at most `batch_size` (and the provider's limit) requests and within its
    byte limit, in order. One request larger than the byte limit is a batch of its own (the provider refuses it
    and its items are reported as failed)."""
    most = min(limits.requests, batch_size or limits.requests)
    room = int(limits.bytes * _BYTES_MARGIN)
    out: list[list[BatchRequest]] = []
    chunk: list[BatchRequest] = []
    size = 0
    for request in requests:
        n = request.size()
        if chunk and (len(chunk) >= most or size + n > room):
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(request)
        size += n
    if chunk:
        out.append(chunk)
    return out


def batch_bytes(requests: list[BatchRequest]) -> int:
    return sum(r.size() for r in requests)


# -- what comes back ----------------------------------------------------------------------------------------

def _tokens(value) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def chat_completion(body: dict, latency_s: float = 0.0) -> Completion:
    """A Completion from an OpenAI chat-completion body (one line of a batch's output file)."""
    choices = body.get("choices") or []
    if not choices:
        raise ValueError("the provider returned no choices")
    message = choices[0].get("message") or {}
    text, thought = split_think(message.get("content") or "")
    reasoning = message.get("reasoning_content")
    reasoning = reasoning.strip() if isinstance(reasoning, str) and reasoning.strip() else None
    reasoning = with_thought(reasoning, thought)
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return Completion(
        text=text, reasoning=reasoning, input_tokens=_tokens(usage.get("prompt_tokens")),
        output_tokens=_tokens(usage.get("completion_tokens")), cost=None, latency_s=latency_s, attempts=1,
        cache_read_tokens=_tokens(details.get("cached_tokens")) if isinstance(details, dict) else None,
        blocked="finish_reason content_filter" if choices[0].get("finish_reason") == "content_filter" else None)


def anthropic_message(message: dict, latency_s: float = 0.0) -> Completion:
    """A Completion from an Anthropic Messages reply (a succeeded batch result), counted as litellm counts an
    interactive one: input tokens include the cache's reads and writes."""
    blocks = message.get("content") or []
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    thinking = "\n\n".join(b.get("thinking", "") for b in blocks if b.get("type") == "thinking"
                           and (b.get("thinking") or "").strip())
    text, thought = split_think(text)
    reasoning = thinking.strip() or None
    reasoning = with_thought(reasoning, thought)
    usage = message.get("usage") or {}
    read, write = _tokens(usage.get("cache_read_input_tokens")), _tokens(usage.get("cache_creation_input_tokens"))
    inp = _tokens(usage.get("input_tokens"))
    if inp is not None:
        inp += (read or 0) + (write or 0)
    return Completion(
        text=text, reasoning=reasoning, input_tokens=inp, output_tokens=_tokens(usage.get("output_tokens")),
        cost=None, latency_s=latency_s, attempts=1, cache_read_tokens=read, cache_write_tokens=write,
        blocked="stop_reason refusal" if message.get("stop_reason") == "refusal" else None)


def _retryable_status(status: int | None) -> bool:
    """An item's HTTP status worth sending again: the interactive client's (client._RETRY_STATUS, any 5xx), or
    none given."""
    return status is None or status in _RETRY_STATUS or status >= 500


async def _tries(call, what: str, attempts: int = 4, base_delay_s: float = 1.0):
    """`await call()` with a few tries on transport trouble; BatchError after the last (fatal for 401-404)."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except BatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified here
            status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
            status = status if isinstance(status, int) else None
            if status in (400, 401, 402, 403, 404, 413, 422) or attempt == attempts:
                raise BatchError(f"{what}: {_message_of(exc)}", fatal=status in (401, 402, 403)) from None
            await asyncio.sleep(random.uniform(0, base_delay_s * 2 ** (attempt - 1)))


# -- OpenAI and OpenAI-compatible, through litellm ------------------------------------------------------------

_OPENAI_ENDED = {"completed", "failed", "expired", "cancelled"}


class OpenAIBatches:
    """OpenAI's Batch API (a JSONL file of chat-completion requests) through litellm's batch functions; with
    `api_base` any OpenAI-compatible server that has /v1/files and /v1/batches."""

    provider = "openai"
    limits = LIMITS["openai"]

    def __init__(self, api_base: str | None = None, model: str = "openai/x"):
        self.api_base = api_base
        self._kw: dict = {"custom_llm_provider": "openai"}
        if api_base:
            self._kw["api_base"] = api_base
        if _needs_dummy_key(model, api_base):
            self._kw["api_key"] = _DUMMY_KEY

    def _state(self, batch) -> BatchState:
        counts = getattr(batch, "request_counts", None)
        status = str(getattr(batch, "status", "") or "")
        return BatchState(batch.id, status, status in _OPENAI_ENDED, int(getattr(counts, "total", 0) or 0),
                          int(getattr(counts, "completed", 0) or 0), int(getattr(counts, "failed", 0) or 0))

    async def submit(self, model: str, requests: list[BatchRequest], *, job: str = "run") -> BatchState:
        litellm = _load()
        # written line by line into one buffer (a str joined and then encoded held the file twice)
        data = io.BytesIO()
        for r in requests:
            data.write(json.dumps({"custom_id": r.custom_id, "method": "POST", "url": "/v1/chat/completions",
                                   "body": r.body}, ensure_ascii=False).encode("utf-8") + b"\n")

        def upload():
            data.seek(0)
            return litellm.acreate_file(file=("af-tui-batch.jsonl", data), purpose="batch", **self._kw)

        file = await _tries(upload, f"{model}: uploading a batch file")
        batch = await _tries(lambda: litellm.acreate_batch(
            completion_window="24h", endpoint="/v1/chat/completions", input_file_id=file.id,
            metadata={"af_tui": job}, **self._kw), f"{model}: creating a batch")
        return self._state(batch)

    async def status(self, batch_id: str) -> BatchState:
        litellm = _load()
        batch = await _tries(lambda: litellm.aretrieve_batch(batch_id=batch_id, **self._kw),
                             f"retrieving batch {batch_id}")
        return self._state(batch)

    async def _file(self, file_id: str) -> list[dict]:
        litellm = _load()
        content = await _tries(lambda: litellm.afile_content(file_id=file_id, **self._kw),
                               f"reading batch file {file_id}")
        raw = content.content if hasattr(content, "content") else content
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    async def results(self, batch_id: str) -> list[ItemResult]:
        litellm = _load()
        batch = await _tries(lambda: litellm.aretrieve_batch(batch_id=batch_id, **self._kw),
                             f"retrieving batch {batch_id}")
        ended_at = time.time()
        latency = max(0.0, ended_at - float(getattr(batch, "created_at", ended_at) or ended_at))
        out = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for line in await self._file(file_id):
                out.append(_openai_item(line, latency))
        return out

    async def cancel(self, batch_id: str) -> BatchState:
        litellm = _load()
        batch = await _tries(lambda: litellm.acancel_batch(batch_id=batch_id, **self._kw),
                             f"cancelling batch {batch_id}")
        return self._state(batch)


def _openai_item(line: dict, latency_s: float) -> ItemResult:
    custom = str(line.get("custom_id"))
    response = line.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if line.get("error") or status != 200:
        error = line.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        if code == "content_policy_violation":  # a refusal by the provider, as the interactive path reads it
            return ItemResult(custom, Completion(text="", input_tokens=None, output_tokens=None, cost=None,
                                                 latency_s=latency_s, attempts=1,
                                                 blocked=f"content policy ({str(message)[:300]})"))
        status = status if isinstance(status, int) else None
        return ItemResult(custom, error=f"batch item failed ({status or 'no status'}): {message or 'no message'}",
                          retry=_retryable_status(status), status=status)
    try:
        return ItemResult(custom, chat_completion(body, latency_s))
    except (ValueError, AttributeError, TypeError) as exc:
        return ItemResult(custom, error=f"batch item unreadable: {exc}")


# -- Anthropic Message Batches, through the official SDK -----------------------------------------------------

class AnthropicBatches:
    """Anthropic's Message Batches through the `anthropic` SDK (`base_url` = the --api-base for tests)."""

    provider = "anthropic"
    limits = LIMITS["anthropic"]

    def __init__(self, api_base: str | None = None):
        import anthropic

        kw: dict = {"max_retries": 0}
        if api_base:
            kw["base_url"] = api_base
        if api_base and not os.environ.get("ANTHROPIC_API_KEY"):
            kw["api_key"] = _DUMMY_KEY  # a local server needs none
        self._sdk = anthropic.AsyncAnthropic(**kw)

    @staticmethod
    def _state(batch) -> BatchState:
        c = batch.request_counts
        total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
        return BatchState(batch.id, batch.processing_status, batch.processing_status == "ended", total,
                          c.succeeded, c.errored + c.canceled + c.expired)

    async def submit(self, model: str, requests: list[BatchRequest], *, job: str = "run") -> BatchState:
        batch = await _tries(lambda: self._sdk.messages.batches.create(
            requests=[{"custom_id": r.custom_id, "params": r.body} for r in requests]), f"{model}: creating a batch")
        return self._state(batch)

    async def status(self, batch_id: str) -> BatchState:
        batch = await _tries(lambda: self._sdk.messages.batches.retrieve(batch_id), f"retrieving batch {batch_id}")
        return self._state(batch)

    async def results(self, batch_id: str) -> list[ItemResult]:
        batch = await _tries(lambda: self._sdk.messages.batches.retrieve(batch_id), f"retrieving batch {batch_id}")
        latency = max(0.0, (batch.ended_at or batch.created_at).timestamp() - batch.created_at.timestamp()) \
            if batch.created_at else 0.0

        async def read() -> list[ItemResult]:
            out = []
            async for entry in await self._sdk.messages.batches.results(batch_id):
                out.append(_anthropic_item(entry.custom_id, entry.result.model_dump(mode="json"), latency))
            return out

        return await _tries(read, f"reading the results of batch {batch_id}")

    async def cancel(self, batch_id: str) -> BatchState:
        batch = await _tries(lambda: self._sdk.messages.batches.cancel(batch_id), f"cancelling batch {batch_id}")
        return self._state(batch)


def _anthropic_item(custom: str, result: dict, latency_s: float) -> ItemResult:
    kind = result.get("type")
    if kind == "succeeded":
        return ItemResult(custom, anthropic_message(result.get("message") or {}, latency_s))
    if kind == "errored":
        error = (result.get("error") or {}).get("error") or result.get("error") or {}
        etype = error.get("type") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else str(error)
        # an invalid request fails alike when sent again; anything else (overloaded, api_error) may pass
        return ItemResult(custom, error=f"batch item errored ({etype or 'error'}): {message or 'no message'}",
                          retry=etype != "invalid_request_error", status=400 if etype == "invalid_request_error"
                          else None)
    if kind == "canceled":  # a cancelled batch ends 'ended', its unanswered items 'canceled': the batch cancelled
        return ItemResult(custom, error="batch item canceled", cancelled=True)
    return ItemResult(custom, error=f"batch item {kind or 'lost'}")  # expired


# -- sim/: simulated batches, answered in this process ----------------------------------------------------------

def _sim_dir() -> Path:
    path = Path(os.environ.get("AF_TUI_SIM_BATCH_DIR") or Path(tempfile.gettempdir()) / "af-tui-sim-batches")
    path.mkdir(parents=True, exist_ok=True)
    return path


class SimBatches:
    """Batches for `sim/` models: answered at submission by the simulated behaviours (deterministic in the
    request, tier, turn and epoch, as interactively), kept as a JSON file, ended `latency` seconds later
    (the model's @latency=… or AF_TUI_SIM_BATCH_LATENCY, default 0); `fail` (@fail=0.1) fails that share of
    items."""

    provider = "sim"
    limits = LIMITS["sim"]

    def _path(self, batch_id: str) -> Path:
        if not re.fullmatch(r"simbatch_[0-9a-f]{32}", batch_id):
            raise BatchError(f"no simulated batch {batch_id}", fatal=True)
        return _sim_dir() / f"{batch_id}.json"

    def _read(self, batch_id: str) -> dict:
        try:
            return json.loads(self._path(batch_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BatchError(f"no simulated batch {batch_id} (its file under {_sim_dir()} is gone)") from None

    def _state(self, data: dict) -> BatchState:
        ended = data["status"] == "cancelled" or time.time() >= data["ends_at"]
        failed = sum(1 for r in data["results"] if r.get("error"))
        status = data["status"] if data["status"] == "cancelled" else ("ended" if ended else "in_progress")
        return BatchState(data["id"], status, ended, len(data["results"]),
                          len(data["results"]) - failed if ended else 0, failed if ended else 0)

    async def submit(self, model: str, requests: list[BatchRequest], *, job: str = "run") -> BatchState:
        from af_tui.llm import simulated

        _, options = simulated.split_name(model)
        latency = simulated._option(options, "latency", "AF_TUI_SIM_BATCH_LATENCY", 0.0)
        fail = simulated._option(options, "fail", "AF_TUI_SIM_FAIL_RATE", 0.0)
        results = []
        for r in requests:
            if fail and random.random() < fail:
                results.append({"custom_id": r.custom_id, "error": "[simulated] injected batch item failure"})
                continue
            messages = r.body["messages"]
            text = simulated.reply(model, messages, seed=int((r.body.get("metadata") or {}).get("af_tui_seed") or 0))
            prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
            results.append({"custom_id": r.custom_id, "text": text, "input_tokens": prompt,
                            "output_tokens": len(text) // 4})
        now = time.time()
        data = {"id": f"simbatch_{uuid.uuid4().hex}", "model": model, "status": "in_progress", "created_at": now,
                "ends_at": now + latency, "results": results}
        path = self._path(data["id"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
        return self._state(data)

    async def status(self, batch_id: str) -> BatchState:
        return self._state(self._read(batch_id))

    async def results(self, batch_id: str) -> list[ItemResult]:
        data = self._read(batch_id)
        latency = max(0.0, min(time.time(), data["ends_at"]) - data["created_at"])
        if data["status"] == "cancelled":
            return [ItemResult(r["custom_id"], error="batch item cancelled", cancelled=True) for r in data["results"]]
        return [ItemResult(r["custom_id"], error=r["error"]) if r.get("error") else ItemResult(
            r["custom_id"], Completion(text=r["text"], input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
                                       cost=None, latency_s=latency, attempts=1)) for r in data["results"]]

    async def cancel(self, batch_id: str) -> BatchState:
        data = self._read(batch_id)
        if time.time() < data["ends_at"]:
            data["status"] = "cancelled"
            self._path(batch_id).write_text(json.dumps(data), encoding="utf-8")
        return self._state(data)

    def forget(self, batch_id: str) -> None:
        """Delete a collected simulated batch's file."""
        self._path(batch_id).unlink(missing_ok=True)


async def poll_until_finished(session, stop: asyncio.Event, poll_s: float) -> None:
    """Ask a batch session (`run --batch`'s or `judge --batch`'s: its `finished` and `poll()`) for news every poll_s
    seconds until it has finished; `stop` (a signal, the app) ends the wait at once, without a last poll."""
    while not session.finished and not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
        if stop.is_set():
            return
        await session.poll()


def batch_client(model: str, api_base: str | None = None) -> BatchClient:
    """The batch client for `model` (sent to `api_base` when given), or a one-line AfError when af-tui has no
    batch API for its provider."""
    provider = check_batchable(model)
    if provider == "sim":
        return SimBatches()
    if provider == "anthropic":
        return AnthropicBatches(api_base)
    return OpenAIBatches(api_base, model)
