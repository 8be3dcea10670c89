"""The drafting assistant ("build by chat"), as the services name it; it lives in :mod:`workbench.drafting`
(board, tools, prompt, service)."""

from __future__ import annotations

from workbench.drafting.service import (
    AgentDrafter,
    AssistantFailed,
    AssistantNotConfigured,
    DraftNotAccepted,
    Proposal,
)

__all__ = ["AgentDrafter", "AssistantFailed", "AssistantNotConfigured", "DraftNotAccepted", "Proposal"]
