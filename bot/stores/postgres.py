"""A PostgreSQL + pgvector store: one index shared by several servers.

Each build is a generation, written in one transaction under an advisory lock and made active
at its end, so a reader sees the old generation or the new one, never half of one, and two
builders never interleave. One database holds one index, in these tables (in the first schema
of the search path, normally public):

- bot_generations(gen, manifest jsonb, created_at): the same manifest as the index folder's;
- bot_active(gen): the one active generation;
- bot_chunks(gen, pos, source, chunk jsonb): the chunks, as chunks.jsonl holds them;
- bot_blobs(gen, name, data bytea): the per-corpus arrays and files of the index folder
  (rows.npy, lexical.json/.npy, lexicon.json, calibration.json), byte for byte;
- bot_vectors_<gen>(row, chunk, sentence, embedding vector(d)): one table per generation with
  an HNSW index (inner product); dropped two generations later.

The generation before the active one is kept, so a server still answering from it when a new
one arrives finishes its question; servers check the active generation before each question
and reload when it moved. Lexical search stays the bot's own BM25 (stored as arrays): the same
scores as the folder store, with German compound parts and exact technical tokens that
PostgreSQL's text search configurations do not split out.
"""
from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import IndexCorrupt, StoreError
from ..index import Index, chunk_rows
from ..records import Chunk
from .urls import mask

HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults; recall measured in docs/postgres.md
EF_SEARCH = 128  # as the FAISS HNSW; raised per query to at least k (HNSW returns at most ef rows)
KEEP = 2  # generations kept: the active one and the one before it
LOCK = "SELECT pg_advisory_lock(hashtext('bot index ' || current_schema()))"
XACT_LOCK = "SELECT pg_advisory_xact_lock(hashtext('bot index ' || current_schema()))"
TABLES = (
    """CREATE TABLE IF NOT EXISTS bot_generations (
         gen bigint PRIMARY KEY, manifest jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS bot_active (
         one boolean PRIMARY KEY DEFAULT true CHECK (one), gen bigint NOT NULL REFERENCES bot_generations)""",
    """CREATE TABLE IF NOT EXISTS bot_chunks (
         gen bigint NOT NULL REFERENCES bot_generations ON DELETE CASCADE, pos integer NOT NULL,
         source text NOT NULL, chunk jsonb NOT NULL, PRIMARY KEY (gen, pos))""",
    """CREATE TABLE IF NOT EXISTS bot_blobs (
         gen bigint NOT NULL REFERENCES bot_generations ON DELETE CASCADE, name text NOT NULL,
         data bytea NOT NULL, PRIMARY KEY (gen, name))""",
)
ACTIVE = "SELECT g.gen, g.manifest FROM bot_active a JOIN bot_generations g USING (gen)"


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise StoreError("a PostgreSQL store needs psycopg: pip install 'psycopg[binary]' "
                         "(or install the bot with its postgres extra)") from None
    return psycopg


def _table(gen: int) -> str:
    return f"bot_vectors_{int(gen)}"


def _one_line(e: Exception, secret: str | None = None) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text.replace(secret, "***") if secret else text


