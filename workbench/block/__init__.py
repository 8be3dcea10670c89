"""The block contract, its run context, the registry, the ``@block`` decorator and the self-test harness."""

from workbench.block.base import (
    Block,
    BlockCategory,
    BlockOutput,
    BlockSchema,
    BlockType,
    get_context,
)
from workbench.block.context import RunContext, Tool
from workbench.block.decorator import block
from workbench.block.registry import BlockRegistry, default_registry

__all__ = [
    "Block",
    "BlockCategory",
    "BlockOutput",
    "BlockRegistry",
    "BlockSchema",
    "BlockType",
    "RunContext",
    "Tool",
    "block",
    "default_registry",
    "get_context",
]
