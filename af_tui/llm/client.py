"""Calling models: the one module that imports litellm (lazily), with af-tui's own retry policy.

`await complete(model, messages, api_base=..., policy=RetryPolicy())` returns a `Completion` (text, the
provider's reasoning apart from the text, tokens, cost, latency, attempts) or raises `ProviderError` after
the last attempt (`FatalProviderError` for failures that every call would hit: a bad key, an unknown model).
`check_model(model, api_base)` turns a missing key or an unknown provider into a one-line `AfError` before any
sample is sent, and `check_reachable(api_base)` a closed port or an unknown host. The runner and the judge
both call these; nothing else in af-tui imports litellm.

Retries are ours alone: litellm's `num_retries` and the OpenAI SDK's `max_retries` are both 0 (they stack
otherwise: one default call was seen hitting a failing server three times), so `attempts` counts requests.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from af_tui.errors import AfError
from af_tui.llm.executor import adopt_running_loop
from af_tui.llm.limits import Throttle
from af_tui.llm.reasoning import reasoning_of, reasoning_params, split_think, with_thought

if TYPE_CHECKING:
    from af_tui.llm.pricing import Price

# Keys for which af-tui passes a dummy value when --api-base points at a local server that needs none.
_DUMMY_KEY = "sk-af-tui-local-no-key"
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
_FATAL_STATUS = {401, 402, 403, 404}

_litellm = None


def _load():
    """Import and configure litellm once: offline cost map, quiet, no per-call logging callbacks, sim/."""
    global _litellm
    if _litellm is not None:
        return _litellm
    # Without this, importing litellm tries to download its price list (5 s timeout) and prints warnings.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.suppress_debug_info = True  # else it prints help text to stdout on every error
    litellm.telemetry = False
    litellm.drop_params = False
    litellm.num_retries = 0
    lean = os.environ.get("AF_TUI_LITELLM_LEAN", "1") != "0"  # 0: litellm's own ways, for comparison
    # Redaction would deep-copy every request for loggers af-tui never registers (its cost: bench/README.md).
    litellm.turn_off_message_logging = not lean
    if lean:
        _lean(litellm)
    from af_tui.llm import simulated

    litellm.custom_provider_map = [
        *[p for p in (litellm.custom_provider_map or []) if p.get("provider") != "sim"],
        {"provider": "sim", "custom_handler": simulated.provider()},
    ]
    _litellm = litellm
    return litellm


def _lean(litellm) -> None:
    """Cut litellm's per-call CPU that af-tui has no use for (measured in bench/README.md). Both patches are
    guarded: if litellm's internals move, they are skipped and litellm works as shipped."""
    try:
        from litellm.litellm_core_utils import litellm_logging, logging_worker
    except ImportError:
        return
    worker = getattr(logging_worker, "GLOBAL_LOGGING_WORKER", None)
    enqueue = getattr(worker, "ensure_initialized_and_enqueue", None)
    if enqueue is not None and not getattr(enqueue, "_af_tui", False):
        def ensure_initialized_and_enqueue(async_coroutine):
            # The success-logging task only feeds callbacks; with none registered it is pure overhead.
            if litellm.callbacks or litellm.success_callback or litellm._async_success_callback or \
                    litellm.failure_callback or litellm._async_failure_callback:
                return enqueue(async_coroutine)
            async_coroutine.close()

        ensure_initialized_and_enqueue._af_tui = True
        worker.ensure_initialized_and_enqueue = ensure_initialized_and_enqueue
    logging_cls = getattr(litellm_logging, "Logging", None)
    calc = getattr(logging_cls, "response_cost_calculator", None)
    if calc is not None and not getattr(calc, "_af_tui", False):
        unpriced: set[str] = set()

        def response_cost_calculator(self, result, cache_hit=None, litellm_model_name=None, router_model_id=None):
            # A model litellm cannot price (a local server's) costs a slow failed lookup on every call:
            # remember it after the first miss.
            key = f"{self.model_call_details.get('custom_llm_provider')}/{litellm_model_name or self.model}"
            if key in unpriced:
                return None
            cost = calc(self, result, cache_hit=cache_hit, litellm_model_name=litellm_model_name,
                        router_model_id=router_model_id)
            if cost is None:
                unpriced.add(key)
            return cost

        response_cost_calculator._af_tui = True
        logging_cls.response_cost_calculator = response_cost_calculator