class PostgresStore:
    kind = "postgresql"

    def __init__(self, url: str):
        self.url = url
        self.shown = mask(url)
        self._conn = None  # shared by the threads of a server, one statement group at a time
        self._ef = None
        self._lock = threading.RLock()
        self._local = threading.local()  # the lock()'s connection, for write() in the same thread

    def __str__(self) -> str:
        return self.shown

    # -- connections ----------------------------------------------------------------------
    def _password(self) -> str | None:
        from urllib.parse import urlsplit
        try:
            return urlsplit(self.url).password or None
        except ValueError:
            return None

    def connect(self):
        psycopg = _psycopg()
        options = {"autocommit": True, "application_name": "bot"}
        if "connect_timeout" not in self.url:
            options["connect_timeout"] = 5
        try:
            return psycopg.connect(self.url, **options)
        except psycopg.Error as e:
            raise StoreError(self._cannot_connect(e)) from None

    def _cannot_connect(self, e: Exception) -> str:
        text = _one_line(e, self._password())
        low = text.lower()
        if "password authentication failed" in low or "no password supplied" in low:
            why, fix = "password authentication failed", "check the user and password in the URL"
        elif "connection refused" in low:
            why, fix = "connection refused", "is the server running, on that host and port?"
        elif "no such file or directory" in low:
            why, fix = "no server at that socket", "is the server running?"
        elif "timeout" in low or "timed out" in low:
            why, fix = "timed out", "is the host reachable and the server running?"
        elif "could not translate host name" in low or "name or service not known" in low:
            why, fix = "unknown host", "check the host name in the URL"
        elif "database" in low and "does not exist" in low:
            why, fix = "no such database", "create it (createdb NAME) or fix the URL"
        elif "role" in low and "does not exist" in low:
            why, fix = "no such user", "create the role or fix the user in the URL"
        else:
            why, fix = text[:200], "check the URL"
        return f"cannot connect to {self.shown} ({why}): {fix}"

    def _do(self, work, gen: int | None = None):
        """work(connection) on the shared connection; a connection the server dropped (a restart)
        is replaced once. Database errors become one-line StoreErrors."""
        psycopg = _psycopg()
        with self._lock:
            for attempt in (1, 2):
                fresh = self._conn is None or self._conn.closed or self._conn.broken
                if fresh:
                    self._conn, self._ef = self.connect(), None
                try:
                    return work(self._conn)
                except psycopg.errors.UndefinedTable:
                    if gen is None:
                        raise IndexCorrupt(f"the store {self} lacks its tables: rebuild with "
                                           "`python -m bot index --rebuild`") from None
                    raise IndexCorrupt(f"index generation {gen} is no longer in {self}: it was replaced") from None
                except psycopg.OperationalError as e:
                    broken = self._conn.closed or self._conn.broken
                    if broken:
                        self._conn.close()
                        self._conn = None
                        if attempt == 1 and not fresh:
                            continue
                    raise StoreError(f"the store {self} failed: {_one_line(e, self._password())}") from None
                except psycopg.Error as e:
                    raise StoreError(f"the store {self} failed: {_one_line(e, self._password())}") from None

    def _vector_type(self, conn) -> None:
        """Vectors come back as numpy arrays, read from pgvector's binary form."""
        if getattr(conn, "_bot_vectors", False):
            return
        from psycopg.adapt import Loader
        from psycopg.pq import Format
        from psycopg.types import TypeInfo

        class VectorLoader(Loader):
            format = Format.BINARY

            def load(self, data):
                return np.frombuffer(data, dtype=">f4", offset=4)  # int16 dim, int16 unused, floats

        info = TypeInfo.fetch(conn, "vector")
        if info is None:
            raise StoreError(f"the database {self} has no pgvector extension: run CREATE EXTENSION vector; "
                             "in it as a superuser")
        conn.adapters.register_loader(info.oid, VectorLoader)
        conn._bot_vectors = True

    def _ef_search(self, conn, k: int) -> None:
        ef = min(1000, max(EF_SEARCH, int(k)))
        if self._ef != ef:
            conn.execute(f"SET hnsw.ef_search = {ef}")
            self._ef = ef

    # -- the store interface ----------------------------------------------------------------
    def manifest(self) -> dict | None:
        def work(conn):
            if conn.execute("SELECT to_regclass('bot_active')").fetchone()[0] is None:
                return None
            row = conn.execute(ACTIVE).fetchone()
            return None if row is None else {**row[1], "generation": row[0]}
        return self._do(work)

    def generation(self) -> int | None:
        def work(conn):
            if conn.execute("SELECT to_regclass('bot_active')").fetchone()[0] is None:
                return None
            row = conn.execute("SELECT gen FROM bot_active").fetchone()
            return row[0] if row else None
        return self._do(work)

    @contextmanager
    def lock(self):
        """One build at a time per database (and schema), across processes and machines: a
        session-level advisory lock on a connection of its own, released when it closes."""
        conn = self.connect()
        try:
            try:
                conn.execute(LOCK)
            except _psycopg().Error as e:
                raise StoreError(f"the store {self} failed: {_one_line(e, self._password())}") from None
            self._extension(conn)  # before a build spends minutes embedding, not after
            self._local.conn = conn
            yield
        finally:
            self._local.conn = None
            conn.close()

    def load(self, verify: bool = False) -> Index:

        def work(conn):
            with conn.transaction():
                # One snapshot: the manifest, chunks and blobs of one generation.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if conn.execute("SELECT to_regclass('bot_active')").fetchone()[0] is None:
                    raise IndexCorrupt(f"no index in {self} yet")
                row = conn.execute(ACTIVE).fetchone()
                if row is None:
                    raise IndexCorrupt(f"no index in {self} yet")
                gen, manifest = row
                blobs = {name: bytes(data) for name, data in
                         conn.execute("SELECT name, data FROM bot_blobs WHERE gen = %s", (gen,))}
                chunks = [Chunk.from_json(d) for (d,) in
                          conn.execute("SELECT chunk FROM bot_chunks WHERE gen = %s ORDER BY pos", (gen,))]
                kind = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                                    "attrelid = to_regclass(%s) AND attname = 'embedding'", (_table(gen),)).fetchone()
                count = conn.execute(f"SELECT count(*) FROM {_table(gen)}").fetchone()[0] if verify and kind else None
            return gen, manifest, blobs, chunks, kind[0] if kind else None, count

        gen, manifest, blobs, chunks, kind, count = self._do(work)
        bad = f"the index in {self} (generation {gen}) disagrees with its manifest"
        n, dim, listed = manifest.get("chunks"), manifest.get("dim"), manifest.get("blobs")
        if not isinstance(listed, dict) or set(listed) - set(blobs) or kind != f"vector({dim})":
            raise IndexCorrupt(bad)
        if verify:
            for name, meta in listed.items():
                if not isinstance(meta, dict) or hashlib.sha256(blobs[name]).hexdigest() != meta.get("sha256"):
                    raise IndexCorrupt(f"{name} in {self} (generation {gen}) does not match its checksum")
        from ..lexical import LexicalIndex
        from ..lexicon import Lexicon
        try:
            rows = np.load(io.BytesIO(blobs["rows.npy"]), allow_pickle=False)
            calibration = json.loads(blobs["calibration.json"])
            with tempfile.TemporaryDirectory(prefix="bot-store-") as tmp:
                for name in ("lexical.json", "lexical.npy", "lexicon.json"):
                    if name in blobs:
                        (Path(tmp) / name).write_bytes(blobs[name])
                lexical = LexicalIndex.load(Path(tmp))
                lexicon = Lexicon.load(Path(tmp), lexical=lexical)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexCorrupt(f"the index in {self} (generation {gen}) is damaged ({type(e).__name__})") from None
        if not (len(chunks) == n and rows.ndim == 2 and rows.shape == (manifest.get("rows"), 2)
                and len(lexical.langs) == n and isinstance(calibration, dict)
                and (count is None or count == len(rows))):
            raise IndexCorrupt(bad)
        vectors = PgVectors(self, gen, len(rows), dim)
        return Index({**manifest, "generation": gen}, chunks, rows, chunk_rows(rows, n), vectors, lexical,
                     lexicon, calibration)

    def verify(self) -> dict:
        return self.load(verify=True).manifest

    def write(self, manifest: dict, index: Index) -> None:
        """Add the index as a new generation and make it the active one, in one transaction."""
        psycopg = _psycopg()
        from psycopg.types.json import Jsonb
        blobs = _blobs(index)
        manifest = {**manifest, "store": self.kind,
                    "blobs": {name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                              for name, data in blobs.items()}}
        manifest.pop("generation", None)
        vectors = index.vectors
        dim = int(vectors.shape[1])
        conn = getattr(self._local, "conn", None)  # inside lock(): the session that holds it
        own = conn is None
        if own:
            conn = self.connect()
        try:
            self._extension(conn)
            with conn.transaction():
                conn.execute(XACT_LOCK)  # re-entrant for the session that holds lock()
                for ddl in TABLES:
                    conn.execute(ddl)
                gen = conn.execute("SELECT coalesce(max(gen), 0) + 1 FROM bot_generations").fetchone()[0]
                conn.execute("INSERT INTO bot_generations (gen, manifest) VALUES (%s, %s)", (gen, Jsonb(manifest)))
                table = _table(gen)
                conn.execute(f"CREATE TABLE {table} (row integer PRIMARY KEY, chunk integer NOT NULL, "
                             f"sentence integer NOT NULL, embedding vector({dim}) NOT NULL)")
                with conn.cursor().copy(f"COPY {table} (row, chunk, sentence, embedding) FROM STDIN "
                                        "WITH (FORMAT BINARY)") as copy:
                    for part in copy_binary(index.rows, vectors):
                        copy.write(part)
                del vectors
                # The graph is built in memory when it fits: raise the limit for this transaction only.
                need = int(len(index.rows) * (dim * 4 + 256) * 1.5)
                have = conn.execute("SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").fetchone()[0]
                if need > have:
                    conn.execute(f"SET LOCAL maintenance_work_mem = '{min(need, 2**30) // 2**20 + 1}MB'")
                conn.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_ip_ops) "
                             f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
                with conn.cursor().copy("COPY bot_chunks (gen, pos, source, chunk) FROM STDIN") as copy:
                    for pos, c in enumerate(index.chunks):
                        copy.write_row((gen, pos, c.source, Jsonb(c.to_json())))
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO bot_blobs (gen, name, data) VALUES (%s, %s, %s)",
                                    [(gen, name, data) for name, data in blobs.items()])
                conn.execute("INSERT INTO bot_active (one, gen) VALUES (true, %s) "
                             "ON CONFLICT (one) DO UPDATE SET gen = excluded.gen", (gen,))
                old = [g for (g,) in conn.execute("SELECT gen FROM bot_generations WHERE gen < %s "
                                                  "ORDER BY gen DESC OFFSET %s", (gen, KEEP - 1))]
                for g in old:
                    conn.execute(f"DROP TABLE IF EXISTS {_table(g)}")
                conn.execute("DELETE FROM bot_generations WHERE gen = ANY(%s)", (old,))
        except psycopg.Error as e:
            raise StoreError(f"writing the index to {self} failed, the previous one stays: "
                             f"{_one_line(e, self._password())}") from None
        finally:
            if own:
                conn.close()

    def sizes(self) -> dict[str, int]:
        """Bytes the active generation takes: its vectors table, HNSW index, chunks and blobs."""
        def work(conn):
            gen = conn.execute("SELECT gen FROM bot_active").fetchone()[0]
            table = _table(gen)
            return dict(zip(("vectors", "hnsw", "chunks", "blobs"), conn.execute(
                "SELECT pg_table_size(to_regclass(%s)), pg_relation_size(to_regclass(%s)), "
                "(SELECT coalesce(sum(pg_column_size(c.*)), 0) FROM bot_chunks c WHERE gen = %s), "
                "(SELECT coalesce(sum(length(data)), 0) FROM bot_blobs WHERE gen = %s)",
                (table, f"{table}_hnsw", gen, gen)).fetchone()))
        return self._do(work)

    def plan(self, gen: int) -> str:
        """How PostgreSQL runs the dense search of a generation: the HNSW index or a full scan."""
        def work(conn):
            self._ef_search(conn, 80)
            q = conn.execute(f"SELECT embedding FROM {_table(gen)} LIMIT 1").fetchone()[0]
            plan = " ".join(r[0] for r in conn.execute(
                f"EXPLAIN SELECT row FROM {_table(gen)} ORDER BY embedding <#> %s::vector LIMIT 80", (q,)))
            return "HNSW index scan" if "Index Scan" in plan else "exact scan (the planner finds it cheaper)"
        return self._do(work, gen)

    def _extension(self, conn) -> None:
        psycopg = _psycopg()
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            return
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
            raise StoreError(f"the PostgreSQL server of {self} has no pgvector: install it on the server "
                             "(Debian: postgresql-NN-pgvector), then run CREATE EXTENSION vector; in the database")
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error:
            raise StoreError(f"the database {self} has no pgvector extension: run CREATE EXTENSION vector; "
                             "in it as a superuser") from None


