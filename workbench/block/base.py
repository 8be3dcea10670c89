"""The block contract: what every block in the library and every plugin block implements.

A block is a class with a stable UUID, a name, a description, categories, a pydantic ``Input`` and
``Output`` model whose fields are its pins, and ``async def run(self, input_data, **kwargs)`` that yields
``(output_name, value)`` pairs any number of times. Yielding ``("error", message)`` or raising fails the
node. Values are passed between nodes by reference (no copy per link, for speed): a block must not
mutate its inputs in place; build a new value instead. Self-test data (``test_input``, ``test_output``, ``test_mock``) travels with the block and one
parametrized test runs it for every registered block.

Example::

    class Shout(Block):
        id = "2f7f6c1e-0c0e-4c53-9b8a-6a8d5d7f0a11"
        description = "Upper-cases a text."
        categories = (BlockCategory.TEXT,)

        class Input(BlockSchema):
            text: str

        class Output(BlockSchema):
            output: str

        test_input = {"text": "hi"}
        test_output = [("output", "HI")]

        async def run(self, input_data: Input, **kwargs):
            yield "output", input_data.text.upper()
"""

from __future__ import annotations

import copy
import enum
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, get_type_hints

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.fields import FieldInfo

from workbench.block.coerce import convert, needs_conversion

if TYPE_CHECKING:
    from workbench.block.context import RunContext

BlockOutput = AsyncGenerator[tuple[str, Any], None]
"""What ``Block.run`` returns: an async generator of ``(output pin, value)`` pairs."""


class BlockType(enum.StrEnum):
    """How the engine treats a block (AutoGPT's block types)."""

    STANDARD = "STANDARD"
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    NOTE = "NOTE"
    AGENT = "AGENT"
    AI = "AI"
    HUMAN_IN_THE_LOOP = "HUMAN_IN_THE_LOOP"


class BlockCategory(enum.StrEnum):
    """Catalogue categories (AutoGPT's names)."""

    AI = "AI"
    SOCIAL = "SOCIAL"
    TEXT = "TEXT"
    SEARCH = "SEARCH"
    BASIC = "BASIC"
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    LOGIC = "LOGIC"
    COMMUNICATION = "COMMUNICATION"
    DEVELOPER_TOOLS = "DEVELOPER_TOOLS"
    DATA = "DATA"
    AGENT = "AGENT"
    SAFETY = "SAFETY"
    HARDWARE = "HARDWARE"
    MULTIMEDIA = "MULTIMEDIA"
    PRODUCTIVITY = "PRODUCTIVITY"
    ISSUE_TRACKING = "ISSUE_TRACKING"
    CRM = "CRM"
    MARKETING = "MARKETING"


