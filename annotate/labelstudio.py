"""The only module that talks to Label Studio (through ``label-studio-sdk`` 2.x).

Every call goes through :meth:`LabelStudioConnection.call`, which retries connection errors,
timeouts, 429 and 5xx answers with exponential backoff and jitter, and turns what is left into
one :class:`LabelStudioError` sentence naming the server (never the key).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import orjson

if TYPE_CHECKING:  # the SDK takes a second to import: only commands that talk to Label Studio do
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

from annotate.config import ENV_VARS, Settings, check_http_url, mask_url
from annotate.errors import AnnotateError, ConfigError

T = TypeVar("T")

TITLE_LENGTH = (3, 50)  # Label Studio refuses project titles outside this range
EXPORT_IDS = 500  # task ids per export request (they travel in the query string)


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
        from label_studio_sdk.core.api_error import ApiError

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

    def users(self) -> dict[int, dict[str, Any]]:
        """Every user the key can see, by id (for annotators' emails)."""
        users = self.call("list users", self.client.users.list)
        return {user.id: _as_dict(user) for user in users}

    def ensure_user(self, email: str, username: str | None = None) -> int:
        """The id of the user with this email, created (without a password) if missing."""
        for user_id, user in self.users().items():
            if user.get("email") == email:
                return user_id
        user = self.call(
            f"create user {email}",
            self.client.users.create,
            username=username or email.split("@")[0],
            email=email,
            idempotent=False,
        )
        return user.id

    def create_annotation(
        self,
        task_id: int,
        result: list[dict[str, Any]],
        completed_by: int | None = None,
        lead_time: float | None = None,
        was_cancelled: bool = False,
    ) -> int:
        """An annotation on a task; with an admin key, on behalf of another user."""
        extra: dict[str, Any] = {"result": result, "was_cancelled": was_cancelled}
        if completed_by is not None:
            extra["completed_by"] = completed_by
        if lead_time is not None:
            extra["lead_time"] = lead_time
        annotation = self.call(
            f"annotate task {task_id}",
            self.client.annotations.create,
            task_id,
            idempotent=False,
            **extra,
        )
        return annotation.id

    # ----------------------------------------------------------------------------- tasks

    def _request(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw API request through the SDK's authenticated client (same retries, errors)."""

        from label_studio_sdk.core.api_error import ApiError

        def send() -> httpx.Response:
            response = self.client._client_wrapper.httpx_client.request(
                path, method=method, **kwargs
            )
            if response.status_code >= 400:
                try:
                    body = response.json()
                except ValueError:
                    body = response.text[:500]
                raise ApiError(
                    status_code=response.status_code, headers=dict(response.headers), body=body
                )
            return response

        return self.call(what, send, idempotent=method == "GET")

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks in one request; returns their ids in the order given."""
        response = self._request(
            f"import {len(tasks)} tasks into project {project_id}",
            "POST",
            f"api/projects/{project_id}/import",
            params={"return_task_ids": "true"},
            # Encoded here: the SDK's generic encoder walks every value (2x slower on tasks).
            content=orjson.dumps(tasks),
            headers={"Content-Type": "application/json"},
        )
        ids = response.json().get("task_ids")
        if ids is None or len(ids) != len(tasks):
            raise LabelStudioError(
                f"Label Studio at {self.url} did not return the ids of the imported tasks."
            )
        return ids

    def list_tasks(
        self,
        project_id: int,
        include: tuple[str, ...] = ("id", "updated_at"),
        *,
        updated_after: datetime | None = None,
        id_above: int | None = None,
        page_size: int = 10_000,
    ) -> list[dict[str, Any]]:
        """The project's tasks with only the ``include`` fields (fewer fields, faster answer),
        optionally only those changed after a moment or with an id above a number (Label
        Studio's data-manager filters)."""
        filters = []
        if updated_after is not None:
            value = updated_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            filters.append(("updated_at", "Datetime", value))
        if id_above is not None:
            filters.append(("id", "Number", id_above))
        params: dict[str, Any] = {
            "project": project_id,
            "fields": "task_only",
            "include": ",".join(include),
            "page_size": page_size,
        }
        if filters:
            items = [
                {"filter": f"filter:tasks:{name}", "operator": "greater", "type": kind, "value": at}
                for name, kind, at in filters
            ]
            params["query"] = json.dumps({"filters": {"conjunction": "and", "items": items}})
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._request(
                f"list the tasks of project {project_id}",
                "GET",
                "api/tasks",
                params={**params, "page": page},
            ).json()
            tasks = body.get("tasks", [])
            found += tasks
            # Label Studio answers 404 for a page past the end, so stop at its total.
            if not tasks or len(found) >= int(body.get("total", len(found))):
                return found
            page += 1

    def task_ids(
        self, project_id: int, updated_after: datetime | None = None
    ) -> list[tuple[int, datetime, dict[str, Any]]]:
        """``(id, updated_at, data)`` of the project's tasks, optionally only those changed
        after a moment."""
        tasks = self.list_tasks(
            project_id, ("id", "updated_at", "data"), updated_after=updated_after
        )
        return [
            (task["id"], parse_time(task["updated_at"]), task.get("data") or {}) for task in tasks
        ]

    def count_tasks(self, project_id: int) -> int:
        """How many tasks the project has (one cheap request)."""
        body = self._request(
            f"count the tasks of project {project_id}",
            "GET",
            "api/tasks",
            params={"project": project_id, "fields": "task_only", "include": "id", "page_size": 1},
        ).json()
        return int(body["total"])

    def delete_tasks(self, project_id: int, task_ids: list[int]) -> None:
        """Delete tasks (and whatever they hold) from a project, in one request."""
        if not task_ids:
            return
        self._request(
            f"delete {len(task_ids)} tasks of project {project_id}",
            "POST",
            "api/dm/actions",
            params={"id": "delete_tasks", "project": project_id},
            json={"selectedItems": {"all": False, "included": list(task_ids)}},
        )

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        """Attach predictions (each with ``task``, ``result``, ``score``, ``model_version``) to
        the project's tasks in one request; returns how many Label Studio created."""
        if not predictions:
            return 0
        response = self._request(
            f"import {len(predictions)} predictions into project {project_id}",
            "POST",
            f"api/projects/{project_id}/import/predictions",
            content=orjson.dumps(predictions),
            headers={"Content-Type": "application/json"},
        )
        return int(response.json().get("created", len(predictions)))

    def task_overlaps(self, project_id: int) -> dict[int, int]:
        """Each task's ``overlap``: how many annotators Label Studio will ask for it (above 1:
        the overlap cohort used for agreement)."""
        tasks = self.list_tasks(project_id, ("id", "overlap"))
        return {task["id"]: int(task.get("overlap") or 1) for task in tasks}

    def set_overlap(self, task_id: int, overlap: int) -> None:
        """Ask Label Studio for ``overlap`` annotators on a task (it serves the task again
        until that many have annotated it)."""
        self._request(
            f"set the overlap of task {task_id}",
            "PATCH",
            f"api/tasks/{task_id}",
            json={"overlap": overlap},
        )

    def export(self, project_id: int, task_ids: list[int] | None = None) -> list[dict[str, Any]]:
        """Tasks with their annotations through the JSON export endpoint (much faster than
        paging the tasks API); tasks without annotations are included too."""
        params: dict[str, Any] = {"exportType": "JSON", "download_all_tasks": "true"}
        if task_ids is not None:
            params["ids[]"] = task_ids
        response = self._request(
            f"export project {project_id}",
            "GET",
            f"api/projects/{project_id}/export",
            params=params,
            request_options={"timeout_in_seconds": 900},
        )
        return response.json()

    def export_by_id(
        self, project_id: int, task_ids: list[int], per_request: int = EXPORT_IDS
    ) -> list[dict[str, Any]]:
        """:meth:`export` of these tasks, ``per_request`` ids at a time (they travel in the
        query string); tasks no longer there are left out."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(task_ids), per_request):
            found += self.export(project_id, task_ids[start : start + per_request])
        return found


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
            f"No API key for Label Studio at {mask_url(settings.label_studio_url)}.",
            hint="Set LABEL_STUDIO_API_KEY to a personal access token or a legacy token.",
        )
    return connect_to(
        settings.label_studio_url, settings.label_studio_api_key.get_secret_value(), retry
    )


def connect_to(url: str, api_key: str, retry: Retry | None = None) -> LabelStudioConnection:
    """A connection to the Label Studio at ``url``, checked before any request (a URL no
    request can use is one :class:`ConfigError`, not five failed attempts). The connection's
    ``url``, which its messages quote, has any password in it masked."""
    from label_studio_sdk import LabelStudio

    url = check_http_url(url, ENV_VARS["label_studio_url"]).rstrip("/")
    # The SDK's own retries are off: Retry above is the one policy.
    client = LabelStudio(base_url=url, api_key=api_key, timeout=120, max_retries=0)
    return LabelStudioConnection(url=mask_url(url), client=client, retry=retry or Retry())


def parse_time(value: str | None) -> datetime | None:
    """Label Studio's ISO times (``...Z``) as aware datetimes."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


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
            ).rstrip(".")
        return str(problems).rstrip(".")
    return f"HTTP {error.status_code}"


def _reason(error: Exception | None) -> str:
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(error, ApiError):
        return f"HTTP {error.status_code}"
    if error is None:
        return "no answer"
    return type(error).__name__
