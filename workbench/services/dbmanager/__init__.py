"""The database manager (issue 16): health, optimization, backups, restores and retention.

``manager`` (:class:`DatabaseManager`, what every front door calls), ``backup`` (pg_dump and
pg_restore), ``tools`` (which PostgreSQL programs, connected how), ``retention`` (the retention rules,
pruning, and the background loop of ``workbench dbmanager``). The SQL is in
:mod:`workbench.store.maintenance` and :mod:`workbench.store.retention`.
"""

from workbench.services.dbmanager.manager import DatabaseManager
from workbench.services.dbmanager.retention import (
    PruneReport,
    RetentionLoop,
    RetentionService,
    RetentionSettings,
)

__all__ = ["DatabaseManager", "PruneReport", "RetentionLoop", "RetentionService", "RetentionSettings"]
