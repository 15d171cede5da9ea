"""Settings and the workspace.

Precedence, highest first: a CLI option (passed to :func:`load_settings` as a keyword), an
environment variable, ``annotate.toml`` in the workspace folder, the default.

The workspace folder (``.annotate/`` in the current folder unless set) holds the SQLite
database, ``annotate.toml`` and the pseudonymisation secret. Outputs (reports, rejects, the
local dataset registry) go under ``exports/`` beside it.

Relative paths: the workspace itself is relative to the current folder. The paths it holds or
implies (``exports``, ``registry``, a relative ``sqlite:///`` database) are relative to the
folder that *contains the workspace* when they come from ``annotate.toml`` or the defaults, so
``--workspace W`` gives the same paths from any current folder. A path typed as a CLI option or
an environment variable is relative to the current folder, as any path typed at a prompt is.
Absolute paths stay as given.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import os
import re
import secrets
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

from annotate.errors import ConfigError

DEFAULT_WORKSPACE = Path(".annotate")
CONFIG_FILE = "annotate.toml"
SECRET_FILE = "secret.key"
DATABASE_FILE = "annotate.db"

#: The environment variable that sets each setting.
ENV_VARS: dict[str, str] = {
    "workspace": "ANNOTATE_WORKSPACE",
    "database_url": "ANNOTATE_DATABASE_URL",
    "label_studio_url": "LABEL_STUDIO_URL",
    "label_studio_api_key": "LABEL_STUDIO_API_KEY",
    "hf_endpoint": "HF_ENDPOINT",
    "hf_token": "HF_TOKEN",
    "exports": "ANNOTATE_EXPORTS",
    "registry": "ANNOTATE_REGISTRY",
}

_toml_values: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "annotate_toml_values", default=None
)


class Settings(BaseSettings):
    """Effective settings. Build them with :func:`load_settings`, not directly."""

    # An empty environment variable counts as unset (ANNOTATE_EXPORTS= clears it).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    workspace: Path = Field(
        DEFAULT_WORKSPACE, validation_alias=AliasChoices("workspace", ENV_VARS["workspace"])
    )
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("database_url", ENV_VARS["database_url"])
    )
    label_studio_url: str | None = Field(
        None, validation_alias=AliasChoices("label_studio_url", ENV_VARS["label_studio_url"])
    )
    label_studio_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("label_studio_api_key", ENV_VARS["label_studio_api_key"]),
    )
    hf_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("hf_endpoint", ENV_VARS["hf_endpoint"])
    )
    hf_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("hf_token", ENV_VARS["hf_token"])
    )
    exports: Path = Field(
        Path("exports"), validation_alias=AliasChoices("exports", ENV_VARS["exports"])
    )
    registry: Path | None = Field(
        None, validation_alias=AliasChoices("registry", ENV_VARS["registry"])
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlValues(settings_cls))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.workspace / DATABASE_FILE).as_posix()}"

    @property
    def effective_registry(self) -> Path:
        return self.registry if self.registry is not None else self.exports / "registry"


class _TomlValues(PydanticBaseSettingsSource):
    """Values read from the workspace's ``annotate.toml`` by :func:`load_settings`."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_toml_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_values.get() or {})


SECRET_SETTINGS = ("label_studio_api_key", "hf_token")
URL_SETTINGS = ("database_url", "label_studio_url", "hf_endpoint")  # may hold a password
TOML_SETTINGS = tuple(name for name in ENV_VARS if name != "workspace")


