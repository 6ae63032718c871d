"""The vector store on Milvus (``QABOT_STORE=milvus``), through pymilvus' ``MilvusClient``.

Only the vectors move: the units, the documents and the lexical model stay in the index
folder (docs/scaling.md says why), whose manifest names the collection that holds its
vectors. A collection has two fields, ``id`` (INT64, the unit's position, primary key) and
``vector`` (FLOAT_VECTOR), searched by inner product (= cosine: the vectors are normalised)
with the index kind FAISS would use for the same size (``base.choose_kind``).

Collections and the alias. A build writes a new collection, ``<alias>_v<time>_<pid>``, and
only when it is complete (every row counted) points the alias at it and switches the index
folder (index/storage/versions.py); the collections older than the live one are then dropped. The
alias is what other tools and operators follow; a reader follows the index folder's
manifest instead, so that its units and its vectors always come from the same build. A
reader whose collection was dropped under it (a rebuild elsewhere switched) gets
:class:`StoreSwitched`, and the engine loads the new index and asks again.

pymilvus is imported only here, and only when a Milvus store is configured or read: the
FAISS default does not pay for it. A ``*.db`` URI is milvus-lite, the embedded engine,
which one process at a time may open (a lock file); several processes share one through
``milvus-lite server`` or a real Milvus, a URI away.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from index.errors import IndexLoadError, StoreError, StoreSwitched
from index.storage.stores.base import (
    EXACT_RANGE_LIMIT,
    choose_kind,
    hnsw_params,
    ivf_params,
    range_boost,
    scaled_probes,
)

if TYPE_CHECKING:
    import numpy as np
    from pydantic import SecretStr

    from config import Settings

log = logging.getLogger(__name__)

# Rows per insert: 2,000 384-d vectors are about 3 MB, well under gRPC's 64 MB message limit.
WRITE_BATCH = 2_000
# Ids per query when reading vectors back (Milvus returns at most 16,384 rows a query).
READ_BATCH = 8_192
MILVUS_KINDS = {"flat": "FLAT", "ivf": "IVF_FLAT", "hnsw": "HNSW"}
_VERSION = re.compile(r"_v\d{8}T\d{12}_\d+$")
INSTALL_HINT = "QABOT_STORE=milvus needs pymilvus: pip install 'qabot[milvus]'"


@dataclass(frozen=True)
class MilvusConfig:
    """Where the Milvus store is and how to reach it (from the settings)."""

    uri: str
    token: SecretStr | None = field(default=None, repr=False)
    alias: str | None = None  # None: derived from the index folder (alias_for)
    timeout: float = 10.0

    @property
    def shown(self) -> str:
        """The URI for people and logs: without credentials in it."""
        return shown_uri(self.uri)

    @property
    def is_lite(self) -> bool:
        """True for a milvus-lite file (a path ending in .db), which one process may open."""
        return "://" not in self.uri and self.uri.endswith(".db")

    def alias_for(self, target: Path) -> str:
        """The alias of the index managed at ``target``: the setting, else the folder's name
        (Milvus' letters, digits and _) and a hash of its path, so that two index folders
        sharing one Milvus never meet."""
        if self.alias:
            return self.alias
        name = re.sub(r"[^A-Za-z0-9_]", "_", target.name if target.name != "current"
                      else target.parent.name)[:60]
        digest = hashlib.blake2b(str(target).encode(), digest_size=4).hexdigest()
        return f"qabot_{name}_{digest}"


def milvus_config(settings: Settings) -> MilvusConfig | None:
    """The Milvus store the settings configure, or None for FAISS (the default)."""
    if settings.store != "milvus":
        return None
    return MilvusConfig(uri=settings.milvus_target, token=settings.milvus_token,
                        alias=settings.milvus_collection, timeout=settings.milvus_timeout)


def shown_uri(uri: str) -> str:
    """``uri`` without a user name or password in it (``http://u:p@h`` -> ``http://h``)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _reason(exc: BaseException, config: MilvusConfig) -> str:
    """What went wrong, in one line, with no secret in it."""
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    secrets = [config.token.get_secret_value()] if config.token is not None else []
    if config.uri != config.shown:  # credentials in the URI
        secrets += [config.uri, urlsplit(config.uri).password or ""]
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line[:200]


# --- connecting ----------------------------------------------------------------------------
_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _pymilvus() -> Any:
    """Import pymilvus, quietened: its errors reach the user as qabot's one line."""
    try:
        import pymilvus
    except ImportError:
        raise StoreError(INSTALL_HINT) from None
    # Both log tracebacks (with their own handler) of what qabot reports as one line, and
    # pymilvus' connection logs are no place for a token: silenced. milvus-lite serves
    # gRPC in this process, and grpc's server logs an 8-line traceback at ERROR for each
    # call it does not implement (AllocTimestamp, which pymilvus tries first on every
    # flush, then does without): silenced too, as nothing qabot can act on.
    for name in ("pymilvus", "milvus_lite", "grpc._server"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return pymilvus


def connect(config: MilvusConfig) -> Any:
    """A ``MilvusClient`` for ``config`` (one per URI and token in a process, shared)."""
    secret = config.token.get_secret_value() if config.token is not None else ""
    key = (os.path.abspath(config.uri) if config.is_lite else config.uri,
           hashlib.sha256(secret.encode()).hexdigest())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            return client
        pymilvus = _pymilvus()
        what = _not_a_store(Path(config.uri)) if config.is_lite else None
        if what is not None:  # the user's, before milvus-lite writes anything into it
            raise StoreError(f"cannot open Milvus at {config.shown}: it is {what}, not a "
                             f"milvus-lite store, and it was left as it is; set "
                             f"QABOT_MILVUS_URI to another place")
        if config.is_lite:
            try:
                Path(config.uri).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the milvus-lite store {config.uri}: "
                                 f"{exc.strerror or exc}") from None
        try:
            client = pymilvus.MilvusClient(uri=config.uri, token=secret,
                                           timeout=config.timeout)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several kinds; all one line
            hint = ""
            if config.is_lite and _read_only(Path(config.uri)):
                hint = ("; it is read-only, and milvus-lite writes to its file even to "
                        "answer: make it writable (or set QABOT_MILVUS_URI to a writable "
                        "place)")
            elif config.is_lite:
                hint = ("; a milvus-lite file is opened by one process at a time: is another "
                        "qabot using it? Several processes share one through `milvus-lite "
                        "server --data-dir FILE` and QABOT_MILVUS_URI=http://HOST:19530")
            raise StoreError(f"cannot open Milvus at {config.shown}: "
                             f"{_reason(exc, config)}{hint}") from None
        _CLIENTS[key] = client
        return client


def _not_a_store(path: Path) -> str | None:
    """What ``path`` is when it is something of the user's, not a milvus-lite store (a
    folder holding its LOCK file, or nothing yet), else None."""
    try:
        if path.is_dir():
            if any(path.iterdir()) and not (path / "LOCK").exists():
                return "a folder of other files"
            return None
        return "a file" if path.exists() else None
    except OSError:
        return None


def _read_only(path: Path) -> bool:
    """True when this process cannot write the milvus-lite store at ``path`` (a file or, in
    recent milvus-lite, a folder with a LOCK file), or the folder that would hold it."""
    target = path if path.exists() else path.parent
    lock = target / "LOCK"
    candidates = [target, lock] if target.is_dir() and lock.exists() else [target]
    return any(not os.access(p, os.W_OK) for p in candidates)


def _call(config: MilvusConfig, what: str, collection: str, fn: Callable[[], Any]) -> Any:
    """Run one Milvus call; a missing collection is StoreSwitched, any other failure one
    line (StoreError)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - pymilvus' exceptions carry a code and a message
        reason = _reason(exc, config)
        lowered = reason.lower()
        if "collection" in lowered and ("not exist" in lowered or "not found" in lowered):
            raise StoreSwitched(f"the Milvus collection {collection} is gone ({reason})") \
                from None
        raise StoreError(f"Milvus at {config.shown} failed to {what} ({reason})") from None


def new_collection_name(alias: str) -> str:
    """A fresh collection name for a build of ``alias``; later ones sort after earlier ones."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{alias}_v{stamp}_{os.getpid()}"


# --- the store -----------------------------------------------------------------------------
class MilvusStore:
    """One Milvus collection of normalised vectors, searched by inner product (= cosine)."""

    def __init__(self, config: MilvusConfig, collection: str, kind: str,
                 params: dict[str, Any], count: int, dimension: int) -> None:
        self.config = config
        self.client = connect(config)
        self.collection = collection
        self.kind = kind
        self.params = params
        self._count = count
        self._dimension = dimension

    # --- building --------------------------------------------------------------------------
    @classmethod
    def create(cls, config: MilvusConfig, collection: str, count: int, dimension: int,
               kind: str = "auto") -> MilvusStore:
        """Make an empty collection for ``count`` vectors, with its index (not yet loaded)."""
        kind = choose_kind(count, kind)
        params: dict[str, Any] = (ivf_params(count) if kind == "ivf"
                                  else hnsw_params(count) if kind == "hnsw" else {})
        store = cls(config, collection, kind, params, 0, dimension)
        pymilvus = _pymilvus()
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=dimension)
        index = store.client.prepare_index_params()
        build = ({"nlist": params["nlist"]} if kind == "ivf" else
                 {"M": params["M"], "efConstruction": params["efConstruction"]}
                 if kind == "hnsw" else {})
        # Nested under "params" (the form of pymilvus' ORM API, which servers take):
        # milvus-lite ignores the flat keys and builds 128 lists whatever nlist says.
        index.add_index(field_name="vector", index_type=MILVUS_KINDS[kind], metric_type="IP",
                        params={"params": build})
        _call(config, "create a collection", collection, lambda: store.client.create_collection(
            collection, schema=schema, index_params=index))
        return store

    def write(self, vectors: np.ndarray, *, start: int = 0,
              on_batch: Callable[[int], None] | None = None) -> None:
        """Write ``vectors`` as ids ``start``, ``start + 1``, … in batches.

        Upserts, by id: a batch written twice (a retry) is there once.
        """
        for lo in range(0, len(vectors), WRITE_BATCH):
            rows = [{"id": start + lo + i, "vector": v}
                    for i, v in enumerate(vectors[lo : lo + WRITE_BATCH].tolist())]
            _call(self.config, "write vectors", self.collection,
                  functools.partial(self.client.upsert, self.collection, rows))
            if on_batch is not None:
                on_batch(len(rows))

    def finish(self, expected: int) -> None:
        """Flush, check that exactly ``expected`` rows are there, and load for searching."""
        _call(self.config, "flush", self.collection,
              lambda: self.client.flush(self.collection))
        count = self._row_count()
        if count != expected:
            raise StoreError(f"the Milvus collection {self.collection} holds {count} vectors "
                             f"after the build, not {expected}; the index is unchanged")
        _call(self.config, "load the collection", self.collection,
              lambda: self.client.load_collection(self.collection))
        self._count = count

    def _row_count(self) -> int:
        stats = _call(self.config, "count rows", self.collection,
                      lambda: self.client.get_collection_stats(self.collection))
        return int(stats.get("row_count", 0))

    # --- reading ---------------------------------------------------------------------------
    @classmethod
    def open(cls, config: MilvusConfig, collection: str, kind: str, params: dict[str, Any],
             count: int, dimension: int) -> MilvusStore:
        """The collection an index names, checked: there, of ``dimension``, ``count`` rows."""
        store = cls(config, collection, kind, params, count, dimension)
        client = store.client
        exists = _call(config, "list collections", collection,
                       lambda: client.has_collection(collection))
        if not exists:
            raise StoreSwitched(f"the Milvus collection {collection} is missing")
        info = _call(config, "describe a collection", collection,
                     lambda: client.describe_collection(collection))
        dims = [int(f.get("params", {}).get("dim", 0)) for f in info.get("fields", [])
                if f.get("name") == "vector"]
        if dims != [dimension]:
            raise IndexLoadError(f"the Milvus collection {collection} holds vectors of "
                                 f"dimension {dims[0] if dims else '?'}, not {dimension}")
        rows = store._row_count()
        if rows != count:
            raise IndexLoadError(f"the Milvus collection {collection} holds {rows} vectors "
                                 f"for {count} units")
        state = _call(config, "load the collection", collection,
                      lambda: client.get_load_state(collection))
        if "NotLoad" in str(state.get("state", "")):
            _call(config, "load the collection", collection,
                  lambda: client.load_collection(collection))
        return store

    def __len__(self) -> int:
        return self._count

    @property
    def dimension(self) -> int:
        return self._dimension

    def _search_params(self, id_range: tuple[int, int] | None) -> dict[str, Any]:
        """The probes FaissStore would use: scaled up for a wide document filter; every list
        (or the widest search) for a narrow one, which FaissStore searches exactly."""
        boost = 1.0
        if id_range is not None:
            lo, hi = id_range
            boost = math.inf if hi - lo <= EXACT_RANGE_LIMIT else range_boost(len(self), lo, hi)
        probes = scaled_probes(self.kind, self.params, boost)
        if probes is None:
            return {}
        return {"nprobe" if self.kind == "ivf" else "ef": probes}

    def search(
        self, queries: np.ndarray, k: int, id_range: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids) of the ``k`` nearest vectors, optionally within an id range;
        rows shorter than ``k`` are padded as FAISS pads them (id -1)."""
        import numpy as np

        k = max(1, min(k, len(self) if id_range is None else id_range[1] - id_range[0]))
        where = f"id >= {int(id_range[0])} and id < {int(id_range[1])}" if id_range else ""
        params = {"metric_type": "IP", "params": self._search_params(id_range)}
        hits = _call(self.config, "search", self.collection, lambda: self.client.search(
            self.collection, data=queries.tolist(), limit=k, filter=where,
            anns_field="vector", search_params=params))
        scores = np.full((len(queries), k), np.finfo(np.float32).min, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, found in enumerate(hits):
            for j, hit in enumerate(list(found)[:k]):
                scores[row, j], ids[row, j] = hit["distance"], hit["id"]
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Return the stored vectors of ``ids``, in that order."""
        import numpy as np

        wanted = [int(i) for i in np.asarray(ids, dtype=np.int64)]
        out = np.zeros((len(wanted), self.dimension), dtype=np.float32)
        where: dict[int, list[int]] = {}
        for pos, uid in enumerate(wanted):
            where.setdefault(uid, []).append(pos)
        for lo in range(0, len(wanted), READ_BATCH):
            chunk = list(dict.fromkeys(wanted[lo : lo + READ_BATCH]))
            rows = _call(self.config, "read vectors", self.collection, functools.partial(
                self.client.query, self.collection, ids=chunk, output_fields=["vector"]))
            for row in rows:
                out[where[int(row["id"])]] = np.asarray(row["vector"], dtype=np.float32)
            if len(rows) != len(chunk):
                raise IndexLoadError(f"the Milvus collection {self.collection} lacks "
                                     f"{len(chunk) - len(rows)} of the vectors asked for")
        return out

    def save(self, path: Path) -> None:
        """Nothing to write locally: the vectors are in Milvus (see :meth:`finish`)."""

    def drop(self) -> None:
        """Drop the collection (a failed build's), saying nothing if it cannot."""
        try:
            self.client.drop_collection(self.collection)
        except Exception as exc:  # noqa: BLE001 - cleanup of a build that already failed
            log.warning("could not drop the Milvus collection %s: %s", self.collection,
                        _reason(exc, self.config))


# --- the alias and old collections ---------------------------------------------------------
def point_alias(config: MilvusConfig, alias: str, collection: str) -> None:
    """Point ``alias`` at ``collection`` (creating it): one call on the server."""
    client = connect(config)
    current = _alias_target(config, alias)
    if current == collection:
        return
    if current is None:
        _call(config, "create the alias", collection,
              lambda: client.create_alias(collection, alias))
    else:
        _call(config, "switch the alias", collection,
              lambda: client.alter_alias(collection, alias))
    log.info("Milvus alias %s now names %s", alias, collection)


def _alias_target(config: MilvusConfig, alias: str) -> str | None:
    client = connect(config)
    try:
        return str(client.describe_alias(alias)["collection_name"]) or None
    except Exception:  # noqa: BLE001 - an alias that does not exist yet
        return None


def versions_of(config: MilvusConfig, alias: str) -> list[str]:
    """The collections builds of ``alias`` made, oldest first."""
    names = _call(config, "list collections", alias, lambda: connect(config).list_collections())
    return sorted(n for n in names if n.startswith(alias + "_v") and _VERSION.search(n))


def drop_older(config: MilvusConfig, alias: str, live: str) -> list[str]:
    """Drop the collections of ``alias`` older than ``live`` (the one the index names).

    Newer ones are left: they may be a build running elsewhere; the next build drops them.
    """
    dropped = []
    for name in versions_of(config, alias):
        if name < live:
            try:
                connect(config).drop_collection(name)
            except Exception as exc:  # noqa: BLE001 - left for the next build
                log.warning("could not drop the Milvus collection %s: %s", name,
                            _reason(exc, config))
                continue
            dropped.append(name)
    if dropped:
        log.info("dropped %d old Milvus collection(s) of %s", len(dropped), alias)
    return dropped


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A callback advancing a "Writing to Milvus" bar on a terminal, else None."""
    if not enabled:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(total=total, desc="Writing to Milvus", unit="vector")
    try:
        yield bar.update
    finally:
        bar.close()


def settle(config: MilvusConfig, alias: str, store: object) -> None:
    """After a switch (or a skipped build): the alias names the live collection, and the
    older collections are dropped. A failure here is only a warning: readers follow the
    index folder, and the next build settles again."""
    if not isinstance(store, MilvusStore):
        return
    try:
        point_alias(config, alias, store.collection)
        drop_older(config, alias, store.collection)
    except StoreError as exc:
        log.warning("the index is switched, but %s; the next build tries again", exc)
