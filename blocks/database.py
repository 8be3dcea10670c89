"""PostgreSQL blocks: query, insert, update on a database the user connects with a vault credential.

The credential (provider ``postgres``) holds ``{"dsn": "postgresql://user:pass@host:5432/db"}`` or
``{"host", "port", "user", "password", "database"}``. Values only ever travel as ``$1, $2...``
parameters; table and column names are checked against a strict pattern and quoted; a query is one
statement (a prepared statement cannot hold two). Every block runs in one transaction with a
``statement_timeout``; the query block runs READ ONLY unless told otherwise and returns at most
``max_rows`` rows. The database host passes the same address guard as outbound HTTP
(``WORKBENCH_HTTP_ALLOW`` / ``WORKBENCH_HTTP_ALLOW_PRIVATE``): a user may not reach the platform's
own or other internal databases unless the configuration allows it.

The connection is made from the credential alone: every parameter is given to asyncpg explicitly,
so nothing of the server's own libpq configuration (``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``,
``PGSSLMODE`` and the other ``PGSSL*`` variables, ``~/.pgpass``, ``~/.postgresql`` client
certificates) ever fills in, or travels to, a host a user chose. A credential needs a ``user``; one
without a password sends an empty one if the server asks. ``sslmode`` (default ``prefer``) is
libpq's: ``prefer``/``allow`` try TLS and fall back to plain text, ``require`` insists,
``verify-ca``/``verify-full`` check the certificate against the system's CAs (and the host name).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, CredentialsError

if TYPE_CHECKING:  # asyncpg and workbench.net (httpx) are imported when a block connects
    import asyncpg

    from workbench.net import HttpPolicy

PROVIDER = "postgres"
CONNECT_TIMEOUT = 10.0
MAX_PARAMS = 32767
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


def quote_ident(name: str, what: str = "identifier") -> str:
    """``name`` (or ``schema.name``) double-quoted; BlockError when a part is not a plain identifier."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise BlockError(
            f"{what} {name!r} is not allowed: use letters, digits, '_' and '$' (starting with a letter "
            "or '_'), at most 63 characters, optionally schema-qualified"
        )
    return ".".join(f'"{p}"' for p in parts)


def _jsonable(value: Any) -> Any:
    """A database value as JSON: dates as ISO strings, decimals as numbers, bytes as base64..."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _convert(value: Any, type_name: str, index: int) -> Any:
    """A graph value (often a string) as the Python type asyncpg wants for parameter ``$index``."""
    if value is None:
        return None
    try:
        if type_name in ("json", "jsonb"):
            return value if isinstance(value, str) else json.dumps(value)
        if not isinstance(value, str):
            return value
        if type_name in ("int2", "int4", "int8", "oid"):
            return int(value)
        if type_name in ("float4", "float8"):
            return float(value)
        if type_name == "numeric":
            return decimal.Decimal(value)
        if type_name == "bool":
            return {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}[value.lower()]
        if type_name == "date":
            return dt.date.fromisoformat(value)
        if type_name in ("timestamp", "timestamptz"):
            return dt.datetime.fromisoformat(value)
        if type_name in ("time", "timetz"):
            return dt.time.fromisoformat(value)
        if type_name == "uuid":
            return uuid.UUID(value)
    except (ValueError, KeyError, decimal.InvalidOperation) as exc:
        raise BlockError(f"parameter ${index}: {value!r} is not a valid {type_name}") from exc
    return value


SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's ``sslmode`` values; unset means ``prefer``."""


