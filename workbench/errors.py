"""The product's exception tree.

Every error that crosses a module boundary is one of these; errors of asyncpg, pydantic and the like
are translated where they are caught (``raise StoreUnavailable(...) from exc``)::

    WorkbenchError
    ├── ConfigError               a setting is wrong: refuse to start and name the setting
    ├── UserError                 the caller's mistake (4xx at the API); says what and where
    │   ├── GraphValidationError  every located problem of a graph at once (``.problems``)
    │   ├── InputError            bad run inputs, bad CLI arguments, bad block input
    │   │   └── InvalidFields     bad fields of a request, each named (``.problems``)
    │   ├── NotFoundError         an unknown id, or another user's resource (graph, execution...)
    │   ├── ConflictError         the resource exists already (an email taken)
    │   ├── AuthError             not authenticated: bad or missing credentials or token (401)
    │   ├── PermissionDenied      authenticated, but a scope is missing (403)
    │   └── RateLimited           too many requests: retry after ``retry_after`` seconds (429)
    ├── RegistryError             block registration clash (names both sources)
    ├── StoreError                the database failed
    │   └── StoreUnavailable      it cannot be reached
    ├── BlockError                raised inside a block: the node fails with this message
    │   ├── RetryableError        control signal: the engine retries the node with backoff
    │   └── LimitExceeded         bounded work (template, expression, document) hit a limit
    ├── ExecutionFailed           a run ended FAILED (names the node and its error)
    └── ServerError               a workbench server failed (5xx) or could not be reached

**One table for every front door.** Each class carries what it means outside Python: its HTTP status
and machine-readable ``error_code`` (what the server answers, in ``{"error": {"status", "code"}}``)
and the CLI's ``exit_code``. Subclasses inherit them, so a new error needs a line only when it means
something new. :func:`error_class` reads the table backwards: the class a remote client raises for a
server's answer.

=====================  ======  ==============  ========
class                  status  error_code      exit
=====================  ======  ==============  ========
WorkbenchError         500     internal        1
ConfigError            500     internal        3
UserError, InputError  422     invalid_input   2
GraphValidationError   422     invalid_graph   2
NotFoundError          404     not_found       2
ConflictError          409     conflict        2
AuthError              401     unauthorized    2
PermissionDenied       403     forbidden       2
RateLimited            429     rate_limited    2
StoreError             500     internal        3
StoreUnavailable       503     unavailable     3
ServerError            502     server_error    1
=====================  ======  ==============  ========
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_CONFIG, EXIT_INTERNAL = 0, 1, 2, 3, 4
"""The CLI's exit codes: done; failed (a run failed, a server error); the user's mistake; the
configuration or the database; a bug (an exception that is not a WorkbenchError)."""


class WorkbenchError(Exception):
    """Root of every error the product raises on purpose."""

    http_status: ClassVar[int] = 500
    """The HTTP status the API answers with (5xx: the request was fine, the server was not)."""
    error_code: ClassVar[str] = "internal"
    """The API's machine-readable ``error.code``."""
    exit_code: ClassVar[int] = EXIT_FAILED
    """The CLI's exit status."""


class ConfigError(WorkbenchError):
    """A configuration mistake; the message names the setting."""

    exit_code = EXIT_CONFIG


class UserError(WorkbenchError):
    """A caller's mistake: bad graph, bad input, unknown id."""

    http_status = 422
    error_code = "invalid_input"
    exit_code = EXIT_USER


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in a graph: which node, which pin or field, what is wrong."""

    message: str
    node_id: str | None = None
    pin: str | None = None
    link_id: str | None = None
    code: str = "invalid"

    def where(self) -> str:
        """Human-readable location, e.g. ``node 'n1', pin 'text'``."""
        parts = []
        if self.node_id is not None:
            parts.append(f"node {self.node_id!r}")
        if self.link_id is not None:
            parts.append(f"link {self.link_id!r}")
        if self.pin is not None:
            parts.append(f"pin {self.pin!r}")
        return ", ".join(parts) or "graph"

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"

    def to_dict(self) -> dict[str, str | None]:
        """JSON form, as the API and ``workbench validate --json`` return it."""
        return {
            "code": self.code,
            "node_id": self.node_id,
            "link_id": self.link_id,
            "pin": self.pin,
            "message": self.message,
        }


class GraphValidationError(UserError):
    """A graph has problems; ``problems`` lists every one of them, located."""

    http_status = 422  # stated, so that a subclass that is also a NotFoundError stays a 422
    error_code = "invalid_graph"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"graph has {len(problems)} problem(s):\n{lines}")


class InputError(UserError):
    """Bad run inputs or arguments."""


class InvalidFields(InputError):
    """Bad fields of a request, all at once: ``problems`` lists ``(field, message)`` for each (the
    API answers them as located ``details``)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


