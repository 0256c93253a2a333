"""A Perspective API client: rate limited, retried with backoff, cached on disk, and honest about failures.

A text that could not be scored (after retries: 429s, 5xx, timeouts, malformed answers) is returned as NaN and
counted as missing; it is never 0. Only successful scores are cached.
"""

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from toxmix.core.errors import ToxmixError

ENDPOINT = "https://commentanalyzer.googleapis.com/v1alpha1/comments:analyze"
KEY_ENV = "PERSPECTIVE_API_KEY"
RETRY_STATUSES = {429, 500, 502, 503, 504}


class PerspectiveClient:
    """TOXICITY summary scores for texts; `failures` counts texts left unscored, by reason."""

    name = "perspective"
    version = "v1alpha1"
    labels = ["toxicity"]

    def __init__(self, endpoint: str = ENDPOINT, api_key: str | None = None, qps: float = 1.0, max_retries: int = 5,
                 timeout: float = 10.0, backoff: float = 1.0, cache: Path | None = None):
        self.api_key = api_key or os.environ.get(KEY_ENV)
        if not self.api_key:
            raise ToxmixError(f"the Perspective scorer needs an API key: export {KEY_ENV}=...")
        if qps <= 0 or max_retries < 0 or timeout <= 0:
            raise ToxmixError("Perspective: qps and timeout must be positive, max_retries at least 0")
        self.endpoint, self.qps, self.max_retries = endpoint, qps, max_retries
        self.timeout, self.backoff = timeout, backoff
        self.failures: dict[str, int] = {}
        self._next_slot = 0.0
        self._db = None
        self._http = None  # one connection pool for all requests (a new client per call costs ~40 ms of TLS set-up)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(cache))
            self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, toxicity REAL NOT NULL)")

    def _wait_turn(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.qps
        time.sleep(max(0.0, slot - now))

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.endpoint}\n{text}".encode()).hexdigest()

    def _request(self, text: str) -> float:
        """One text's score, retrying transient failures; raises _Failed with the last reason."""
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout)
        body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"],
                "doNotStore": True}
        reason = "unknown"
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            self._wait_turn()
            try:
                r = self._http.post(self.endpoint, params={"key": self.api_key}, json=body)
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.HTTPError as e:
                reason = type(e).__name__
                continue
            if r.status_code in RETRY_STATUSES:
                reason = f"http {r.status_code}"
                continue
            if r.status_code != 200:
                raise _Failed(f"http {r.status_code}")  # 400 (e.g. unsupported language) does not get better
            try:
                value = r.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
            except (ValueError, KeyError, TypeError, json.JSONDecodeError):
                reason = "malformed response"
                continue
            # a score is a real number in [0, 1]: JSON true/false, strings, NaN or inf are malformed, never 1 or 0
            if isinstance(value, bool) or not isinstance(value, int | float) or not (0.0 <= value <= 1.0):
                reason = "malformed response: score " + (type(value).__name__ if not isinstance(value, int | float)
                                                         or isinstance(value, bool) else "out of [0, 1]")
                continue
            return float(value)
        raise _Failed(reason)

    def score(self, texts: list[str]) -> np.ndarray:
        """Shape (len(texts), 1): scores in [0, 1], NaN where scoring failed."""
        out = np.full((len(texts), 1), np.nan, dtype=np.float64)
        for i, text in enumerate(texts):
            if not text.strip():
                self.failures["empty text"] = self.failures.get("empty text", 0) + 1
                continue
            key = self._key(text)
            if self._db is not None:
                row = self._db.execute("SELECT toxicity FROM scores WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    out[i, 0] = row[0]
                    continue
            try:
                out[i, 0] = self._request(text)
            except _Failed as f:
                self.failures[str(f)] = self.failures.get(str(f), 0) + 1
                continue
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO scores VALUES (?, ?)", (key, float(out[i, 0])))
                self._db.commit()
        return out


class _Failed(Exception):
    """A text Perspective did not score."""
