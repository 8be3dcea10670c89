"""PostgreSQL's own programs (``pg_dump``, ``pg_restore``): which one to run, and how to connect it.

The embedded server's programs come with pgserver (PostgreSQL 16), and a ``pg_dump`` dumps servers of
its own major version and older ones; the ones on ``PATH`` are the fallback, used when they are newer
than the server or pgserver's are missing. The password of ``DATABASE_URL`` never goes on a command
line (other users of the machine can read those): it is taken out of the URL and given to the
program in its environment (``PGPASSWORD``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from workbench.errors import ConfigError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def embedded_bin() -> Path | None:
    """The folder of pgserver's PostgreSQL programs (found without importing pgserver), if any."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "pginstall" / "bin"
    return folder if folder.is_dir() else None


@cache
def tool_version(path: str) -> int | None:
    """The major version of a PostgreSQL program (``pg_dump --version``), or None if it does not run."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    found = _VERSION.search(out.stdout)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class Tool:
    """A PostgreSQL program chosen for a server."""

    path: str
    major: int
    source: str
    """``embedded`` (pgserver's) or ``PATH``."""


def find_tool(name: str, server_major: int | None) -> Tool:
    """The ``pg_dump`` or ``pg_restore`` to use with a server of ``server_major``: the embedded one
    unless it is older than the server, else the newest suitable one on ``PATH``; ConfigError saying
    what was found when none will do."""
    candidates: list[Tool] = []
    folder = embedded_bin()
    if folder is not None and (folder / name).exists():
        major = tool_version(str(folder / name))
        if major is not None:
            candidates.append(Tool(str(folder / name), major, "embedded"))
    on_path = shutil.which(name)
    if on_path:
        major = tool_version(on_path)
        if major is not None:
            candidates.append(Tool(on_path, major, "PATH"))
    suitable = [t for t in candidates if server_major is None or t.major >= server_major]
    if suitable:
        embedded = [t for t in suitable if t.source == "embedded"]
        return embedded[0] if embedded else max(suitable, key=lambda t: t.major)
    if not candidates:
        raise ConfigError(
            f"{name} was not found: neither pgserver's programs nor {name} on PATH "
            "(install the PostgreSQL client programs, e.g. apt-get install postgresql-client)"
        )
    found = ", ".join(f"{t.path} (PostgreSQL {t.major})" for t in candidates)
    raise ConfigError(
        f"the server runs PostgreSQL {server_major}, newer than every {name} found: {found}; "
        f"install the PostgreSQL {server_major} client programs and put them on PATH"
    )


@dataclass(frozen=True, slots=True)
class Connection:
    """How a PostgreSQL program reaches a database: a URL without its password, and the environment
    the program runs with (the password in ``PGPASSWORD`` when the URL had one)."""

    url: str
    env: dict[str, str] = field(repr=False)
    database: str

    def argv(self, tool: Tool, *args: str) -> list[str]:
        """The command line: the program, ``--dbname=<URL without password>``, then ``args``."""
        return [tool.path, f"--dbname={self.url}", *args]


def connection(database_url: str) -> Connection:
    """Split ``database_url`` into a password-free URL and an environment carrying the password."""
    parts = urlsplit(database_url)
    env = dict(os.environ)
    password = unquote(parts.password) if parts.password is not None else None
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "password":  # libpq takes it from the query string too
            password = value
        else:
            query.append((key, value))
    netloc = parts.hostname or ""
    if netloc and ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{quote(unquote(parts.username), safe='')}@{netloc}"
    if password:
        env["PGPASSWORD"] = password
    url = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/"), ""))
    return Connection(url, env, unquote(parts.path.lstrip("/")) or "")


def with_database(database_url: str, name: str) -> str:
    """``database_url`` naming another database of the same server."""
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), parts.query, parts.fragment))
