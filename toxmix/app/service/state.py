"""The service's own state, one SQLite file under the project folder: users (token hashes only), the audit log
and each user's query history. WAL mode: readers never wait on the one writer."""

import hashlib
import re
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from toxmix.core.errors import ToxmixError

ROLES = ("reader", "author", "trainer", "admin")  # each may do what the ones before it may
STATE_FILE = ".toxmix-service.sqlite"
USER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
                                  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (at REAL NOT NULL, user TEXT, action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queries (at REAL NOT NULL, user TEXT NOT NULL, sql TEXT NOT NULL, ms REAL NOT NULL,
                                    rows INTEGER, error TEXT);
"""


@dataclass(frozen=True)
class User:
    """A user of the service and what their role allows."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """Whether this user's role includes `role`'s rights."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class State:
    """The SQLite state of a service rooted at `root`."""

    def __init__(self, root: Path):
        self.path = Path(root) / STATE_FILE
        with closing(self._connect()) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA busy_timeout=30000")
        return con

    def add_user(self, name: str, role: str, by: str | None = None) -> str:
        """Create a user; return their token (only its hash is stored: it cannot be shown again)."""
        if not USER_NAME.match(name):
            raise ToxmixError(f"user name {name!r}: use letters, digits, '_', '.', '-' (at most 64, a letter first)")
        if role not in ROLES:
            raise ToxmixError(f"role {role!r}: use one of {', '.join(ROLES)}")
        token = secrets.token_urlsafe(32)
        with closing(self._connect()) as con:
            try:
                con.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (name, role, _digest(token), time.time()))
            except sqlite3.IntegrityError:
                raise ToxmixError(f"user {name!r} exists already") from None
        self.audit(by, "add user", f"{name} as {role}")
        return token

    def user_for(self, token: str) -> User | None:
        """The user a token belongs to, or None."""
        with closing(self._connect()) as con:
            row = con.execute("SELECT name, role FROM users WHERE token_sha256 = ?", (_digest(token),)).fetchone()
        return User(*row) if row else None

    def users(self) -> list[dict]:
        with closing(self._connect()) as con:
            rows = con.execute("SELECT name, role, created FROM users ORDER BY name").fetchall()
        return [{"name": n, "role": r, "created": c} for n, r, c in rows]

    def audit(self, user: str | None, action: str, detail: str) -> None:
        """Record who did what, when."""
        with closing(self._connect()) as con:
            con.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (time.time(), user, action, detail))

    def audit_log(self, limit: int = 200) -> list[dict]:
        with closing(self._connect()) as con:
            rows = con.execute("SELECT at, user, action, detail FROM audit ORDER BY at DESC LIMIT ?",
                               (limit,)).fetchall()
        return [{"at": a, "user": u, "action": act, "detail": d} for a, u, act, d in rows]

    def record_query(self, user: str, sql: str, ms: float, rows: int | None, error: str | None) -> None:
        with closing(self._connect()) as con:
            con.execute("INSERT INTO queries VALUES (?, ?, ?, ?, ?, ?)", (time.time(), user, sql, ms, rows, error))

    def history(self, user: str, limit: int = 50) -> list[dict]:
        """A user's newest queries."""
        with closing(self._connect()) as con:
            rows = con.execute("SELECT at, sql, ms, rows, error FROM queries WHERE user = ? ORDER BY at DESC "
                               "LIMIT ?", (user, limit)).fetchall()
        return [{"at": a, "sql": s, "ms": m, "rows": r, "error": e} for a, s, m, r, e in rows]