def provider_of(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else ""


def caches_when_asked(model: str) -> bool:
    """Providers that cache a repeated prefix only when the request marks it (Anthropic's cache_control);
    OpenAI, DeepSeek and Gemini cache long prefixes on their own."""
    return provider_of(model) == "anthropic"


def mark_system_cacheable(messages: list[dict]) -> list[dict]:
    """The messages with the system prompt as a text block marked `cache_control: ephemeral` (a new list;
    litellm passes the block on to Anthropic's `system`)."""
    out = []
    for m in messages:
        if m.get("role") == "system" and isinstance(m.get("content"), str):
            m = {**m, "content": [{"type": "text", "text": m["content"], "cache_control": {"type": "ephemeral"}}]}
        out.append(m)
    return out


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter on 429/5xx/timeouts/connection errors."""

    attempts: int = 6  # requests in all, the first included
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    timeout_s: float = 600.0  # per request

    def delay(self, attempt: int) -> float:
        """Sleep before retry number `attempt` (1 = the first retry)."""
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


@dataclass
class Completion:
    text: str
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    latency_s: float  # of the successful request
    attempts: int
    cache_read_tokens: int | None = None  # input tokens served from the provider's prompt cache
    cache_write_tokens: int | None = None  # input tokens written to it
    reasoning: str | None = None  # the provider's reasoning channel, apart from the text (None: none given)
    blocked: str | None = None  # why the provider refused to answer (content filter / policy 400), else None


class ProviderError(Exception):
    """The provider failed after our retries (or at once, for a request it will never accept)."""

    def __init__(self, message: str, *, attempts: int, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.status = status


class FatalProviderError(ProviderError):
    """A failure every further call would repeat (bad key, no such model): stop the run, don't store rows."""


def _needs_dummy_key(model: str, api_base: str | None) -> bool:
    return bool(api_base) and model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY")


def check_model(model: str, api_base: str | None = None) -> None:
    """One-line AfError when `model` cannot work: unknown provider, or its key missing from the environment."""
    if model.startswith("sim/"):
        from af_tui.llm.simulated import BEHAVIOURS, split_name

        name = split_name(model)[0]
        if name not in BEHAVIOURS and not name.startswith("judge"):
            raise AfError(f"unknown simulated model {model!r}; known: "
                          + ", ".join(f"sim/{b}" for b in BEHAVIOURS) + ", sim/judge*")
        return
    if _needs_dummy_key(model, api_base):
        return  # nothing to check without importing litellm (seconds): sim/ and keyless local servers
    litellm = _load()
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=model, api_base=api_base)
    except Exception:
        raise AfError(
            f"unknown model {model!r}: write it as provider/name (e.g. openai/gpt-4o, anthropic/claude-3-5-sonnet"
            "-20241022), or openai/NAME with --api-base URL for an OpenAI-compatible server"
        ) from None
    if _needs_dummy_key(model, api_base):
        return
    env = litellm.validate_environment(model=model, api_base=api_base)
    missing = env.get("missing_keys") or []
    if missing and not env.get("keys_in_environment"):
        hint = " (or pass --api-base URL for a local OpenAI-compatible server)" if provider == "openai" else ""
        raise AfError(f"{', '.join(missing)} is not set: export it to use {model}{hint}")


