"""The only module that talks to Label Studio (through ``label-studio-sdk`` 2.x).

Every call goes through :meth:`LabelStudioConnection.call`, which retries connection errors,
timeouts, 429 and 5xx answers with exponential backoff and jitter, and turns what is left into
one :class:`LabelStudioError` sentence naming the server (never the key).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from annotate.config import Settings
from annotate.errors import AnnotateError, ConfigError

T = TypeVar("T")

TITLE_LENGTH = (3, 50)  # Label Studio refuses project titles outside this range


class LabelStudioError(AnnotateError):
    """Label Studio refused a request or could not be reached."""


@dataclass
class Retry:
    """Exponential backoff with full jitter: attempt n waits up to ``base * 2**n`` seconds."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass
class LabelStudioConnection:
    """A Label Studio server and an authenticated SDK client for it."""

    url: str
    client: LabelStudio = field(repr=False)
    retry: Retry = field(default_factory=Retry)

    def call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call; ``what`` completes 'Label Studio at URL could not …'.

        Only requests that cannot have reached the server (connection refused) or that are
        safe to repeat (reads) are retried; pass ``idempotent=False`` for writes.
        """
        idempotent = kwargs.pop("idempotent", True)
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                return function(*args, **kwargs)
            except ApiError as error:
                status = error.status_code or 0
                if status in (401, 403):
                    raise LabelStudioError(
                        f"Label Studio at {self.url} refused the API key ({status}) while "
                        f"trying to {what}.",
                        hint="Check LABEL_STUDIO_API_KEY (a personal access token or a legacy "
                        "token from the account page).",
                    ) from None
                if status == 429 or status >= 500:
                    last = error
                else:
                    raise LabelStudioError(
                        f"Label Studio at {self.url} could not {what}: {_detail(error)}."
                    ) from None
            except httpx.ConnectError as error:
                last = error
            except (httpx.TimeoutException, httpx.TransportError) as error:
                if not idempotent:
                    raise LabelStudioError(
                        f"Label Studio at {self.url} did not answer while trying to {what} "
                        f"({type(error).__name__}); it may or may not have done it."
                    ) from None
                last = error
            if attempt + 1 < self.retry.attempts:
                self.retry.sleep(self.retry.delay(attempt))
        raise LabelStudioError(
            f"Label Studio at {self.url} could not {what} after {self.retry.attempts} "
            f"attempts ({_reason(last)})."
        )

    # -------------------------------------------------------------------------- projects

    def create_project(self, **fields: Any) -> dict[str, Any]:
        project = self.call(
            f"create project {fields.get('title')!r}",
            self.client.projects.create,
            idempotent=False,
            **fields,
        )
        return self.get_project(project.id)

    def get_project(self, project_id: int) -> dict[str, Any]:
        project = self.call(f"read project {project_id}", self.client.projects.get, project_id)
        return _as_dict(project)

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        self.call(f"update project {project_id}", self.client.projects.update, project_id, **fields)
        return self.get_project(project_id)

    def delete_project(self, project_id: int) -> None:
        self.call(f"delete project {project_id}", self.client.projects.delete, project_id)

    def whoami(self) -> dict[str, Any]:
        return _as_dict(self.call("say who the API key belongs to", self.client.users.whoami))


def connect(settings: Settings, retry: Retry | None = None) -> LabelStudioConnection:
    """A connection from the settings (``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``)."""
    if not settings.label_studio_url:
        raise ConfigError(
            "No Label Studio server is configured.",
            hint="Set LABEL_STUDIO_URL (or label_studio_url in annotate.toml); "
            "'annotate ls serve' starts a local one.",
        )
    if settings.label_studio_api_key is None:
        raise ConfigError(
            f"No API key for Label Studio at {settings.label_studio_url}.",
            hint="Set LABEL_STUDIO_API_KEY to a personal access token or a legacy token.",
        )
    return connect_to(
        settings.label_studio_url, settings.label_studio_api_key.get_secret_value(), retry
    )


def connect_to(url: str, api_key: str, retry: Retry | None = None) -> LabelStudioConnection:
    url = url.rstrip("/")
    client = LabelStudio(base_url=url, api_key=api_key, timeout=60)
    return LabelStudioConnection(url=url, client=client, retry=retry or Retry())


def _as_dict(model: Any) -> dict[str, Any]:
    if isinstance(model, dict):
        return model
    return model.model_dump() if hasattr(model, "model_dump") else dict(model)


def _detail(error: ApiError) -> str:
    body = error.body
    if isinstance(body, dict):
        problems = body.get("validation_errors") or body.get("detail") or body
        if isinstance(problems, dict):
            return "; ".join(
                f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                for key, value in problems.items()
            )
        return str(problems)
    return f"HTTP {error.status_code}"


def _reason(error: Exception | None) -> str:
    if isinstance(error, ApiError):
        return f"HTTP {error.status_code}"
    if error is None:
        return "no answer"
    return type(error).__name__