def read_config_file(path: Path) -> dict[str, Any]:
    """Read ``annotate.toml``; unknown keys and syntax errors are one clear error."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error}).") from None
    unknown = sorted(set(values) - set(TOML_SETTINGS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting {unknown[0]!r}.",
            hint=f"Known settings: {', '.join(TOML_SETTINGS)}.",
        )
    return values


def load_settings(**options: Any) -> Settings:
    """Settings from CLI ``options`` (``None``: not given), env, ``annotate.toml``, defaults."""
    given = {name: value for name, value in options.items() if value is not None}
    workspace = Path(
        given.get("workspace") or os.environ.get(ENV_VARS["workspace"]) or DEFAULT_WORKSPACE
    )
    toml = read_config_file(workspace / CONFIG_FILE)
    token = _toml_values.set(toml)
    try:
        settings = Settings(**{**given, "workspace": workspace})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"Setting {where!r} is invalid: {first['msg']}.") from None
    finally:
        _toml_values.reset(token)
    # Typed where the user stands: relative to the current folder.
    typed = {name for name in ENV_VARS if name in given or os.environ.get(ENV_VARS[name])}
    return _beside_workspace(settings, typed)


def _beside_workspace(settings: Settings, typed: set[str]) -> Settings:
    """Relative paths from annotate.toml or the defaults, resolved against the folder that
    contains the workspace (see the module docstring)."""
    base = settings.workspace.parent
    updates: dict[str, Any] = {}
    for name in ("exports", "registry"):
        value = getattr(settings, name)
        if value is not None and name not in typed and not value.is_absolute():
            updates[name] = base / value
    if settings.database_url and "database_url" not in typed:
        url = make_url(settings.database_url)
        database = url.database
        relative = database and database != ":memory:" and not Path(database).is_absolute()
        if url.get_backend_name() == "sqlite" and relative:
            resolved = url.set(database=(base / database).as_posix())
            updates["database_url"] = resolved.render_as_string(hide_password=False)
    return settings.model_copy(update=updates) if updates else settings


def setting_sources(settings: Settings, options: Mapping[str, Any]) -> dict[str, str]:
    """Where each setting came from: ``option``, ``env …``, ``annotate.toml`` or ``default``."""
    toml = read_config_file(settings.workspace / CONFIG_FILE)
    sources = {}
    for name, env_var in ENV_VARS.items():
        if options.get(name) is not None:
            sources[name] = "option"
        elif os.environ.get(env_var):
            sources[name] = f"env {env_var}"
        elif name in toml:
            sources[name] = CONFIG_FILE
        else:
            sources[name] = "default"
    return sources


def settings_report(settings: Settings, options: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every effective setting and where it came from (``options``: what the CLI was given),
    as ``{name: {"value", "source"}}``; secrets and passwords in URLs are masked."""
    sources = setting_sources(settings, options)
    values: dict[str, str | None] = {}
    for name in ENV_VARS:
        value = getattr(settings, name)
        if name in SECRET_SETTINGS:
            values[name] = "********" if value is not None else None
        elif name == "database_url":
            values[name] = mask_url(settings.effective_database_url)
        elif name in URL_SETTINGS:
            values[name] = None if value is None else mask_url(value)
        elif name == "registry":
            values[name] = str(settings.effective_registry)
        else:
            values[name] = None if value is None else str(value)
    secret = settings.workspace / SECRET_FILE
    values["pseudonym_secret"] = "******** " + (
        f"({secret})" if secret.exists() else "(created on first use)"
    )
    sources["pseudonym_secret"] = "workspace"
    return {name: {"value": values[name], "source": sources[name]} for name in values}


# ``[scheme://]user:password@rest``; a password runs to the last @, so that one holding an
# unescaped @ or / is hidden whole (what follows may then be shown wrongly, never the secret).
_USERINFO = re.compile(
    r"^(?P<head>(?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?(?P<user>[^:@/]*):(?P<password>.*)@"
)
_SECRET_QUERY = re.compile(r"([?&;](?:password|passwd|pwd|token|api_key|key|secret)=)[^&;#]*", re.I)


def mask_url(url: str) -> str:
    """The URL with any password (and a password or token in its query) replaced by ``***``;
    the user name stays, it says which account.

    >>> mask_url("http://admin:pa55@ls.example:8080/x?token=abc&page=2")
    'http://admin:***@ls.example:8080/x?token=***&page=2'
    >>> mask_url("postgresql+psycopg://me:p@ss/word@db/annotate")
    'postgresql+psycopg://me:***@db/annotate'
    """
    masked = _USERINFO.sub(lambda match: f"{match['head'] or ''}{match['user']}:***@", url)
    return _SECRET_QUERY.sub(r"\1***", masked)