class BlockSchema(BaseModel):
    """Base of every block's ``Input`` and ``Output`` model; its fields are the block's pins."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="ignore", populate_by_name=True, defer_build=True
    )


class EmptySchema(BlockSchema):
    """A schema with no pins."""


@dataclass(frozen=True, slots=True)
class InputPin:
    """One declared input: its name, annotation, whether it is required, and its default."""

    name: str
    annotation: Any
    required: bool
    default: Any
    convertible: bool


class Block:
    """Base class of every block. Subclasses set the class attributes and implement :meth:`run`."""

    id: ClassVar[str]
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    categories: ClassVar[tuple[BlockCategory, ...]] = ()
    block_type: ClassVar[BlockType] = BlockType.STANDARD
    static_output: ClassVar[bool] = False
    dynamic_outputs: ClassVar[bool] = False
    """True for blocks whose output pins are not declared (the agent executor)."""

    Input: ClassVar[type[BlockSchema]] = EmptySchema
    Output: ClassVar[type[BlockSchema]] = EmptySchema

    timeout: ClassVar[float | None] = None
    """Wall-clock limit of one node execution in seconds; None takes the configured default."""
    max_retries: ClassVar[int] = 0
    """How many times a :class:`~workbench.errors.RetryableError` is retried (before any output)."""
    retry_backoff: ClassVar[float] = 0.5
    """First retry delay in seconds; doubles on each further attempt."""
    cache_ttl: ClassVar[float | None] = None
    """Seconds the outputs for given inputs may be reused (the block result cache, shared by every
    executor through Redis). Only for blocks whose outputs depend on their inputs alone."""
    optional_links: ClassVar[frozenset[str]] = frozenset()
    """Linked input pins an execution does not wait for (SmartDecisionMaker's loop inputs, rule E5)."""
    custom_wait: ClassVar[bool] = False
    """True when :meth:`waiting_for` holds executions back beyond the linked-pin rule."""

    test_input: ClassVar[dict[str, Any] | list[dict[str, Any]] | None] = None
    test_output: ClassVar[list[tuple[str, Any]] | None] = None
    test_mock: ClassVar[dict[str, Callable[..., Any]] | None] = None
    test_credentials: ClassVar[Any] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def waiting_for(self, data: dict[str, Any]) -> str | None:
        """An input a ready-looking execution must still wait for (only called when ``custom_wait``).

        ``data`` is the node's defaults with the delivered values on top; None means run now.
        """
        return None

    def run(self, input_data: Any, **kwargs: Any) -> BlockOutput:
        """Yield ``(output pin, value)`` pairs; ``kwargs`` carries ``context`` (a RunContext)."""
        raise NotImplementedError(f"block {self.name} does not implement run()")

    # ---- derived, computed once per block instance -------------------------------------------

    @cached_property
    def input_pins(self) -> dict[str, InputPin]:
        """Declared inputs by name."""
        hints = _hints(self.Input)
        pins = {}
        for name, field in self.Input.model_fields.items():
            annotation = hints.get(name, field.annotation)
            pins[name] = InputPin(
                name=name,
                annotation=annotation,
                required=field.is_required(),
                default=None if field.is_required() else field.get_default(call_default_factory=True),
                convertible=_convertible(annotation),
            )
        return pins

    @cached_property
    def output_pins(self) -> dict[str, Any]:
        """Declared outputs by name (with the implicit ``error`` pin), mapped to their annotation."""
        hints = _hints(self.Output)
        pins = {name: hints.get(name, f.annotation) for name, f in self.Output.model_fields.items()}
        pins.setdefault("error", str)
        return pins

    @cached_property
    def output_validators(self) -> dict[str, TypeAdapter[Any]]:
        """Type adapters of the outputs that are worth checking (not ``Any``)."""
        out = {}
        for name, annotation in self.output_pins.items():
            if annotation is Any or annotation is object:
                continue
            out[name] = TypeAdapter(annotation, config=_ADAPTER_CONFIG if _is_bare(annotation) else None)
        return out

    @cached_property
    def required_inputs(self) -> frozenset[str]:
        """Names of the inputs without a default."""
        return frozenset(n for n, p in self.input_pins.items() if p.required)

    def coerce_inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply the contract's type coercion to every declared input whose type differs (E5.4)."""
        pins = self.input_pins
        for name, value in data.items():
            pin = pins.get(name)
            if pin is not None and pin.convertible and needs_conversion(value, pin.annotation):
                data[name] = convert(value, pin.annotation)
        return data

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of the inputs (a fresh copy; computed once per block)."""
        return copy.deepcopy(self._input_schema)

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of the outputs, with the implicit ``error`` pin (a fresh copy)."""
        return copy.deepcopy(self._output_schema)

    def graph_input_schema(self, schema: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """For an INPUT block: the JSON Schema of the graph input a node of this block declares.

        ``schema`` is the generic one (the ``value`` pin's schema with the node's title, description,
        default...), ``defaults`` the node's input defaults; the result replaces ``schema``. AutoGPT's
        ``generate_schema``: a table input names its columns, a date input says ``format: date``.
        """
        return schema

    @cached_property
    def _input_schema(self) -> dict[str, Any]:
        return _json_schema(self.Input)

    @cached_property
    def _output_schema(self) -> dict[str, Any]:
        schema = _json_schema(self.Output)
        schema.setdefault("properties", {}).setdefault(
            "error", {"type": "string", "title": "Error", "description": "Why the block failed."}
        )
        return schema

    def describe(self) -> dict[str, Any]:
        """The catalogue entry: id, name, description, categories, type, schemas."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "categories": [str(c) for c in self.categories],
            "block_type": str(self.block_type),
            "static_output": self.static_output,
            "input_schema": self.input_schema(),
            "output_schema": self.output_schema(),
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.id}>"


_ADAPTER_CONFIG = ConfigDict(arbitrary_types_allowed=True)


def _is_bare(annotation: Any) -> bool:
    return not (isinstance(annotation, type) and issubclass(annotation, BaseModel))


def _hints(model: type[BaseModel]) -> dict[str, Any]:
    try:
        return get_type_hints(model, include_extras=False)
    except Exception:
        return {}


def _convertible(annotation: Any) -> bool:
    return annotation is not Any


def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    try:
        return model.model_json_schema()
    except Exception:
        # Pins of arbitrary Python types have no JSON Schema; describe them as "any value".
        props: dict[str, Any] = {}
        for name, field in model.model_fields.items():
            props[name] = _field_schema(name, field)
        required = [n for n, f in model.model_fields.items() if f.is_required()]
        return {"type": "object", "title": model.__name__, "properties": props, "required": required}


def _field_schema(name: str, field: FieldInfo) -> dict[str, Any]:
    try:
        schema = TypeAdapter(field.annotation).json_schema()
    except Exception:
        schema = {}
    schema.setdefault("title", field.title or name.replace("_", " ").title())
    if field.description:
        schema["description"] = field.description
    return schema


def uuid_for(name: str) -> str:
    """A stable UUID derived from a qualified name (used for blocks defined without an id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"workbench-block:{name}"))


def get_context(kwargs: dict[str, Any]) -> RunContext:
    """The RunContext passed to ``run``; raises a clear error when a block is run without one."""
    ctx = kwargs.get("context")
    if ctx is None:
        raise RuntimeError("this block needs a run context (run it through the engine)")
    return ctx
