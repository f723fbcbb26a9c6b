"""Governance state kept in the MLflow registry's own store, so every CI job sees the same.

Two companion registered models beside ``NAME`` hold it:

  ``llmops-lock.NAME``   exists while a promotion holds the lock. Creating a registered model
                         is atomic in every MLflow store (a unique key in the database), so
                         whoever creates it holds the lock; tags say who and since when.
  ``llmops-audit.NAME``  the audit chain, one tag per entry (``entry.000001`` …, canonical
                         JSON), and ``pending``: the intent of a promotion between moving the
                         alias and writing its entry, so a crash in between is repaired.

Only this module and ``mlflow_registry`` touch MLflow.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from llmops_ci.errors import ExternalFailure

ENTRY_PREFIX = "entry."
PENDING_TAG = "pending"
HEAD_TAG = "head"  # {"seq", "hash"} of the newest entry: truncating the chain's end shows


def _dead_here(holder: str | None) -> bool:
    """Was the lock taken by a process on this machine that no longer exists? (Holders on
    other machines cannot be asked: their locks expire with the lease.)"""
    try:
        host, pid, _ = (holder or "").split(":")
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False


class Ledger:
    def __init__(self, registry):
        self.registry = registry
        self.client = registry.client
        self.lock_name = f"llmops-lock.{registry.model_name}"
        self.audit_name = f"llmops-audit.{registry.model_name}"
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # -- the lock ---------------------------------------------------------------
    def acquire(self, timeout_s: float = 120.0, lease_s: float = 600.0, on_wait=None) -> None:
        """Hold the promotion lock of this registered model, waiting up to ``timeout_s``.

        A lock older than ``lease_s`` belongs to a job that died holding it and is broken.
        """
        from mlflow.exceptions import MlflowException

        deadline = time.monotonic() + timeout_s
        delay, told = 0.05, False
        while True:
            try:
                self.registry._call("create lock", self.client.create_registered_model, self.lock_name,
                                    tags={"holder": self.holder, "since": f"{time.time():.3f}"},
                                    description="Held by an llmops-ci promotion; deleted when it ends.")
                return
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            holder, since = self._lock_owner()
            if (since is not None and time.time() - since > lease_s) or _dead_here(holder):
                self._break(holder)  # stale: its job died holding it
                continue
            if time.monotonic() > deadline:
                raise ExternalFailure(f"the promotion lock of {self.registry.model_name} is held by {holder} "
                                      f"(for {time.time() - (since or time.time()):.0f} s); try again when it ends")
            if on_wait and not told:
                on_wait(f"waiting for the promotion lock of {self.registry.model_name} (held by {holder})")
                told = True
            time.sleep(delay)
            delay = min(delay * 1.6, 1.0)

    def _break(self, stale: str | None) -> None:
        """Delete a dead job's lock. Several waiters may find it dead at once: only the one that
        creates this holder's breaker (atomic, like the lock) deletes it, and only if it still
        belongs to that holder, so nobody deletes a fresh lock another waiter has just taken."""
        from mlflow.exceptions import MlflowException

        breaker = f"{self.lock_name}.break-{(stale or 'unknown').rsplit(':', 1)[-1]}"
        try:
            self.registry._call("break stale lock", self.client.create_registered_model, breaker)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            time.sleep(0.2)  # another waiter is breaking it
            return
        try:
            if self._lock_owner()[0] == stale:
                self._delete_lock()
        finally:
            try:
                self.registry._call("break stale lock", self.client.delete_registered_model, breaker)
            except MlflowException:
                pass

    def release(self) -> None:
        holder, _ = self._lock_owner()
        if holder == self.holder:
            self._delete_lock()

    def _lock_owner(self) -> tuple[str | None, float | None]:
        from mlflow.exceptions import MlflowException

        try:
            rm = self.registry._call("read lock", self.client.get_registered_model, self.lock_name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None, None
            raise
        tags = rm.tags or {}
        try:
            return tags.get("holder"), float(tags.get("since", "nan"))
        except ValueError:
            return tags.get("holder"), None

    def _delete_lock(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.registry._call("delete lock", self.client.delete_registered_model, self.lock_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise

    # -- the audit chain ----------------------------------------------------------
    def _audit_tags(self) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            rm = self.registry._call("read audit", self.client.get_registered_model, self.audit_name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
        return dict(rm.tags or {})

    def entries(self) -> list[tuple[str, str]]:
        """(key, stored text) of every audit entry, in key order. Text as stored: verifying is the caller's job."""
        return self.state()[0]

    def state(self) -> tuple[list[tuple[str, str]], dict | None]:
        """The stored entries and the recorded head, read in one request."""
        tags = self._audit_tags()
        raw = tags.get(HEAD_TAG)
        try:
            head = json.loads(raw) if raw else None
        except ValueError:
            head = {"seq": None, "hash": None}  # an edited head: verify reports it
        return sorted((k, v) for k, v in tags.items() if k.startswith(ENTRY_PREFIX)), head

    def write_entry(self, seq: int, text: str, entry_hash: str) -> None:
        self._ensure_audit_model()
        self.registry._call("append audit entry", self.client.set_registered_model_tag, self.audit_name,
                            f"{ENTRY_PREFIX}{seq:06d}", text)
        self.registry._call("move audit head", self.client.set_registered_model_tag, self.audit_name, HEAD_TAG,
                            json.dumps({"seq": seq, "hash": entry_hash}, sort_keys=True))

    def pending(self) -> dict | None:
        raw = self._audit_tags().get(PENDING_TAG)
        return json.loads(raw) if raw else None

    def set_pending(self, intent: dict) -> None:
        self._ensure_audit_model()
        self.registry._call("write intent", self.client.set_registered_model_tag, self.audit_name, PENDING_TAG,
                            json.dumps(intent, sort_keys=True))

    def clear_pending(self) -> None:
        self.registry._call("clear intent", self.client.delete_registered_model_tag, self.audit_name, PENDING_TAG)

    def _ensure_audit_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.registry._call("create audit", self.client.create_registered_model, self.audit_name,
                                description=f"llmops-ci audit trail of {self.registry.model_name} (hash-chained; "
                                            "verify with `llmops-ci audit verify`)")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    # -- low-level access for tests and repair tools -------------------------------
    def overwrite_entry(self, key: str, text: str) -> None:
        self.registry._call("overwrite audit entry", self.client.set_registered_model_tag, self.audit_name, key, text)

    def delete_entry(self, key: str) -> None:
        self.registry._call("delete audit entry", self.client.delete_registered_model_tag, self.audit_name, key)
