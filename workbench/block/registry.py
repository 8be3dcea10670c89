"""The block registry: built-ins from the ``blocks`` package plus ``workbench.blocks`` entry points.

A duplicate id is an error that names both sources; blocks registered later (a notebook cell) may
replace their own earlier definition only when asked to (``replace=True``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import uuid
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from workbench.block.base import Block
from workbench.errors import NotFoundError, RegistryError

ENTRY_POINT_GROUP = "workbench.blocks"
log = logging.getLogger(__name__)


class BlockRegistry:
    """Block instances by id, with the source each came from."""

    def __init__(self) -> None:
        self._blocks: dict[str, Block] = {}
        self._sources: dict[str, str] = {}
        self._by_name: dict[str, Block] = {}

    def register(self, block: Block | type[Block], source: str, *, replace: bool = False) -> Block:
        """Add a block (class or instance); ``source`` says where it came from, for error messages."""
        instance = block() if isinstance(block, type) else block
        _check_block(instance, source)
        existing = self._sources.get(instance.id)
        if existing is not None and not (replace and existing == source):
            if existing == source and type(self._blocks[instance.id]) is type(instance):
                return self._blocks[instance.id]
            raise RegistryError(
                f"duplicate block id {instance.id}: {instance.name!r} from {source} "
                f"clashes with {self._blocks[instance.id].name!r} from {existing}"
            )
        self._blocks[instance.id] = instance
        self._sources[instance.id] = source
        self._by_name[instance.name] = instance
        self._by_name[type(instance).__name__] = instance
        return instance

    def register_module(self, module: ModuleType, source: str | None = None) -> list[Block]:
        """Register every Block subclass defined in ``module``."""
        out = []
        for cls in _blocks_in(module):
            out.append(self.register(cls, source or module.__name__))
        return out

    def get(self, block_id: str) -> Block:
        """The block with this id; NotFoundError otherwise."""
        try:
            return self._blocks[block_id]
        except KeyError:
            raise NotFoundError(f"unknown block id {block_id!r}") from None

    def find(self, ref: str | type[Block] | Block) -> Block:
        """A block by id, class, instance, class name or display name."""
        if isinstance(ref, Block):
            return self._blocks.get(ref.id) or ref
        if isinstance(ref, type):
            if getattr(ref, "id", None) in self._blocks:
                return self._blocks[ref.id]
            raise NotFoundError(f"block class {ref.__name__} is not registered")
        if ref in self._blocks:
            return self._blocks[ref]
        if ref in self._by_name:
            return self._by_name[ref]
        lowered = {k.lower(): v for k, v in self._by_name.items()}
        if ref.lower() in lowered:
            return lowered[ref.lower()]
        raise NotFoundError(f"unknown block {ref!r}")

    def source(self, block_id: str) -> str:
        """Where the block with this id was registered from."""
        return self._sources[block_id]

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._blocks

    def __iter__(self) -> Iterator[Block]:
        return iter(self._blocks.values())

    def __len__(self) -> int:
        return len(self._blocks)

    def copy(self) -> BlockRegistry:
        """An independent registry with the same blocks (a notebook adds its own to a copy)."""
        new = BlockRegistry()
        new._blocks = dict(self._blocks)
        new._sources = dict(self._sources)
        new._by_name = dict(self._by_name)
        return new


def _check_block(block: Block, source: str) -> None:
    block_id = getattr(block, "id", None)
    if not isinstance(block_id, str):
        raise RegistryError(f"block {type(block).__name__} from {source} has no id")
    try:
        uuid.UUID(block_id)
    except ValueError:
        raise RegistryError(
            f"block {type(block).__name__} from {source} has an id that is not a UUID: {block_id!r}"
        ) from None


def _blocks_in(module: ModuleType) -> Iterable[type[Block]]:
    for _, obj in inspect.getmembers(module, inspect.isclass):
        defined_here = issubclass(obj, Block) and obj is not Block and obj.__module__ == module.__name__
        if defined_here and isinstance(getattr(obj, "id", None), str):
            yield obj


def _load_entry_point_target(target: Any, name: str, registry: BlockRegistry, source: str) -> None:
    if isinstance(target, ModuleType):
        registry.register_module(target, source)
    elif isinstance(target, type) and issubclass(target, Block):
        registry.register(target, source)
    elif isinstance(target, list | tuple):
        for item in target:
            registry.register(item, source)
    else:
        raise RegistryError(f"entry point {name!r} ({source}) is not a module, Block class or list")


def load_builtin(registry: BlockRegistry) -> None:
    """Register every block of the ``blocks`` package."""
    import blocks

    for info in pkgutil.iter_modules(blocks.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"blocks.{info.name}")
        registry.register_module(module, f"blocks.{info.name}")


def load_entry_points(registry: BlockRegistry) -> None:
    """Register the blocks that installed packages declare in the ``workbench.blocks`` group."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {ep.name} ({ep.value})"
        try:
            target = ep.load()
        except Exception as exc:
            raise RegistryError(f"cannot load {source}: {exc}") from exc
        _load_entry_point_target(target, ep.name, registry, source)


_default: BlockRegistry | None = None
_pending: list[tuple[type[Block], str]] = []


def default_registry() -> BlockRegistry:
    """The process-wide registry of built-in, installed and locally defined blocks (loaded once)."""
    global _default
    if _default is None:
        registry = BlockRegistry()
        load_builtin(registry)
        load_entry_points(registry)
        _default = registry
        while _pending:
            cls, source = _pending.pop(0)
            registry.register(cls, source, replace=True)
    return _default


def register_local(cls: type[Block], source: str) -> None:
    """Register a block defined at run time (``@block`` in a notebook cell) in the default registry.

    Defining it again from the same place replaces the earlier definition.
    """
    if _default is None:
        if not source.startswith("blocks."):
            _pending.append((cls, source))
        return
    if not source.startswith("blocks."):
        _default.register(cls, source, replace=True)
