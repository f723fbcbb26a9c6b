"""Bounded retries for forge HTTP traffic, shared by the GitHub and GitLab adapters.

A ``requests`` transport adapter, mounted on the session github3.py or python-gitlab uses, so
every call either library makes is retried the same way without wrapping each call:

- 500/502/503/504 and connection errors or timeouts: exponential backoff (``backoff * 2**n``);
- 429, and GitHub's 403 secondary rate limit: wait what ``Retry-After`` says, else until
  ``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0, else the backoff;
- at most ``attempts`` tries and ``budget`` seconds in all; a wait longer than ``max_wait``
  (a primary rate limit that resets in 40 minutes) is not slept through: the last answer goes
  back to the library and the adapter's caller turns it into one clear line.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

RETRY_STATUS = {500, 502, 503, 504}


@dataclass
class RetryPolicy:
    attempts: int = 5        # tries in all, the first included
    backoff: float = 1.0     # first wait after a 5xx or connection error, doubled each time
    max_wait: float = 60.0   # longest single wait (Retry-After / rate-limit reset included)
    budget: float = 180.0    # longest time spent waiting on one request

    @classmethod
    def from_config(cls, forge: dict) -> "RetryPolicy":
        retry = forge.get("retry") or {}
        return cls(attempts=retry.get("attempts", 5), backoff=retry.get("backoff_seconds", 1.0),
                   max_wait=retry.get("max_wait_seconds", 60.0), budget=retry.get("budget_seconds", 180.0))


def is_rate_limited(response: requests.Response) -> bool:
    """429, or GitHub's 403 that means "slow down" rather than "not allowed"."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    h = response.headers
    if h.get("Retry-After") or h.get("x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in response.text[:2000].lower()


def wait_for(response: requests.Response | None, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before the next try, or None when this answer is final."""
    backoff = policy.backoff * (2 ** attempt) * (1 + random.uniform(0, 0.1))
    if response is None:  # connection error or timeout
        return backoff
    if response.status_code in RETRY_STATUS:
        return _retry_after(response) or backoff
    if is_rate_limited(response):
        after = _retry_after(response)
        if after is not None:
            return after
        h = response.headers
        if h.get("x-ratelimit-remaining") == "0" and h.get("x-ratelimit-reset", "").isdigit():
            return max(0.0, int(h["x-ratelimit-reset"]) - time.time()) + 1
        return max(backoff, 1.0)
    return None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    if value:  # an HTTP date
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return None


class RetryingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose ``send`` retries per a ``RetryPolicy`` and says each retry."""

    def __init__(self, policy: RetryPolicy, say=print, sleep=time.sleep):
        super().__init__()
        self.policy, self.say, self.sleep = policy, say, sleep

    def send(self, request, **kwargs):
        started = time.monotonic()
        attempt = 0
        while True:
            response, error = None, None
            try:
                response = super().send(request, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                error = exc
            wait = wait_for(response, attempt, self.policy)
            attempt += 1
            if wait is None:
                return response
            last = attempt >= self.policy.attempts
            too_long = wait > self.policy.max_wait or time.monotonic() - started + wait > self.policy.budget
            if last or too_long:
                if response is None:
                    raise error
                response.llmops_attempts = attempt  # read by the adapters' error lines
                response.llmops_wait = wait
                return response
            why = f"HTTP {response.status_code}" if response is not None else f"{type(error).__name__}"
            self.say(f"forge: {request.method} {urlsplit(request.url).path}: {why}; "
                     f"retry {attempt} of {self.policy.attempts - 1} in {wait:.1f} s")
            if response is not None:
                response.close()
            self.sleep(wait)


def mount_retries(session: requests.Session, policy: RetryPolicy, say=print) -> requests.Session:
    adapter = RetryingAdapter(policy, say)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
