"""Serving the app to browsers (`af-tui serve`): one app process per browser tab, on one store, behind a token.

textual-serve does the streaming (xterm.js in the page, a websocket to a Textual app process); it has no
authentication, logs full request lines and starts apps through a shell, so this module wraps it: a token gate
on every request, no access log, per-tab annotator names passed through the environment, and a clean stop.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import logging
import re
import secrets
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from af_tui.errors import AfError

log = logging.getLogger("af_tui.serve")

ASSETS = Path(__file__).parent / "assets"
# A --token in the environment (safer than argv, which `ps` shows) must not reach the app processes.
TOKEN_ENV = "AF_TUI_SERVE_TOKEN"
# What one annotator name may be: it ends up in the labels table, the page title and the server's log.
ANNOTATOR_RE = re.compile(r"[\w][\w .@+'-]{0,63}")
# How long an app process gets to quit after the server asks it to, before it is killed.
APP_STOP_SECONDS = 5.0


def app_command(label: bool = False, blind: bool = False) -> list[str]:
    """One tab's app: the explorer (`af-tui` on the store) or, with `label`, the labeling queue (`af-tui label`)."""
    return [sys.executable, "-c", "from af_tui.cli import main; main()", *(["label"] if label else []),
            *(["--blind"] if label and blind else [])]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_annotator(name: str | None) -> str | None:
    """The annotator name, trimmed, if it is one a person would type; None otherwise."""
    if name is None:
        return None
    name = name.strip()
    return name if ANNOTATOR_RE.fullmatch(name) else None


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address (so only this machine can connect)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def url_for(host: str, port: int, token: str | None = None) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if host in ("0.0.0.0", "::", ""):
        shown = socket.gethostname()
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _same_secret(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


class _AppSession(AppService):
    """One browser tab's app process: started without a shell, with this tab's annotator in its environment,
    in its own process session so that a Ctrl-C in the server's terminal reaches the server only (which then
    asks each app to quit, the way textual-serve does when a tab closes)."""

    def __init__(self, argv: list[str], extra_env: dict[str, str], **kwargs) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self.argv = argv
        self.extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = super()._build_environment(width=width, height=height)
        env.pop(TOKEN_ENV, None)
        env.update(self.extra_env)
        return env

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,
        )
        self._stdin = process.stdin
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def wait_exit(self, timeout: float) -> None:
        """Wait for the app process to end; kill it if it has not after `timeout` seconds."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.warning("app process %s did not quit in %.0f s; killing it", process.pid, timeout)
            process.kill()
            await process.wait()


@dataclass(eq=False)  # one per tab, kept in a set by identity
class _Tab:
    annotator: str
    websocket: web.WebSocketResponse
    session: _AppSession
    done: asyncio.Event = field(default_factory=asyncio.Event)


class AnnotationServer(Server):
    """textual-serve's Server behind a token: `serve()` blocks until Ctrl-C (or SIGTERM)."""

    def __init__(self, db_path: Path, *, host: str = "127.0.0.1", port: int = 8000, token: str | None = None,
                 app_argv: list[str] | None = None, title: str = "af-tui") -> None:
        super().__init__("af-tui", host=host, port=port, title=title)
        self.db_path = db_path
        self.token = token or new_token()
        # The command of one app process (the explorer, or `af-tui label`); the store and the annotator travel
        # in its environment, never in a shell command line.
        self.app_argv = app_argv or app_command()
        # Cookies are not kept apart by port: name it after the port so two servers on one host do not clash.
        self.cookie_name = f"af_tui_token_{port}"
        self.tabs: set[_Tab] = set()
        self.sessions_started = 0
        self.rejected = 0
        self.bound_port: int | None = None
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        self._pages = Environment(loader=FileSystemLoader(ASSETS), autoescape=select_autoescape(default=True))

    # -- the gate ------------------------------------------------------------------------------------
    @web.middleware
    async def _gate(self, request: web.Request, handler):
        given = request.query.get("token")
        if _same_secret(given, self.token):
            if request.method == "GET" and request.headers.get("Upgrade", "").lower() != "websocket":
                # Keep the token out of the address bar, the history and Referer headers: a cookie from now on.
                query = request.query.copy()
                del query["token"]
                # One leading slash: "//host/..." would send the browser to another site.
                path = "/" + request.rel_url.path.lstrip("/")
                response = web.HTTPSeeOther(location=str(request.rel_url.with_path(path).with_query(query)))
                response.set_cookie(self.cookie_name, self.token, httponly=True, samesite="Strict", path="/")
                self._harden(response)
                raise response
        elif not _same_secret(request.cookies.get(self.cookie_name), self.token):
            return self._refuse(request, "no valid token")
        origin = request.headers.get("Origin")
        if request.path.startswith("/ws") and origin and origin.split("://", 1)[-1] != request.host:
            # Cross-site websocket: a page elsewhere may not drive an annotator's session.
            return self._refuse(request, "websocket from another origin")
        response = await handler(request)
        self._harden(response, cache=request.path.startswith("/static/"))
        return response

    def _refuse(self, request: web.Request, why: str) -> web.Response:
        self.rejected += 1
        # The path only: a wrong token in the query string is still somebody's secret.
        log.warning("403 %s %s from %s: %s", request.method, request.path, request.remote, why)
        return web.Response(
            status=403, content_type="text/plain",
            text="403 Forbidden: this af-tui server needs its token. Open the address printed when the server "
                 "started (it ends in ?token=...).\n",
        )

    @staticmethod
    def _harden(response: web.StreamResponse, cache: bool = False) -> None:
        if response.prepared:  # websockets and downloads: headers already sent
            return
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Pages never go to a shared cache; textual-serve's scripts and fonts may stay in the browser's own.
        response.headers.setdefault("Cache-Control", "private, max-age=3600" if cache else "no-store")

    # -- pages and sessions -------------------------------------------------------------------------
    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get("/ws/{annotator}", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        return app

    async def handle_index(self, request: web.Request) -> web.Response:
        """Without an annotator name, a form asks for it; with one, the terminal page that starts the app."""
        raw = request.query.get("annotator")
        annotator = valid_annotator(raw)
        font_size = min(max(_to_int(request.query.get("fontsize"), 16), 8), 40)
        scheme = "wss" if request.secure else "ws"
        context = {
            "title": self.title,
            "annotator": annotator,
            "asked": raw,
            "font_size": font_size,
            "static": "/static/",
            # From the Host the browser used, so that an SSH tunnel on another local port still works.
            "websocket_url": f"{scheme}://{request.host}/ws/{quote(annotator or '', safe='')}",
        }
        html = self._pages.get_template("serve.html").render(**context)
        return web.Response(text=html, content_type="text/html")

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        annotator = valid_annotator(request.match_info["annotator"])
        if annotator is None:
            raise web.HTTPBadRequest(text="annotator name missing or not allowed\n")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = min(max(_to_int(request.query.get("width"), 80), 20), 500)
        height = min(max(_to_int(request.query.get("height"), 24), 5), 300)
        await websocket.prepare(request)
        session = _AppSession(
            self.app_argv,
            {"AF_TUI_DB": str(self.db_path), "AF_TUI_ANNOTATOR": annotator, "AF_TUI_SERVED": "1"},
            write_bytes=websocket.send_bytes, write_str=websocket.send_str, close=websocket.close,
            download_manager=self.download_manager, debug=self.debug,
        )
        tab = _Tab(annotator, websocket, session)
        self.tabs.add(tab)
        try:
            await session.start(width, height)
            self.sessions_started += 1
            log.info("session started: annotator %s, app process %s (%d open)", annotator, session.pid,
                     len(self.tabs))
            try:
                await self._process_messages(websocket, session)
            finally:
                await session.stop()
                await session.wait_exit(APP_STOP_SECONDS)
        except asyncio.CancelledError:
            await websocket.close()
            raise
        except Exception as error:  # a broken session must not take the server down
            log.exception(error)
        finally:
            await session.stop()
            await session.wait_exit(APP_STOP_SECONDS)
            self.tabs.discard(tab)
            tab.done.set()
            log.info("session ended: annotator %s (%d open)", annotator, len(self.tabs))
        return websocket

    # -- running -------------------------------------------------------------------------------------
    def serve(self, debug: bool = False) -> None:  # noqa: ARG002 — textual-serve's signature
        asyncio.run(self.run())

    async def run(self, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
        """Listen until `stop` is set (by SIGINT / SIGTERM when not given), then end every session."""
        loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        # No access log: aiohttp's logs the request line, query string (the token) included.
        runner = web.AppRunner(await self._make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise AfError(_listen_error(self.host, self.port, exc)) from None
        self.bound_port = runner.addresses[0][1] if runner.addresses else self.port
        self.cookie_name = f"af_tui_token_{self.bound_port}"
        if ready is not None:
            ready.set()
        self._announce()
        try:
            await stop.wait()
        finally:
            print(f"af-tui serve: stopping ({len(self.tabs)} open session(s))…", file=sys.stderr, flush=True)
            await self.close_tabs()
            await runner.cleanup()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass

    async def close_tabs(self) -> None:
        """Ask every app process to quit (labels are committed as they are saved), then wait for them."""
        tabs = list(self.tabs)
        for tab in tabs:
            await tab.websocket.close()
        if tabs:
            await asyncio.wait([asyncio.create_task(t.done.wait()) for t in tabs], timeout=APP_STOP_SECONDS + 2)
        for tab in tabs:  # a session stuck past its handler: make sure no app process outlives the server
            await tab.session.wait_exit(0.1)

    def _announce(self) -> None:
        port = self.bound_port
        lines = [
            f"af-tui serve: the store {self.db_path}",
            "Open this address in a browser (it holds the access token; share it only with annotators):",
            f"    {url_for(self.host, port, self.token)}",
        ]
        if not is_loopback(self.host):
            lines.append(f"warning: listening on {self.host}, not loopback: anyone who can reach this machine "
                         "can try to connect, and the traffic (token and text) is not encrypted. Prefer the "
                         "default 127.0.0.1 with SSH port forwarding.")
        lines.append("Press Ctrl+C to stop; labels already saved stay in the store.")
        print("\n".join(lines), file=sys.stderr, flush=True)


def _to_int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _listen_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; pick another with --port"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {port}; pick a port above 1023 with --port"
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return f"cannot listen on host {host!r} ({exc.strerror or exc}); pass an address of this machine with --host"
    return f"cannot listen on {host}:{port} ({exc.strerror or exc})"


def setup_logging() -> None:
    """One line per session and per refused request on stderr; never a request's query string."""
    if getattr(setup_logging, "done", False):
        return
    setup_logging.done = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("af-tui serve: %(message)s"))
    for name in ("af_tui.serve", "textual-serve"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