def _connect_args(secret: dict[str, Any]) -> dict[str, Any]:
    """Connection fields from a credential secret (a DSN or separate fields): host, port, user,
    password, database, sslmode. Only the credential fills them: a field it leaves out stays out
    (never the server's PG* variables or files), and a missing user is a CredentialsError."""
    if secret.get("dsn"):
        parts = urlsplit(str(secret["dsn"]))
        if parts.scheme not in ("postgres", "postgresql"):
            raise CredentialsError("the postgres credential's dsn must start with postgresql://")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port or int(query.get("port", 5432))
        except ValueError:
            raise CredentialsError("the postgres credential's dsn has a port that is not a number") from None
        fields = {
            "host": parts.hostname or query.get("host") or "localhost",
            "port": port,
            "user": unquote(parts.username) if parts.username else query.get("user"),
            "password": unquote(parts.password) if parts.password else query.get("password"),
            "database": unquote(parts.path.lstrip("/")) or query.get("dbname"),
            "sslmode": query.get("sslmode"),
        }
    else:
        if not secret.get("host"):
            raise CredentialsError("the postgres credential needs a dsn or a host")
        try:
            port = int(secret.get("port") or 5432)
        except (TypeError, ValueError):
            raise CredentialsError("the postgres credential's port is not a number") from None
        fields = {
            "host": str(secret["host"]),
            "port": port,
            "user": secret.get("user"),
            "password": secret.get("password"),
            "database": secret.get("database"),
            "sslmode": secret.get("sslmode"),
        }
    if not fields["user"]:
        raise CredentialsError(
            "the postgres credential has no user: add 'user' (or user@ in its dsn); "
            "the server's own database settings are never used for it"
        )
    fields["user"] = str(fields["user"])
    fields["password"] = str(fields["password"]) if fields["password"] else None
    fields["database"] = str(fields["database"] or fields["user"])  # libpq's default: the user name
    mode = str(fields["sslmode"] or "prefer").lower()
    if mode not in SSL_MODES:
        raise CredentialsError(
            f"the postgres credential's sslmode {mode!r} is not one of {', '.join(SSL_MODES)}"
        )
    fields["sslmode"] = mode
    return fields


class _NamedTLS(ssl.SSLContext):
    """A TLS context that checks the certificate against the host name the credential gave, while the
    socket goes to the checked IP address (asyncpg would otherwise present the IP as the name)."""

    server_name: str | None = None

    def wrap_bio(self, incoming: Any, outgoing: Any, server_side: bool = False, server_hostname: Any = None,
                 session: Any = None) -> ssl.SSLObject:  # fmt: skip
        """Wrap with the credential's host name (SNI and certificate check)."""
        return super().wrap_bio(incoming, outgoing, server_side, self.server_name or server_hostname, session)