def check_reasoning(model: str, api_base: str | None, reasoning_effort: str | None,
                    thinking_budget: int | None) -> None:
    """One-line AfError when `model` takes no --reasoning-effort or --thinking-budget (litellm would refuse
    every request, leaving a run of error rows). Simulated models ignore both."""
    if not (reasoning_effort or thinking_budget) or model.startswith("sim/"):
        return
    litellm = _load()
    try:
        name, provider, _, _ = litellm.get_llm_provider(model=model, api_base=api_base)
        supported = litellm.get_supported_openai_params(model=name, custom_llm_provider=provider) or []
    except Exception:  # noqa: BLE001 - an unknown model is check_model's to report
        return
    for given, param, option in ((reasoning_effort, "reasoning_effort", "--reasoning-effort"),
                                 (thinking_budget, "thinking", "--thinking-budget")):
        if given and param not in supported:
            raise AfError(f"{option} is not supported for {model} (litellm sends no {param} to {provider}); "
                          "leave it out for this model or run it separately")


def check_reachable(api_base: str) -> None:
    """A closed port or an unknown host fails here, in one line, before a run row or error rows exist."""
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(api_base)
    try:
        address = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        socket.create_connection(address, timeout=5).close()
    except ValueError as exc:
        raise AfError(f"--api-base has a bad port ({exc})") from None
    except OSError as exc:
        raise AfError(f"cannot reach --api-base at {address[0]}:{address[1]} ({exc.strerror or exc}); start the "
                      "server or fix the URL") from None


def unresolved_host(exc: BaseException) -> str | None:
    """The host whose name did not resolve, if `exc` comes from a failed DNS lookup ('' when no host is named);
    None for any other failure. The lookup error sits deep in the chain litellm → openai → httpx → aiohttp."""
    import socket

    chain, seen, x = [], set(), exc
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        chain.append(x)
        x = x.__cause__ or x.__context__
    if not any(isinstance(x, socket.gaierror) for x in chain):
        return None
    hosts = []
    for x in chain:  # aiohttp's connector errors carry .host; httpx/openai errors the request's URL
        host = getattr(x, "host", None)
        if not isinstance(host, str):
            try:
                host = x.request.url.host  # type: ignore[attr-defined]
            except (AttributeError, RuntimeError):
                host = None
        if isinstance(host, str) and host:
            hosts.append(host)
    return hosts[-1] if hosts else ""


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def _message_of(exc: BaseException) -> str:
    """The provider's message on one line, without litellm's boilerplate and never an API key."""
    text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    text = " ".join(text.split())
    for prefix in ("litellm.", ):
        if text.startswith(prefix):
            text = text[len(prefix):]
    for name, value in os.environ.items():
        if value and len(value) >= 8 and ("KEY" in name or "TOKEN" in name or "SECRET" in name):
            text = text.replace(value, "***")
    return text[:2000]


def _classify(litellm, exc: BaseException) -> str:
    """'retry', 'fatal' or 'fail' (this request only, no retry)."""
    status = _status_of(exc)
    if isinstance(exc, (litellm.Timeout, litellm.APIConnectionError, litellm.RateLimitError,
                        litellm.InternalServerError, litellm.ServiceUnavailableError, asyncio.TimeoutError,
                        ConnectionError)):
        return "retry"
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)):
        return "fatal"
    if status in _RETRY_STATUS or (status is not None and status >= 500):
        return "retry"
    if status in _FATAL_STATUS:
        return "fatal"
    if isinstance(exc, litellm.BadRequestError) or (status is not None and 400 <= status < 500):
        return "fail"
    return "retry"  # unknown transport trouble (malformed JSON, dropped connection): worth another try


