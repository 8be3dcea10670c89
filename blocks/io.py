"""Graph entry and exit points: the agent input blocks and the agent output block."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema, BlockType


class AgentInputBlock(Block):
    """A graph input: the run's input ``name`` arrives as ``value`` and leaves on ``result``."""

    id = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
    name = "AgentInputBlock"
    description = "Base block for user inputs: yields the value given to the graph under `name`."
    categories = (BlockCategory.INPUT, BlockCategory.BASIC)
    block_type = BlockType.INPUT
    static_output = True

    class Input(BlockSchema):
        name: str = Field(description="The name of the input; graph inputs are keyed by it.")
        value: Any = Field(default=None, description="The value of the input.")
        title: str | None = Field(default=None, description="The title of the input.")
        description: str | None = Field(default=None, description="Help text shown to the user.")
        advanced: bool = Field(default=False, description="Show only in advanced settings.")
        secret: bool = Field(default=False, description="Whether the input should be treated as a secret.")

    class Output(BlockSchema):
        result: Any = Field(description="The value passed as input.")

    test_input = [{"name": "input_1", "value": "Hello, World!"}, {"name": "input_2", "value": None}]
    test_output = [("result", "Hello, World!")]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if input_data.value is not None:
            yield "result", input_data.value


class AgentShortTextInputBlock(AgentInputBlock):
    """A single-line text input."""

    id = "7fcd3bcb-8e1b-4e69-903d-32d3d4a92158"
    name = "AgentShortTextInputBlock"
    description = "Block for a short, single-line text input."

    class Input(AgentInputBlock.Input):
        value: str | None = Field(
            default=None, description="Short text input.", json_schema_extra={"format": "short-text"}
        )

    class Output(BlockSchema):
        result: str = Field(description="Short text result.")

    test_input = [{"name": "short", "value": "Hello"}, {"name": "short"}]
    test_output = [("result", "Hello")]


class AgentLongTextInputBlock(AgentInputBlock):
    """A multi-line text input."""

    id = "90a56ffb-7024-4b2b-ab50-e26c5e5ab8ba"
    name = "AgentLongTextInputBlock"
    description = "Block for a long, multi-line text input."

    class Input(AgentInputBlock.Input):
        value: str | None = Field(
            default=None, description="Long text input.", json_schema_extra={"format": "long-text"}
        )

    class Output(BlockSchema):
        result: str = Field(description="Long text result.")

    test_input = [{"name": "long", "value": "line 1\nline 2"}]
    test_output = [("result", "line 1\nline 2")]


class AgentNumberInputBlock(AgentInputBlock):
    """An integer input."""

    id = "96dae2bb-97a2-41c2-bd2f-13a3b5a8ea98"
    name = "AgentNumberInputBlock"
    description = "Block for a number input."

    class Input(AgentInputBlock.Input):
        value: int | None = Field(default=None, description="Number input.")

    class Output(BlockSchema):
        result: int = Field(description="Number result.")

    test_input = [{"name": "n", "value": 42}, {"name": "n", "value": "7"}]
    test_output = [("result", 42), ("result", 7)]


class AgentDropdownInputBlock(AgentInputBlock):
    """A choice among ``options`` (the input schema gets ``enum``; the run does not enforce it)."""

    id = "655d6fdf-a334-421c-b733-520549c07cd1"
    name = "AgentDropdownInputBlock"
    description = "Block for a dropdown (choice) input."

    class Input(AgentInputBlock.Input):
        value: str | None = Field(default=None, description="Selected option.")
        options: list[Any] = Field(default_factory=list, description="The allowed options.")

    class Output(BlockSchema):
        result: str = Field(description="Selected option.")

    test_input = [{"name": "colour", "value": "red", "options": ["red", "blue"]}]
    test_output = [("result", "red")]


class AgentToggleInputBlock(AgentInputBlock):
    """A boolean input (False is yielded; only None is suppressed)."""

    id = "cbf36ab5-df4a-43b6-8a7f-f7ed8652116e"
    name = "AgentToggleInputBlock"
    description = "Block for a boolean toggle input."

    class Input(AgentInputBlock.Input):
        value: bool = Field(default=False, description="Toggle input.")

    class Output(BlockSchema):
        result: bool = Field(description="Toggle result.")

    test_input = [{"name": "t", "value": True}, {"name": "t", "value": False}]
    test_output = [("result", True), ("result", False)]


class AgentOutputBlock(Block):
    """A graph output: every value reaching ``value`` is recorded under the output ``name``."""

    id = "363ae599-353e-4804-937e-b2ee3cef3da4"
    name = "AgentOutputBlock"
    description = "Records a graph output under `name`; optionally formats it with a Jinja2 template."
    categories = (BlockCategory.OUTPUT, BlockCategory.BASIC)
    block_type = BlockType.OUTPUT
    static_output = True

    class Input(BlockSchema):
        value: Any = Field(default=None, description="The value to record.")
        name: str = Field(description="The name of the output.")
        title: str | None = Field(default=None, description="The title of the output.")
        description: str | None = Field(default=None, description="Help text for the output.")
        format: str = Field(default="", description="Jinja2 template rendered with {name: value}.")
        escape_html: bool = Field(default=False, description="HTML-escape the value in `format`.")
        advanced: bool = Field(default=False, description="Show only in advanced settings.")
        secret: bool = Field(default=False, description="Whether the output is a secret.")

    class Output(BlockSchema):
        output: Any = Field(description="The value recorded as output.")
        name: Any = Field(description="The name of the output.")

    test_input = [
        {"value": "Hello, World!", "name": "output_1"},
        {"value": 42, "name": "output_2", "format": "Answer: {{ output_2 }}"},
        {"value": "<b>", "name": "o", "format": "{{ o }}", "escape_html": True},
        {"value": 1, "name": "o", "format": "{{ o | nope }}"},
    ]
    test_output = [
        ("output", "Hello, World!"),
        ("name", "output_1"),
        ("output", "Answer: 42"),
        ("output", "&lt;b&gt;"),
        ("output", lambda v: isinstance(v, str) and v.startswith("Error: ")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if input_data.format:
            from workbench.templating import render  # Jinja: imported when a template is used

            try:
                text = await render(
                    input_data.format, {input_data.name: input_data.value}, autoescape=input_data.escape_html
                )
            except Exception as exc:
                text = f"Error: {exc}, {input_data.value}"
            yield "output", text
        else:
            yield "output", input_data.value
            yield "name", input_data.name