def _tls(mode: str, host: str) -> ssl.SSLContext | None:
    """The TLS context of an ``sslmode``, built here (None: no TLS). asyncpg builds its own from a mode
    name, and then reads the server's ``PGSSL*`` variables and ``~/.postgresql`` client certificate
    and keys: never for a user's database."""
    if mode == "disable":
        return None
    ctx = _NamedTLS(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if mode in ("verify-ca", "verify-full"):
        ctx.load_default_certs()
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = mode == "verify-full"
        ctx.server_name = host
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _guarded_host(policy: HttpPolicy, host: str, port: int) -> str:
    """The address to connect to: a checked IP, or a Unix socket folder when local access is allowed."""
    from workbench.net import BlockedAddress, GuardedBackend

    if host.startswith("/"):
        if not policy.allow_private:
            raise BlockedAddress(
                f"refused to connect to the Unix socket {host!r}: local databases need "
                "WORKBENCH_HTTP_ALLOW_PRIVATE=1"
            )
        return host
    addresses = await GuardedBackend(policy).resolve_checked(host, port)
    return str(addresses[0])


async def _open(address: str, fields: dict[str, Any], tls: ssl.SSLContext | None) -> asyncpg.Connection:
    """One connection attempt. Every parameter is explicit, so asyncpg falls back on nothing of the
    server's (PGUSER, PGPASSWORD, ~/.pgpass, PGDATABASE, PGSSL*, PGTARGETSESSIONATTRS...): a password
    the credential lacks is sent as an empty one, and the password file is never read."""
    import asyncpg

    return await asyncpg.connect(
        host=address,
        port=fields["port"],
        user=fields["user"],
        password=fields["password"] or "",
        database=fields["database"],
        ssl=tls if tls is not None else False,
        direct_tls=False,
        target_session_attrs="any",
        krbsrvname="postgres",
        gsslib="gssapi",
        timeout=CONNECT_TIMEOUT,
        server_settings={"application_name": "workbench-block"},
    )


@asynccontextmanager
async def connect(context: RunContext, credentials: Any) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the user's database (closed afterwards), made from the credential alone."""
    import asyncpg

    from workbench.net import HttpPolicy

    cred = await context.get_credential(PROVIDER, credentials)
    fields = _connect_args(cred.secret)
    host = fields["host"]
    address = await _guarded_host(HttpPolicy.from_settings(context.settings), host, fields["port"])
    mode = fields["sslmode"]
    tls = None if address.startswith("/") else _tls(mode, host)
    try:
        try:
            conn = await _open(address, fields, tls)
        except (ConnectionError, ssl.SSLError):
            if tls is None or mode not in ("allow", "prefer"):
                raise
            conn = await _open(address, fields, None)  # prefer: TLS refused, so without it (libpq's way)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        reason = str(exc).replace(address, host) or type(exc).__name__
        refused = isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError) or "password" in reason
        hint = (
            " (the credential has no password: add 'password' to it)"
            if fields["password"] is None and refused
            else ""
        )
        raise BlockError(
            f"cannot connect to the database of credential {cred.meta.id}: {reason}{hint}"
        ) from exc
    try:
        yield conn
    finally:
        await conn.close()


async def run_statement(
    conn: asyncpg.Connection,
    sql: str,
    params: Sequence[Any],
    *,
    read_only: bool,
    timeout: float,
    max_rows: int,
) -> tuple[list[dict[str, Any]], bool, str]:
    """Run one statement in a transaction: ``(rows as dicts, truncated, status like "INSERT 0 2")``."""
    import asyncpg

    try:
        async with conn.transaction(readonly=read_only):
            await conn.execute("SELECT set_config('statement_timeout', $1, true)", f"{int(timeout * 1000)}")
            stmt = await conn.prepare(sql)
            types = [t.name for t in stmt.get_parameters()]
            if len(types) != len(params):
                raise BlockError(
                    f"the statement has {len(types)} parameter(s) ($1...), got {len(params)} value(s)"
                )
            values = [_convert(v, t, i + 1) for i, (v, t) in enumerate(zip(params, types, strict=True))]
            if stmt.get_attributes():
                cursor = await stmt.cursor(*values)
                records = await cursor.fetch(max_rows + 1)
                status = f"SELECT {len(records)}"
            else:
                records = []
                status = await conn.execute(sql, *values)
    except asyncpg.QueryCanceledError as exc:
        raise BlockError(f"the statement ran longer than {timeout:g} s and was cancelled") from exc
    except asyncpg.ReadOnlySQLTransactionError as exc:
        raise BlockError(
            f"the statement writes, but the block runs read-only ({exc}); set read_only to false"
        ) from exc
    except asyncpg.PostgresError as exc:
        raise BlockError(f"the database refused the statement: {type(exc).__name__}: {exc}") from exc
    except asyncpg.DataError as exc:  # client side: a value asyncpg cannot encode for its parameter
        raise BlockError(f"a parameter does not fit its type: {exc}") from exc
    rows = [{k: _jsonable(v) for k, v in r.items()} for r in records[:max_rows]]
    return rows, len(records) > max_rows, status