async def complete(
    model: str,
    messages: list[dict],
    *,
    api_base: str | None = None,
    temperature: float = 1.0,
    max_tokens: int = 4000,
    policy: RetryPolicy = RetryPolicy(),
    seed: int | None = None,
    cache_prompt: bool = False,
    throttle: Throttle | None = None,
    reasoning_effort: str | None = None,
    thinking_budget: int | None = None,
    price: Price | None = None,
) -> Completion:
    """One assistant reply, with our retries. `seed` reaches simulated models only (the epoch).
    `cache_prompt` marks the system prompt cacheable where the provider needs it asked (Anthropic);
    `throttle` (the model's) waits out a Retry-After and learns from 429s; `reasoning_effort` and
    `thinking_budget` pass through litellm (see reasoning_params); `price` (the user's) prices the reply in
    place of litellm's cost map."""
    litellm = _load()
    adopt_running_loop()  # a call cancelled by a stop leaves no unawaited coroutine behind
    if cache_prompt and caches_when_asked(model):
        messages = mark_system_cacheable(messages)
    kwargs: dict = dict(
        model=model, messages=messages, temperature=temperature, max_tokens=max_tokens,
        num_retries=0, max_retries=0, timeout=policy.timeout_s,
    )
    if (reasoning_effort or thinking_budget) and not model.startswith("sim/"):
        kwargs.update(reasoning_params(reasoning_effort, thinking_budget))
    if api_base:
        kwargs["api_base"] = api_base
    if _needs_dummy_key(model, api_base):
        kwargs["api_key"] = _DUMMY_KEY
    if model.startswith("sim/") and seed is not None:
        kwargs["metadata"] = {"af_tui_seed": seed}
    last: BaseException | None = None
    for attempt in range(1, policy.attempts + 1):
        if throttle is not None:
            await throttle.ready()
        started = time.monotonic()
        try:
            response = await litellm.acompletion(**kwargs)
            choices = getattr(response, "choices", None) or []
            if not choices:
                raise _NoChoices("the provider returned no choices")
            message = choices[0].message
            text, thought = split_think(message.content or "")
            reasoning = reasoning_of(message)
            reasoning = with_thought(reasoning, thought)
            blocked = "finish_reason content_filter" if choices[0].finish_reason == "content_filter" else None
            usage = getattr(response, "usage", None)
            tokens = dict(input_tokens=getattr(usage, "prompt_tokens", None),
                          output_tokens=getattr(usage, "completion_tokens", None),
                          cache_read_tokens=_cache_tokens(usage, "cache_read_input_tokens"),
                          cache_write_tokens=_cache_tokens(usage, "cache_creation_input_tokens"))
            if price is not None:
                cost = price.cost(**tokens)
            else:
                cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
            if throttle is not None:
                throttle.success()
            return Completion(
                text=text,
                reasoning=reasoning,
                cost=cost,
                latency_s=time.monotonic() - started,
                attempts=attempt,
                blocked=blocked,
                **tokens,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every provider failure is classified below
            last = exc
            if isinstance(exc, litellm.ContentPolicyViolationError):
                # a refusal by the provider, not a failure: an answer of its own kind, never retried
                return Completion(text="", input_tokens=None, output_tokens=None, cost=None,
                                  latency_s=time.monotonic() - started, attempts=attempt,
                                  blocked=f"content policy ({_message_of(exc)[:300]})")
            kind = "retry" if isinstance(exc, _NoChoices) else _classify(litellm, exc)
            if (host := unresolved_host(exc)) is not None:  # offline or a wrong name: every call would fail
                raise FatalProviderError(f"{model}: cannot resolve the host {host or '?'} (name lookup failed); "
                                         "check the network connection or the base URL (--api-base)", attempts=attempt) from None
            if kind == "fatal":
                raise FatalProviderError(f"{model}: {_message_of(exc)}", attempts=attempt,
                                         status=_status_of(exc)) from None
            retry_after = None
            if _status_of(exc) == 429 or isinstance(exc, litellm.RateLimitError):
                retry_after = _retry_after(exc)
                if throttle is not None:
                    throttle.rate_limit(retry_after)
            if kind == "fail" or attempt == policy.attempts:
                break
            await asyncio.sleep(max(policy.delay(attempt), retry_after or 0.0))
    assert last is not None
    raise ProviderError(_message_of(last), attempts=attempt, status=_status_of(last)) from None


def _cache_tokens(usage, name: str) -> int | None:
    value = getattr(usage, name, None)
    return int(value) if isinstance(value, int | float) else None


def _retry_after(exc: BaseException) -> float | None:
    """Seconds from a 429's Retry-After (or retry-after-ms) header, if the provider sent one."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(
        getattr(exc, "response", None), "headers", None) or {}
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if (s := headers.get("retry-after")) is not None:
            return max(0.0, min(float(s), 3600.0))
    except (TypeError, ValueError, AttributeError):
        return None
    return None


class _NoChoices(Exception):
    pass
