"""Who may sign in to the server: a TOML file of names, roles and argon2 password hashes.

The file never holds a password. It is rewritten whole, atomically, with mode 0600, and the
server re-reads it when it changes, so `users remove` takes effect without a restart.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import UsersError

ROLES = ("reader", "editor")
FILE_NAME = "users.toml"
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
# Plain names only: they appear in log lines, the audit log and TOML keys without quoting trouble.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HEADER = ("# Who may sign in to `python -m bot serve`; written by `python -m bot users`.\n"
           "# Passwords are kept only as argon2id hashes. Roles: reader (asks and reads sources),\n"
           "# editor (also adds and removes documents).\n")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    @property
    def may_edit(self) -> bool:
        return self.role == "editor"


def default_path(settings: Settings) -> Path:
    """users.toml beside the corpus folder, unless --users or BOT_USERS names another file."""
    return settings.users if settings.users is not None else settings.corpus.absolute().parent / FILE_NAME


def valid_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def check_name(name: str) -> str:
    if not valid_name(name):
        raise UsersError(f"{name[:40]!r} is not a usable user name: use 1-64 letters, digits, '.', '_', '@' or '-', "
                         "starting with a letter or digit")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsersError(f"the password is shorter than {MIN_PASSWORD_CHARS} characters: choose a longer one")
    if len(password) > MAX_PASSWORD_CHARS:
        raise UsersError(f"the password is longer than {MAX_PASSWORD_CHARS} characters: choose a shorter one")
    return password


def load(path: Path) -> dict[str, User]:
    """The users in path, by name (empty when the file does not exist); UsersError if it is malformed."""
    import tomllib
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise UsersError(f"cannot read the users file {path} ({getattr(e, 'strerror', None) or e}): "
                         "check its permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsersError(f"{path} is not a valid users file ({e}): fix it, or delete it and add the users again") \
            from None
    table = data.get("users", {})
    if not isinstance(table, dict):
        raise UsersError(f"{path}: 'users' must be a table of users: fix it, or delete it and add the users again")
    users = {}
    for name, entry in table.items():
        where = f"{path}: user {name[:40]!r}"
        if not valid_name(name) or not isinstance(entry, dict):
            raise UsersError(f"{where} is not a user entry: remove it and add the user with `python -m bot users add`")
        role, hashed = entry.get("role"), entry.get("password_hash")
        if role not in ROLES:
            raise UsersError(f"{where} has role {role!r}: use one of {', '.join(ROLES)}")
        if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
            raise UsersError(f"{where} has no argon2 password_hash: set it again with `python -m bot users add`")
        users[name] = User(name, role, hashed)
    return users


def save(path: Path, users: dict[str, User]) -> None:
    """Write the users file whole: a temporary file with mode 0600, then renamed over the old one."""
    lines = [_HEADER]
    for u in sorted(users.values(), key=lambda u: u.name):
        # JSON strings are valid TOML basic strings (the names and hashes are plain ASCII anyway).
        lines.append(f"\n[users.{json.dumps(u.name)}]\nrole = {json.dumps(u.role)}\n"
                     f"password_hash = {json.dumps(u.password_hash)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _Locked:
    """Holds an exclusive lock on the users file's folder, so two `users` commands never lose an edit."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path.parent, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher
    return PasswordHasher().hash(check_password(password))


def add(path: Path, name: str, role: str, password: str) -> bool:
    """Add the user, or change an existing user's role and password; True if the user is new."""
    check_name(name)
    if role not in ROLES:
        raise UsersError(f"role {role!r} is not one of {', '.join(ROLES)}")
    hashed = hash_password(password)
    with _Locked(path):
        users = load(path)
        new = name not in users
        users[name] = User(name, role, hashed)
        save(path, users)
    return new


def remove(path: Path, name: str) -> None:
    with _Locked(path):
        users = load(path)
        if name not in users:
            raise UsersError(f"{name[:40]!r} is not a user in {path}: `python -m bot users list` shows who is")
        del users[name]
        save(path, users)


_DUMMY: list[str] = []


def verify(user: User | None, password: str) -> bool:
    """Whether password matches the user's hash. An unknown user costs the same time as a known one,
    so the answer's speed does not tell which names exist."""
    from argon2 import PasswordHasher
    from argon2.exceptions import Argon2Error, InvalidHashError
    hasher = PasswordHasher()
    if not _DUMMY:
        _DUMMY.append(hasher.hash("not a password anyone has"))
    try:
        return hasher.verify(user.password_hash if user else _DUMMY[0], password) and user is not None
    except (Argon2Error, InvalidHashError):
        return False


class Directory:
    """The users file as the server sees it: re-read whenever the file changes on disk."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp = None
        self._users: dict[str, User] = {}

    def users(self) -> dict[str, User]:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            # A file broken by a hand edit keeps the last good list rather than locking everyone out.
            try:
                self._users, self._stamp = load(self.path), stamp
            except UsersError as e:
                import sys
                print(f"warning: {e}; keeping the users as they were", file=sys.stderr)
                self._stamp = stamp
        return self._users

    def get(self, name: str | None) -> User | None:
        return self.users().get(name) if name else None