class _DbInput(BlockSchema):
    credentials: Any = Field(
        default=None,
        description="The 'postgres' credential ({id, provider, type} or an id); empty: your only one.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="statement_timeout, seconds.")


class PostgresQueryBlock(Block):
    """Runs one parameterized SQL statement and outputs its rows."""

    id = "8f0b0b5e-4b8a-4d0c-9a51-6f1f3c2a7d01"
    name = "PostgresQueryBlock"
    description = (
        "Runs one SQL statement on your PostgreSQL database with $1, $2... parameters and outputs the "
        "rows (at most max_rows). Read-only by default (a READ ONLY transaction)."
    )
    categories = (BlockCategory.DATA, BlockCategory.DEVELOPER_TOOLS)

    class Input(_DbInput):
        query: str = Field(description="One SQL statement; values as $1, $2... (never pasted into the SQL).")
        parameters: list[Any] = Field(default_factory=list, description="Values of $1, $2... in order.")
        max_rows: int = Field(default=1000, ge=1, le=100_000, description="Most rows output.")
        read_only: bool = Field(default=True, description="Run in a READ ONLY transaction.")

    class Output(BlockSchema):
        rows: list[dict[str, Any]] = Field(description="The rows, as {column: value}.")
        row_count: int = Field(description="Number of rows output.")
        truncated: bool = Field(description="True when the statement had more than max_rows rows.")

    test_input = {"query": "SELECT $1::int AS n", "parameters": [7]}
    test_output = [("rows", [{"n": 7}]), ("row_count", 1), ("truncated", False)]
    test_mock = {"_execute": lambda context, data: ([{"n": 7}], False, "SELECT 1")}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        rows, truncated, _status = await self._execute(get_context(kwargs), input_data)
        yield "rows", rows
        yield "row_count", len(rows)
        yield "truncated", truncated

    async def _execute(self, context: RunContext, data: Input) -> tuple[list[dict[str, Any]], bool, str]:
        async with connect(context, data.credentials) as conn:
            return await run_statement(
                conn,
                data.query,
                data.parameters,
                read_only=data.read_only,
                timeout=data.timeout_seconds,
                max_rows=data.max_rows,
            )


def _returning(columns: list[str]) -> str:
    if not columns:
        return ""
    return " RETURNING " + ", ".join("*" if c == "*" else quote_ident(c, "returning column") for c in columns)


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1] if status else "0"
    return int(tail) if tail.isdigit() else 0


class PostgresInsertBlock(Block):
    """Inserts rows into a table."""

    id = "2d3c6a0e-5f7b-4e61-8c2a-9b4d1e0f6a12"
    name = "PostgresInsertBlock"
    description = (
        "Inserts rows ({column: value}) into a table of your PostgreSQL database, as parameters; "
        "optionally returns columns of the inserted rows."
    )
    categories = (BlockCategory.DATA, BlockCategory.DEVELOPER_TOOLS)

    class Input(_DbInput):
        table: str = Field(description="The table, optionally schema-qualified (public.items).")
        rows: list[dict[str, Any]] = Field(description="The rows to insert; every row has the same columns.")
        returning: list[str] = Field(default_factory=list, description="Columns to return ('*' for all).")

    class Output(BlockSchema):
        inserted_count: int = Field(description="Number of rows inserted.")
        rows: list[dict[str, Any]] = Field(description="The returned columns of the inserted rows.")

    test_input = {"table": "items", "rows": [{"name": "pen"}], "returning": ["id"]}
    test_output = [("inserted_count", 1), ("rows", [{"id": 1}])]
    test_mock = {"_execute": lambda context, data: ([{"id": 1}], False, "INSERT 0 1")}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        rows, _truncated, status = await self._execute(get_context(kwargs), input_data)
        yield "inserted_count", _count(status) or len(rows)
        yield "rows", rows

    def build(self, data: Input) -> tuple[str, list[Any]]:
        """The INSERT statement and its parameters."""
        if not data.rows:
            raise BlockError("rows: give at least one row to insert")
        columns = list(data.rows[0])
        if not columns:
            raise BlockError("rows[0]: a row needs at least one column")
        for i, row in enumerate(data.rows):
            if set(row) != set(columns):
                raise BlockError(f"rows[{i}] has columns {sorted(row)}, rows[0] has {sorted(columns)}")
        if len(columns) * len(data.rows) > MAX_PARAMS:
            raise BlockError(f"too many values in one insert (at most {MAX_PARAMS}); split the rows")
        names = ", ".join(quote_ident(c, "column") for c in columns)
        groups, params = [], []
        for row in data.rows:
            start = len(params)
            params.extend(row[c] for c in columns)
            groups.append("(" + ", ".join(f"${start + k + 1}" for k in range(len(columns))) + ")")
        sql = f"INSERT INTO {quote_ident(data.table, 'table')} ({names}) VALUES {', '.join(groups)}"
        return sql + _returning(data.returning), params

    async def _execute(self, context: RunContext, data: Input) -> tuple[list[dict[str, Any]], bool, str]:
        sql, params = self.build(data)
        async with connect(context, data.credentials) as conn:
            return await run_statement(
                conn, sql, params, read_only=False, timeout=data.timeout_seconds, max_rows=len(data.rows)
            )