class NotFoundError(UserError):
    """An unknown id."""

    http_status = 404
    error_code = "not_found"


class ConflictError(UserError):
    """The resource exists already."""

    http_status = 409
    error_code = "conflict"


class AuthError(UserError):
    """Not authenticated: a missing, wrong or expired credential or token."""

    http_status = 401
    error_code = "unauthorized"


class RateLimited(UserError):
    """Too many requests (a webhook trigger's rate limit): wait ``retry_after`` seconds."""

    http_status = 429
    error_code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyAttempts(RateLimited, AuthError):
    """Too many failed attempts (logins): wait ``retry_after`` seconds (a 429, and an AuthError)."""


class PermissionDenied(UserError):
    """Authenticated, but not allowed (a scope is missing)."""

    http_status = 403
    error_code = "forbidden"


class RegistryError(WorkbenchError):
    """A block cannot be registered (duplicate id, malformed block)."""


class StoreError(WorkbenchError):
    """The database failed."""

    exit_code = EXIT_CONFIG


class StoreUnavailable(StoreError):
    """The database cannot be reached or started."""

    http_status = 503
    error_code = "unavailable"


class BlockError(WorkbenchError):
    """Raised by a block: its node fails with this message."""


class RetryableError(BlockError):
    """A transient failure: the engine retries the node, with backoff, within its retry budget."""


class CredentialsError(BlockError):
    """A block's credentials are missing, ambiguous or for another provider; says how to fix it."""


class ServiceUnavailable(BlockError):
    """A block needs a platform service (database, a named service) that this run does not have."""


class ExecutionFailed(WorkbenchError):
    """A run ended FAILED; the message names the failing node and its error."""

    def __init__(self, message: str, *, execution_id: str, node_id: str | None = None) -> None:
        self.execution_id = execution_id
        self.node_id = node_id
        super().__init__(message)


class LimitExceeded(BlockError):
    """Bounded work (a template, an expression, a pattern, a document) hit a limit: time, memory,
    input or output size. The node fails; the message names the limit and the setting that sets it.
    ``limit`` says which: "time", "memory", "cpu" or "size"."""

    def __init__(self, message: str, limit: str = "size") -> None:
        super().__init__(message)
        self.limit = limit


class ServerError(WorkbenchError):
    """A workbench server failed (5xx) or could not be reached (the remote client raises it)."""

    http_status = 502
    error_code = "server_error"


_BY_CODE: dict[str, type[WorkbenchError]] = {
    cls.error_code: cls
    for cls in (InputError, GraphValidationError, NotFoundError, ConflictError, AuthError, PermissionDenied)
}
"""The errors a server's answer names, by ``error.code`` (a UserError of the server is an InputError
to its client; its 5xx answers, a 503 included, are ServerError)."""


def error_class(status: int, code: str | None = None) -> type[WorkbenchError]:
    """The exception for an API error answer: by its ``error.code`` where the status agrees, else
    by the status alone (another 4xx: :class:`InputError`; 5xx and anything else: :class:`ServerError`)."""
    cls = _BY_CODE.get(code or "")
    if cls is not None and cls.http_status == status:
        return cls
    for cls in _BY_CODE.values():
        if cls.http_status == status:
            return cls
    return InputError if 400 <= status < 500 else ServerError
