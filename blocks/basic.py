"""Basic utility blocks: store a value, print, sticky notes, type conversion, reversing a list."""

from __future__ import annotations

import enum
import logging
from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema, BlockType
from workbench.block.coerce import convert

print_log = logging.getLogger("workbench.block.print")
"""Where PrintToConsoleBlock writes its text (at INFO)."""


class StoreValueBlock(Block):
    """Forwards ``data`` (or ``input`` when ``data`` is falsy) as a constant that links can reuse."""

    id = "1ff065e9-88e8-4358-9d82-8dc91f622ba9"
    name = "StoreValueBlock"
    description = (
        "Forwards the provided data as output, or the input when data is empty or falsy; "
        "its output links are static, so the value can be reused by later executions."
    )
    categories = (BlockCategory.BASIC,)
    static_output = True

    class Input(BlockSchema):
        input: Any = Field(description="Trigger to output the value; forwarded itself when `data` is falsy.")
        data: Any = Field(
            default=None, description="The constant data to output; when falsy `input` is used."
        )

    class Output(BlockSchema):
        output: Any = Field(description="The stored value: `data` if truthy, else `input`.")

    test_input = [
        {"input": "Hello, World!"},
        {"input": "Hello, World!", "data": "Existing Data"},
        {"input": "fallback", "data": 0},
        {"input": "fallback", "data": ""},
        {"input": "fallback", "data": []},
        {"input": "fallback", "data": {}},
        {"input": 1, "data": False},
        {"input": "ignored", "data": {"k": [1, 2]}},
    ]
    test_output = [
        ("output", "Hello, World!"),
        ("output", "Existing Data"),
        ("output", "fallback"),
        ("output", "fallback"),
        ("output", "fallback"),
        ("output", "fallback"),
        ("output", 1),
        ("output", {"k": [1, 2]}),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "output", input_data.data or input_data.input


class PrintToConsoleBlock(Block):
    """Logs ``text`` on the ``workbench.block.print`` logger and passes it through."""

    id = "f3b1c1b2-4c4f-4f0d-8d2f-4c4f0d8d2f4c"
    name = "PrintToConsoleBlock"
    description = "Writes the text to the server log (logger `workbench.block.print`) and passes it on."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        text: Any = Field(description="The value to print (any type).")

    class Output(BlockSchema):
        output: Any = Field(description="The value that was printed, unchanged.")
        status: str = Field(description='Always "printed".')

    test_input = [{"text": "Hello, World!"}, {"text": {"a": [1, 2]}}, {"text": 0}]
    test_output = [
        ("output", "Hello, World!"),
        ("status", "printed"),
        ("output", {"a": [1, 2]}),
        ("status", "printed"),
        ("output", 0),
        ("status", "printed"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        print_log.info("%s", input_data.text)
        yield "output", input_data.text
        yield "status", "printed"


class NoteBlock(Block):
    """A sticky note on the canvas; the executor never runs NOTE nodes."""

    id = "cc10ff7b-7753-4ff2-9af6-9399b1a7eddc"
    name = "NoteBlock"
    description = "A sticky note for documenting a graph; it is skipped when the graph runs."
    categories = (BlockCategory.BASIC,)
    block_type = BlockType.NOTE

    class Input(BlockSchema):
        text: str = Field(description="The text of the note.")

    class Output(BlockSchema):
        output: str = Field(description="The text of the note.")

    test_input = [{"text": "Hello, World!"}, {"text": ""}, {"text": 42}]
    test_output = [("output", "Hello, World!"), ("output", ""), ("output", "42")]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "output", input_data.text


class TypeOptions(enum.StrEnum):
    """Targets of the Universal Type Converter."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"
    DICTIONARY = "dictionary"


_TARGETS: dict[TypeOptions, type] = {
    TypeOptions.STRING: str,
    TypeOptions.NUMBER: float,
    TypeOptions.BOOLEAN: bool,
    TypeOptions.LIST: list,
    TypeOptions.DICTIONARY: dict,
}


class UniversalTypeConverterBlock(Block):
    """Converts a value to string, number, boolean, list or dictionary by the coercion rules."""

    id = "95d1b990-ce13-4d88-9737-ba5c2070c97b"
    name = "UniversalTypeConverterBlock"
    description = (
        "Converts a value to another type (string, number, boolean, list or dictionary) "
        "using the same rules the engine applies to pin values."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        value: Any = Field(description="The value to convert.")
        type: TypeOptions = Field(description="The type to convert to.")

    class Output(BlockSchema):
        value: Any = Field(description="The converted value.")

    test_input = [
        {"value": {"a": 1}, "type": "string"},
        {"value": 5, "type": "string"},
        {"value": "text", "type": "string"},
        {"value": "3.5", "type": "number"},
        {"value": "42", "type": "number"},
        {"value": "not a number", "type": "number"},
        {"value": [1, 2, 3], "type": "number"},
        {"value": "TRUE", "type": "boolean"},
        {"value": "1", "type": "boolean"},
        {"value": "yes", "type": "boolean"},
        {"value": 0, "type": "boolean"},
        {"value": "[1, 2]", "type": "list"},
        {"value": "[oops]", "type": "list"},
        {"value": "abc", "type": "list"},
        {"value": {"a": 1}, "type": "list"},
        {"value": '{"a": 1}', "type": "dictionary"},
        {"value": "[1, 2]", "type": "dictionary"},
        {"value": "not json", "type": "dictionary"},
        {"value": ["x", "y"], "type": "dictionary"},
        {"value": 7, "type": "dictionary"},
    ]
    test_output = [
        ("value", '{"a": 1}'),
        ("value", "5"),
        ("value", "text"),
        ("value", 3.5),
        ("value", 42),
        ("value", 0),
        ("value", 3),
        ("value", True),
        ("value", True),
        ("value", False),
        ("value", False),
        ("value", [1, 2]),
        ("value", ["[oops]"]),
        ("value", ["abc"]),
        ("value", [("a", 1)]),
        ("value", {"a": 1}),
        ("value", {"value": [1, 2]}),
        ("value", {"value": "not json"}),
        ("value", {0: "x", 1: "y"}),
        ("value", {"value": 7}),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            converted = convert(input_data.value, _TARGETS[TypeOptions(input_data.type)])
        except Exception as exc:
            yield "error", f"Failed to convert value: {exc}"
            return
        yield "value", converted


class ReverseListOrderBlock(Block):
    """Reverses the order of a list (the input list is not changed)."""

    id = "422cb708-3109-4277-bfe3-bc2ae5812777"
    name = "ReverseListOrderBlock"
    description = "Yields a copy of the list with its items in reverse order."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        input_list: list[Any] = Field(description="The list to reverse.")

    class Output(BlockSchema):
        reversed_list: list[Any] = Field(description="The items of the list in reverse order.")

    test_input = [
        {"input_list": [1, 2, 3]},
        {"input_list": []},
        {"input_list": ["a", {"b": 1}, None]},
        {"input_list": "single"},
    ]
    test_output = [
        ("reversed_list", [3, 2, 1]),
        ("reversed_list", []),
        ("reversed_list", [None, {"b": 1}, "a"]),
        ("reversed_list", ["single"]),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "reversed_list", list(reversed(input_data.input_list))
