"""qabot's settings: environment variables (prefix ``QABOT_``) and an optional ``.env`` file."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from config.errors import SettingsError

ENV_PREFIX = "QABOT_"
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_index_dir() -> Path:
    """Return the per-user default index folder (``$XDG_DATA_HOME/qabot/index``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qabot" / "index"


def _split_list(value: Any) -> Any:
    """Accept a JSON list, or a comma-separated string, for list fields."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list ({exc.msg})") from exc
            except RecursionError:
                raise ValueError("not a valid JSON list (nested too deeply)") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


_REFERENCE = re.compile(r"\$\{([^}:]+)")
_UNSET = object()
# The .env file one Settings(...) reads (its ``_env_file``), for OwnLinesDotEnv: the stock
# source is given none, since it would read every line of the file.
_ENV_FILE: ContextVar[Any] = ContextVar("qabot_env_file", default=_UNSET)


def _own_variable(name: str) -> bool:
    upper = name.upper()
    return upper.startswith(ENV_PREFIX) or upper == "DISCORD_TOKEN"


class OwnLinesDotEnv(DotEnvSettingsSource):
    """A ``.env`` read for qabot's own variables only: the ``QABOT_`` ones and
    ``DISCORD_TOKEN``, with the variables their ``${NAME}`` refer to (and theirs in turn).
    python-dotenv resolves ``${NAME}`` on every line against a copy of the whole environment
    and of every line before it, which grows with the square of the lines (20,000 lines of
    other tools' variables: 8 s); qabot resolves only what it reads."""

    def _read_env_file(self, file_path: Path) -> Mapping[str, str | None]:
        from dotenv.main import resolve_variables
        from dotenv.parser import parse_stream

        with open(file_path, encoding=self.env_file_encoding or "utf-8") as fh:
            pairs = [(b.key, b.value) for b in parse_stream(fh) if b.key is not None]
        wanted = {k for k, _ in pairs if _own_variable(k)}
        while True:
            more = {ref for k, v in pairs if k in wanted and v
                    for ref in _REFERENCE.findall(v)} - wanted
            if not more:
                break
            wanted |= more
        values = resolve_variables([(k, v) for k, v in pairs if k in wanted], override=True)
        return parse_env_vars({k: v for k, v in values.items() if _own_variable(k)},
                              self.case_sensitive, self.env_ignore_empty,
                              self.env_parse_none_str)


class Settings(BaseSettings):
    """Every knob qabot has; see ``.env.example`` for the documented list."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        # Only qabot's own variables are read from .env (OwnLinesDotEnv, below): the others,
        # which qabot ignores anyway, cost pydantic-settings about 1 ms a line to rule out and
        # python-dotenv time that grows with the square of the lines.
        dotenv_filtering="only_existing",
        extra="ignore",
        validate_default=True,
    )

    def __init__(self, **values: Any) -> None:
        token = _ENV_FILE.set(values.pop("_env_file", self.model_config.get("env_file")))
        try:
            super().__init__(_env_file=None, **values)
        finally:
            _ENV_FILE.reset(token)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env_file = _ENV_FILE.get()
        own = OwnLinesDotEnv(settings_cls,
                             env_file=None if env_file is _UNSET else env_file)
        return init_settings, env_settings, own, file_secret_settings

    # --- engine ---
    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        description="sentence-transformers model name or local path; "
        "'all-MiniLM-L6-v2' is the bundled offline copy",
    )
    index_dir: Path = Field(default_factory=default_index_dir)
    sources: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="files/folders to index; empty = the built-in article",
    )
    top_k: int = Field(3, ge=1, le=50)
    reranker: str = Field(
        "bundled",
        min_length=1,
        description="'bundled' (qabot's own, offline), 'none', or a CrossEncoder name or path",
    )
    rerank_depth: int = Field(10, ge=1, le=50)
    answer_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="confidence (a probability) from which qabot answers; "
        "unset or empty = the calibrated default",
    )
    likely_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="confidence (a probability) from which qabot gives its best passage as "
        "a likely answer, saying it is not sure (below it: 'unknown'); unset or empty = the "
        "calibrated default",
    )
    runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="how the bundled models run: 'auto' = ONNX Runtime (no torch on the "
        "question path), 'torch' = sentence-transformers; other models always run on torch",
    )
    threads: int | None = Field(
        None, ge=1, le=256,
        description="CPU threads for the models and FAISS; unset or empty = 1 when "
        "answering, every core when building or answering a --batch",
    )
    context_window: int = Field(1, ge=0, le=10)
    batch_size: int = Field(64, ge=1, le=4096)
    faiss_index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    mmap: bool = Field(False, description="memory-map large FAISS indexes on load")
    # --- the vector store (docs/scaling.md) ---
    store: Literal["faiss", "milvus"] = Field(
        "faiss",
        description="where the vectors live: 'faiss' (a file in the index folder) or 'milvus' "
        "(a Milvus collection; the units and the lexical model stay in the index folder)",
    )
    milvus_uri: str | None = Field(
        None,
        description="a Milvus server (http://host:19530) or a milvus-lite file (*.db); unset "
        "or empty = beside the index folder, <index_dir>-milvus.db",
    )
    milvus_token: SecretStr | None = Field(
        None, description="the Milvus token ('user:password' or an API key); never logged")
    milvus_collection: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,180}$",
        description="the alias readers follow; unset or empty = qabot_<index folder name>_"
        "<hash of its path>",
    )
    milvus_timeout: float = Field(10.0, gt=0.0, le=600.0,
                                  description="seconds to wait for the Milvus server")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    # --- Discord ---
    discord_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QABOT_DISCORD_TOKEN", "DISCORD_TOKEN")
    )
    discord_prefix: str = Field("!", min_length=1, max_length=5)
    discord_message_content: bool = False
    discord_guild_id: int | None = Field(None, ge=0)
    discord_admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    discord_cooldown_seconds: float = Field(5.0, ge=0.0, le=3600.0)
    discord_max_question_chars: int = Field(500, ge=10, le=4000)
    conversation_idle: float = Field(
        300.0, ge=0.0, le=86_400.0,
        description="seconds (or a duration: 90s, 5m, 1h) after which a Discord "
        "conversation's earlier questions are forgotten; 0 = every question stands alone",
    )
    discord_shards: str | None = Field(
        None, pattern=r"^\s*(auto|\d+|\d+(\s*,\s*\d+)*\s*/\s*\d+)\s*$",
        description="run sharded (AutoShardedBot): 'auto' (Discord's recommended count), "
        "N (all N shards in this process) or 'I,J/N' (this process's shard ids of N); unset "
        "or empty = one connection",
    )
    discord_votes_file: Path | None = Field(
        None,
        description="where the 👍/👎 votes on answers are appended (JSONL, read by `qabot "
        "eval`); unset or empty = beside the index, <index_dir>-votes.jsonl",
    )

    @property
    def votes_path(self) -> Path:
        """The vote file: the setting, else beside the index folder, not inside it (a
        rebuild replaces the folder, and the votes must outlive it); but inside an index
        folder that is a mount point, which a rebuild leaves in place, since beside it is
        off the volume."""
        if self.discord_votes_file is not None:
            return self.discord_votes_file
        if os.path.ismount(self.index_dir):
            return self.index_dir / "votes.jsonl"
        return self.index_dir.with_name(self.index_dir.name + "-votes.jsonl")

    @property
    def milvus_target(self) -> str:
        """Where the Milvus store lives: the setting, else a milvus-lite file beside the index
        folder (inside it when it is a mount point), as for the votes."""
        if self.milvus_uri:
            return self.milvus_uri
        if os.path.ismount(self.index_dir):
            return str(self.index_dir / "milvus.db")
        return str(self.index_dir.with_name(self.index_dir.name + "-milvus.db"))

    @property
    def shards(self) -> tuple[int | None, list[int] | None] | None:
        """``QABOT_DISCORD_SHARDS`` as (shard count, this process's shard ids): None unset,
        (None, None) for 'auto', (N, None) for all N here, (N, [I, J]) for some of N."""
        text = (self.discord_shards or "").replace(" ", "")
        if not text:
            return None
        if text == "auto":
            return None, None
        if "/" not in text:
            return int(text), None
        ids, count = text.split("/")
        return int(count), sorted({int(i) for i in ids.split(",")})

    @field_validator("sources", "discord_admin_ids", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("index_dir", "sources", "discord_votes_file", "model", "reranker",
                     "milvus_uri", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """A NUL byte ends a path for the OS (a .env can hold one; the environment cannot)."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\0" in t for t in texts):
            raise ValueError("holds a NUL byte (\\0), which no path or name can")
        return value

    @field_validator("index_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty (unset it for the default folder)")
        return value

    @field_validator("index_dir", "sources", "discord_votes_file")
    @classmethod
    def _home(cls, value: Any) -> Any:
        """``~`` and ``~user`` mean a home folder, as in a shell (a setting is not expanded
        by one: QABOT_INDEX_DIR='~/x' in .env or quoted)."""
        try:
            if isinstance(value, Path):
                return value.expanduser()
            if isinstance(value, list):
                return [p.expanduser() if isinstance(p, Path) else p for p in value]
        except RuntimeError as exc:  # no home folder to expand to
            raise ValueError(str(exc)) from None
        return value

    @field_validator("milvus_uri")
    @classmethod
    def _milvus_uri(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme in {"http", "https", "tcp", "grpc", "unix"} or (not scheme
                                                                  and value.endswith(".db")):
            return value
        raise ValueError("must be a Milvus server (http://host:19530, https://…) or a "
                         "milvus-lite file ending in .db")

    @field_validator("discord_shards")
    @classmethod
    def _shards(cls, value: str | None) -> str | None:
        text = (value or "").replace(" ", "")
        if not text or text == "auto":
            return value
        count = int(text.rsplit("/", 1)[-1])
        if not 1 <= count <= 10_000:
            raise ValueError("the shard count must be 1 to 10000")
        if "/" in text and any(int(i) >= count for i in text.split("/")[0].split(",")):
            raise ValueError(f"a shard id must be below the shard count {count}")
        return value

    @field_validator("conversation_idle", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("answer_threshold", "likely_threshold", "threads", "discord_votes_file",
                     "milvus_uri", "milvus_token", "milvus_collection", "discord_shards",
                     mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|"
                       r"h|hours?)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | str:
    """Seconds from "300", "90s", "5m", "1.5h"; anything else is returned as it is, for
    the field's own validation to refuse with its message."""
    match = _DURATION.match(text)
    if match is None:
        return text
    unit = (match.group(2) or "s")[0].lower()
    return float(match.group(1)) * _UNIT_SECONDS[unit]


def _describe(field: str) -> str:
    info = Settings.model_fields[field]
    limits = {}
    for meta in info.metadata:
        for attr in ("ge", "le", "gt", "lt", "min_length", "max_length"):
            if getattr(meta, attr, None) is not None:
                limits[attr] = getattr(meta, attr)
    if "ge" in limits and "le" in limits:
        return f"allowed: {limits['ge']} to {limits['le']}"
    args = getattr(info.annotation, "__args__", None)
    if args and all(isinstance(a, str) for a in args):
        return "allowed: " + ", ".join(args)
    return ""


def env_name(field: str) -> str:
    """Return the environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


def check_env_files(env_file: Any) -> None:
    """Refuse a ``.env`` that is a FIFO, before pydantic-settings reads it.

    pydantic-settings reads a FIFO (for secrets piped in), and waits, forever, for a writer
    that may never come: a settings error (exit 2) at once is clearer than a hang. A real
    file, a missing one and a link to a file are read (or skipped) as before.
    """
    files = [env_file] if isinstance(env_file, str | os.PathLike) else list(env_file or ())
    for name in files:
        path = Path(name).expanduser()
        try:
            is_fifo = stat.S_ISFIFO(path.stat().st_mode)
        except OSError:  # missing (or unreachable): pydantic-settings skips it
            continue
        if is_fifo:
            raise SettingsError(f"cannot read {path.absolute()}: it is a FIFO (a named pipe), "
                                f"not a file; replace it with a file, or set the variables "
                                f"in the environment")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning a validation error into one readable line."""
    check_env_files(overrides.get("_env_file", Settings.model_config.get("env_file")))
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:
        env_file = Path(str(overrides.get("_env_file") or ".env"))
        raise SettingsError(f"cannot read {env_file.absolute()}: not UTF-8 text (byte "
                            f"0x{exc.object[exc.start]:02x} at offset {exc.start}); save it "
                            f"as UTF-8") from None
    except OSError as exc:  # the only file read here: .env (unreadable, a folder, …)
        env_file = Path(exc.filename or str(overrides.get("_env_file") or ".env"))
        raise SettingsError(f"cannot read {env_file.absolute()}: {exc.strerror or exc}; make "
                            f"it readable, or set the variables in the environment") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        if field in {"QABOT_DISCORD_TOKEN", "DISCORD_TOKEN"}:
            field = "discord_token"
        name = env_name(field) if field in Settings.model_fields else field
        allowed = _describe(field) if field in Settings.model_fields else ""
        msg = err["msg"]
        suffix = f" ({allowed})" if allowed else ""
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise SettingsError(f"invalid setting {name}: {msg}{suffix}{more}") from None
