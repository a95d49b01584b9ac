"""Who is asking, and what they may do: sign-in, roles and refused requests on the Gradio server.

With a users file, Gradio's sign-in page asks for a name and password (checked by signin.SignIn)
and every request carries the signed-in name; readers ask and read sources, editors also add and
remove documents. Every request is checked here on the server, whatever the page shows. Without
a users file (this machine only, or --no-auth) everyone may do everything, as before.

Gradio is imported only inside the functions that need it.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import sys
from pathlib import Path

from .. import audit
from ..errors import BotError
from ..signin import SignIn
from ..users import Directory, User, load

# The address of the connection a request came in on (not X-Forwarded-For: anyone can write that).
_CLIENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("bot_client", default=None)
_REQUEST = contextvars.ContextVar("bot_request", default=None)
# Waits shorter than this are sat out, so a slowed-down sign-in still succeeds; longer ones refuse.
HOLD_SECONDS = 5.0
AUTH_MESSAGE = ("Sign in with the name and password you were given. After 5 failed attempts, each further "
                "attempt for that name or from that address waits: 1 s, then twice as long each time.")


class Access:
    """The server's sign-in (None: open to everyone) and the checks every handler makes."""

    def __init__(self, users_file: Path | None = None):
        self.directory = Directory(users_file) if users_file else None
        self.signin = SignIn(self.directory) if self.directory else None
        self._locks: dict[str, list] = {}

    @classmethod
    def for_server(cls, users: Path | None, host: str, no_auth: bool = False) -> "Access":
        """The sign-in for serve, or a one-line BotError saying why the server must not start."""
        if users is not None and no_auth:
            raise BotError("--users and --no-auth contradict each other: give one of them")
        if users is None:
            if not no_auth and not is_loopback(host):
                raise BotError(f"serving on {host} needs sign-in: add users with `python -m bot users add NAME "
                               "--role editor` (then serve picks up users.toml beside the corpus, or give --users "
                               "FILE), or pass --no-auth to serve openly on purpose")
            return cls()
        if not users.is_file():
            raise BotError(f"the users file {users} does not exist: add users with `python -m bot users add NAME "
                           f"--role editor --users {users}`")
        if not load(users):
            raise BotError(f"the users file {users} holds no users: add one with `python -m bot users add NAME "
                           f"--role editor --users {users}`")
        if users.stat().st_mode & 0o077:
            print(f"warning: {users} can be read by other accounts on this machine: chmod 600 {users}",
                  file=sys.stderr)
        return cls(users)

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def user(self, request) -> User | None:
        """The signed-in user of a request, as the users file says now (None once removed from it)."""
        if not self.enabled:
            return None
        return self.directory.get(getattr(request, "username", None))

    def name(self, request) -> str | None:
        return getattr(request, "username", None) if self.enabled else None

    def may_edit(self, request) -> bool:
        if not self.enabled:
            return True
        u = self.user(request)
        return u is not None and u.may_edit

    def reject(self, request, reason: str, shown: str | None = None):
        """Log one line (time, user, reason) and return the error the caller raises (no traceback)."""
        import gradio as gr
        audit.log("rejected", self.name(request), reason)
        return gr.Error(shown or reason, print_exception=False)

    def whoami_html(self, request) -> str:
        import html
        u = self.user(request)
        if u is None:
            return ""
        return (f' <span class="whoami">· Signed in as <b>{html.escape(u.name)}</b> ({u.role}) · '
                '<a href="logout">Sign out</a></span>')

    # --- sign-in -------------------------------------------------------------------------------

    async def auth(self, name: str, password: str) -> bool:
        """Gradio's auth callable: attempts for one name or address run one at a time, so a burst
        of guesses cannot all run before the first failures are counted."""
        address = _CLIENT.get()
        name_key, *address_key = self.signin.keys(name, address)
        async with self._one_at_a_time(address_key[0] if address_key else "address:-"), \
                self._one_at_a_time(name_key):
            wait = self.signin.wait(name, address)
            if 0 < wait <= HOLD_SECONDS:
                await asyncio.sleep(wait)
            # argon2 takes a quarter of a second of CPU: off the event loop, so the server stays responsive.
            return await asyncio.to_thread(self.signin.check, name, password, address)

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, key: str):
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    # --- the Gradio app --------------------------------------------------------------------------

    def middleware(self):
        """ASGI middleware: remembers each request's address (for the sign-in throttle) and turns
        away file uploads from anyone but an editor before Gradio stores a byte of them."""
        access = self

        class Gate:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                if scope["type"] == "http":
                    _CLIENT.set((scope.get("client") or (None,))[0])
                    if access.enabled and scope["method"] == "POST" and scope["path"].rstrip("/").endswith(
                            "/gradio_api/upload"):
                        user = access.directory.get(_cookie_user(scope))
                        if user is None or not user.may_edit:
                            audit.log("rejected", user.name if user else None, "file upload: only editors may add "
                                      "documents")
                            await _send_json(send, 403, {"detail": "Only editors may add documents."})
                            return
                await self.app(scope, receive, send)

        return Gate

    def blocks(self, **kwargs):
        """A gr.Blocks whose every event first checks the caller is still a user and that the call
        carries all its arguments; input Gradio cannot even read is refused in one log line."""
        import gradio as gr
        access = self

        class Page(gr.Blocks):
            async def process_api(self, block_fn, inputs, state=None, request=None, *args, **kw):
                fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
                req = request[0] if isinstance(request, list) else request
                what = f"/{fn.api_name}" if fn.api_name else (fn.name or "event")
                if access.enabled and access.user(req) is None:
                    _sign_out(self, access.name(req))
                    raise access.reject(req, f"{what}: {access.name(req) or 'nobody'} is not in the users file "
                                        "(removed?): signed out", "You are signed out: sign in again.")
                if inputs is not None and len(inputs) < len(fn.inputs):
                    raise access.reject(req, f"{what}: missing argument ({len(inputs)} of {len(fn.inputs)} values "
                                        "given)")
                token = _REQUEST.set((req, what))
                try:
                    return await super().process_api(block_fn, inputs, state, request, *args, **kw)
                finally:
                    _REQUEST.reset(token)

            async def preprocess_data(self, *args, **kw):
                try:
                    return await super().preprocess_data(*args, **kw)
                except gr.Error:
                    raise
                except Exception as e:  # Gradio's message repeats the input: log our own words only
                    req, what = _REQUEST.get() or (None, "event")
                    raise access.reject(req, f"{what}: malformed input ({type(e).__name__})") from None

        return Page(**kwargs)


def is_loopback(host: str) -> bool:
    import ipaddress
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cookie_user(scope) -> str | None:
    from starlette.requests import Request
    app = scope.get("app")
    cookies = Request(scope).cookies
    cid = getattr(app, "cookie_id", None)
    tokens = getattr(app, "tokens", {})
    token = cookies.get(f"access-token-{cid}") or cookies.get(f"access-token-unsecure-{cid}")
    return tokens.get(token)


def _sign_out(blocks, name: str | None) -> None:
    """Forget every session token of a user who is no longer in the users file."""
    tokens = getattr(getattr(blocks, "server_app", None), "tokens", {})
    for token, user in list(tokens.items()):
        if user == name:
            tokens.pop(token, None)


async def _send_json(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