def url_passwords(*urls: str | None) -> list[str]:
    """The passwords written in ``urls`` (to keep them out of messages quoting a server)."""
    matches = (_USERINFO.match(url or "") for url in urls)
    return [match["password"] for match in matches if match and match["password"]]


def hide_passwords(text: str, *urls: str | None) -> str:
    """``text`` (a library's error message, say) with the passwords of ``urls`` masked."""
    for password in url_passwords(*urls):
        text = text.replace(password, "***")
    return text


def check_http_url(url: str, variable: str) -> str:
    """``url`` if a client can use it: http or https, with a host (and a valid port); else one
    :class:`ConfigError` saying what is wrong, and the fix, naming the setting ``variable``.

    Checked once, before any request: a URL without a scheme otherwise fails every attempt
    of every request (httpx's UnsupportedProtocol), retried as if the server were down.
    """
    shown = mask_url(url)
    parts = urlsplit(url)
    example = f"{variable}=http://HOST:PORT, e.g. http://127.0.0.1:8080"
    if parts.scheme.lower() not in ("http", "https"):
        if "://" not in url:
            raise ConfigError(
                f"{variable} {shown!r} has no scheme.",
                hint=f"Write it with one: {variable}=http://{shown} (or https://).",
            )
        raise ConfigError(
            f"{variable} {shown!r} uses {parts.scheme}://; the server is reached over http:// "
            "or https://.",
            hint=f"Write it as http:// or https://: {example}.",
        )
    if not parts.hostname:
        raise ConfigError(f"{variable} {shown!r} names no host.", hint=f"Set {example}.")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ConfigError(
            f"{variable} {shown!r} has an invalid port.", hint=f"Set {example}."
        ) from None
    return url


@dataclass(frozen=True)
class WorkspaceFolder:
    """An opened workspace folder: where the database, config and secret live."""

    settings: Settings

    @property
    def path(self) -> Path:
        return self.settings.workspace

    @property
    def database_url(self) -> str:
        return self.settings.effective_database_url

    @property
    def secret_path(self) -> Path:
        return self.path / SECRET_FILE

    def secret(self) -> bytes:
        """The workspace's pseudonymisation key, created (mode 0600) on first use."""
        return _read_or_create_secret(self.secret_path)

    def pseudonymise(self, value: str, kind: str = "annotator") -> str:
        """A stable keyed hash of ``value`` (an email, a user id, an account id)."""
        digest = hmac.new(self.secret(), f"{kind}:{value}".encode(), hashlib.sha256)
        return f"{kind[:3]}-{digest.hexdigest()[:12]}"


CONFIG_TEMPLATE = """\
# annotate settings for this workspace. Environment variables and CLI options override these.
# database_url = "postgresql+psycopg://user@host/annotate"   # default: SQLite in this folder
# label_studio_url = "http://127.0.0.1:8080"                  # env LABEL_STUDIO_URL
# keep keys out of this file: set LABEL_STUDIO_API_KEY and HF_TOKEN in the environment
# hf_endpoint = "https://huggingface.co"                      # env HF_ENDPOINT
# exports = "exports"                                         # reports, rejects, registry
# registry = "exports/registry"                               # local dataset registry
"""


def ensure_workspace(settings: Settings) -> bool:
    """Create the workspace folder, its config template and secret; True if it was new."""
    path = settings.workspace
    created = not path.exists()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"Workspace {path} exists but is not a folder.")
    path.mkdir(parents=True, exist_ok=True)
    gitignore = path / ".gitignore"
    if not gitignore.exists():
        # The database and the secret must never be committed by accident.
        gitignore.write_text("*\n")
    config = path / CONFIG_FILE
    if not config.exists():
        config.write_text(CONFIG_TEMPLATE)
    _read_or_create_secret(path / SECRET_FILE)
    return created


def _read_or_create_secret(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key.encode()


def _read_secret(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"The secret {path} can be read by other users (mode {mode:o}).",
            hint=f"Run: chmod 600 {path}",
        )
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"The secret {path} is too short or empty.")
    return key.encode()
