"""Build by chat: a model of the user's choosing drafts agents through tool calls on the real block
catalogue, each step checked by the validator (see :mod:`workbench.drafting.service`).

Public API::

    drafter = AgentDrafter(wb)
    proposal = await drafter.propose(user_id, "summarise each URL in a list", base=graph)
    proposal.accepted, proposal.graph, proposal.reply, proposal.changes, proposal.problems
"""

from __future__ import annotations

from workbench.drafting.service import (
    AgentDrafter,
    AssistantFailed,
    AssistantNotConfigured,
    DraftNotAccepted,
    Proposal,
)

__all__ = ["AgentDrafter", "AssistantFailed", "AssistantNotConfigured", "DraftNotAccepted", "Proposal"]