class PgVectors:
    """The vectors of one generation, searched by pgvector: the few FAISS index methods that
    index.Index and the retrieval code call."""

    def __init__(self, store: PostgresStore, gen: int, ntotal: int, d: int):
        self.store, self.gen, self.ntotal, self.d = store, gen, ntotal, d
        self.table = _table(gen)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product top-k rows of the first query, as FAISS returns them (rows -1 past the end)."""
        q = "[" + ",".join(map(str, np.asarray(queries, np.float32).reshape(-1, self.d)[0].tolist())) + "]"

        def work(conn):
            self.store._ef_search(conn, k)
            return conn.execute(f"SELECT row, embedding <#> %(q)s::vector FROM {self.table} "
                                f"ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s", {"q": q, "k": int(k)}).fetchall()

        found = self.store._do(work, self.gen)
        scores = np.full((1, k), -np.inf, np.float32)
        rows = np.full((1, k), -1, np.int64)
        if found:
            rows[0, :len(found)] = [r for r, _ in found]
            scores[0, :len(found)] = [-d for _, d in found]  # <#> is the negative inner product
        return scores, rows

    def reconstruct_batch(self, rows) -> np.ndarray:
        rows = [int(r) for r in np.asarray(rows).ravel()]
        if not rows:
            return np.zeros((0, self.d), np.float32)

        def work(conn):
            self.store._vector_type(conn)
            with conn.cursor(binary=True) as cur:
                return dict(cur.execute(f"SELECT row, embedding FROM {self.table} WHERE row = ANY(%s)",
                                        (rows,)).fetchall())

        found = self.store._do(work, self.gen)
        try:
            return np.stack([found[r] for r in rows]).astype(np.float32)
        except KeyError:
            raise IndexCorrupt(f"index generation {self.gen} in {self.store} lacks vectors") from None

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        def work(conn):
            self.store._vector_type(conn)
            with conn.cursor(binary=True) as cur:
                return [v for (v,) in cur.execute(f"SELECT embedding FROM {self.table} WHERE row >= %s AND "
                                                  "row < %s ORDER BY row", (int(start), int(start + n)))]

        found = self.store._do(work, self.gen)
        return np.stack(found).astype(np.float32) if found else np.zeros((0, self.d), np.float32)


def _blobs(index: Index) -> dict[str, bytes]:
    """The index folder's per-corpus files, byte for byte, written by their own save()."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bot-store-") as tmp:
        index.lexical.save(Path(tmp))
        if index.lexicon is not None:
            index.lexicon.save(Path(tmp))
        for path in Path(tmp).iterdir():
            out[path.name] = path.read_bytes()
    buf = io.BytesIO()
    np.save(buf, np.asarray(index.rows, np.int32), allow_pickle=False)
    out["rows.npy"] = buf.getvalue()
    out["calibration.json"] = json.dumps(index.calibration).encode("utf-8")
    return out


def copy_binary(rows: np.ndarray, vectors: np.ndarray, batch: int = 20_000):
    """PostgreSQL's binary COPY format for (row, chunk, sentence, embedding), in slices: built
    with numpy, so 100,000 vectors take a fraction of a second rather than a text round trip."""
    n, d = vectors.shape
    record = np.dtype([("fields", ">i2"), ("l0", ">i4"), ("row", ">i4"), ("l1", ">i4"), ("chunk", ">i4"),
                       ("l2", ">i4"), ("sentence", ">i4"), ("l3", ">i4"), ("dim", ">i2"), ("unused", ">i2"),
                       ("v", ">f4", (d,))])
    yield b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
    for i in range(0, n, batch):
        j = min(n, i + batch)
        a = np.zeros(j - i, record)
        a["fields"] = 4
        a["l0"] = a["l1"] = a["l2"] = 4
        a["row"] = np.arange(i, j)
        a["chunk"], a["sentence"] = rows[i:j, 0], rows[i:j, 1]
        a["l3"] = 4 + 4 * d
        a["dim"] = d
        a["v"] = vectors[i:j]
        yield a.tobytes()
    yield b"\xff\xff"
