"""The product's exception tree.

Every error that crosses a module boundary is one of these; errors of asyncpg, pydantic and the like
are translated where they are caught (``raise StoreUnavailable(...) from exc``)::

    WorkbenchError
    ├── ConfigError               a setting is wrong: refuse to start and name the setting
    ├── UserError                 the caller's mistake (4xx at the API); says what and where
    │   ├── GraphValidationError  every located problem of a graph at once (``.problems``)
    │   ├── InputError            bad run inputs, bad CLI arguments, bad block input
    │   ├── NotFoundError         an unknown id, or another user's resource (graph, execution...)
    │   ├── ConflictError         the resource exists already (an email taken)
    │   ├── AuthError             not authenticated: bad or missing credentials or token (401)
    │   └── PermissionDenied      authenticated, but a scope is missing (403)
    ├── RegistryError             block registration clash (names both sources)
    ├── StoreError                the database failed
    │   └── StoreUnavailable      it cannot be reached
    ├── BlockError                raised inside a block: the node fails with this message
    │   ├── RetryableError        control signal: the engine retries the node with backoff
    │   └── LimitExceeded         bounded work (template, expression, document) hit a limit
    └── ExecutionFailed           a run ended FAILED (names the node and its error)
"""

from __future__ import annotations

from dataclasses import dataclass


class WorkbenchError(Exception):
    """Root of every error the product raises on purpose."""


class ConfigError(WorkbenchError):
    """A configuration mistake; the message names the setting."""


class UserError(WorkbenchError):
    """A caller's mistake: bad graph, bad input, unknown id."""


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

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"graph has {len(problems)} problem(s):\n{lines}")


class InputError(UserError):
    """Bad run inputs or arguments."""


class NotFoundError(UserError):
    """An unknown id."""


class ConflictError(UserError):
    """The resource exists already."""


class AuthError(UserError):
    """Not authenticated: a missing, wrong or expired credential or token."""


class PermissionDenied(UserError):
    """Authenticated, but not allowed (a scope is missing)."""


class RegistryError(WorkbenchError):
    """A block cannot be registered (duplicate id, malformed block)."""


class StoreError(WorkbenchError):
    """The database failed."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or started."""


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