class PostgresUpdateBlock(Block):
    """Updates the rows of a table that match equality conditions."""

    id = "b6e1d7c4-3a2f-4c85-9e0d-7a1b2c3d4e56"
    name = "PostgresUpdateBlock"
    description = (
        "Sets columns ({column: value}) on the rows of a table where every `where` column equals its "
        "value; values are parameters. A `where` is required (no accidental whole-table updates)."
    )
    categories = (BlockCategory.DATA, BlockCategory.DEVELOPER_TOOLS)

    class Input(_DbInput):
        table: str = Field(description="The table, optionally schema-qualified.")
        values: dict[str, Any] = Field(description="Columns to set: {column: new value}.")
        where: dict[str, Any] = Field(
            description="Conditions: {column: value}, all must hold (null: IS NULL)."
        )
        returning: list[str] = Field(default_factory=list, description="Columns to return ('*' for all).")
        max_rows: int = Field(default=1000, ge=1, le=100_000, description="Most returned rows output.")

    class Output(BlockSchema):
        updated_count: int = Field(description="Number of rows updated.")
        rows: list[dict[str, Any]] = Field(description="The returned columns of the updated rows.")

    test_input = {"table": "items", "values": {"name": "pencil"}, "where": {"id": 1}}
    test_output = [("updated_count", 1), ("rows", [])]
    test_mock = {"_execute": lambda context, data: ([], False, "UPDATE 1")}

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        rows, _truncated, status = await self._execute(get_context(kwargs), input_data)
        yield "updated_count", _count(status) or len(rows)
        yield "rows", rows

    def build(self, data: Input) -> tuple[str, list[Any]]:
        """The UPDATE statement and its parameters."""
        if not data.values:
            raise BlockError("values: give at least one column to set")
        if not data.where:
            raise BlockError("where: give at least one condition (column: value)")
        params: list[Any] = []
        sets = []
        for column, value in data.values.items():
            params.append(value)
            sets.append(f"{quote_ident(column, 'column')} = ${len(params)}")
        conditions = []
        for column, value in data.where.items():
            if value is None:
                conditions.append(f"{quote_ident(column, 'where column')} IS NULL")
            else:
                params.append(value)
                conditions.append(f"{quote_ident(column, 'where column')} = ${len(params)}")
        sql = f"UPDATE {quote_ident(data.table, 'table')} SET {', '.join(sets)} WHERE {' AND '.join(conditions)}"
        return sql + _returning(data.returning), params

    async def _execute(self, context: RunContext, data: Input) -> tuple[list[dict[str, Any]], bool, str]:
        sql, params = self.build(data)
        async with connect(context, data.credentials) as conn:
            return await run_statement(
                conn, sql, params, read_only=False, timeout=data.timeout_seconds, max_rows=data.max_rows
            )
