"""File blocks: keep a file in the file store, read a file's text, take a file as an agent input.

A file travels between blocks as a string (AutoGPT's ``MediaFileType``): a ``workspace://<id>``
reference to the user's file store, a ``data:`` URI or an ``http(s)`` URL (see :mod:`workbench.files`).
These blocks output references, or the content as a ``data:`` URI when ``base_64`` is set; a reference
is what to pass along (it is small, and the file stays the user's own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from blocks.io import AgentInputBlock
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.files import read_media, store_media

FILE_FORMAT = {"format": "file"}
"""The JSON Schema of a file pin, as AutoGPT's ``MediaFileType`` describes it."""
_SELFTEST_REF = "workspace://6f0d7c8e-2a51-4c3b-9a7e-5d8b1e4f2c90"


async def keep_file(context: RunContext, value: str) -> str:
    """Keep ``value`` in the user's file store; its ``workspace://`` reference (a reference already
    there is checked and returned as it is)."""
    return await store_media(context, value)


async def as_data_uri(context: RunContext, value: str) -> str:
    """The file ``value`` stands for, as a ``data:`` URI (nothing is stored)."""
    return (await read_media(context, value)).data_uri()


def _base_64_pin() -> Any:
    """The ``base_64`` input pin of the blocks that output a file."""
    return Field(
        default=False,
        title="Produce Base64 Output",
        description="Output the content as a base64 data: URI instead of a reference (not "
        "recommended: a reference passes between blocks just as well).",
        json_schema_extra={"advanced": True},
    )


class _KeepsFiles:
    """What the blocks that output a file share: the file kept in the store (its reference) or, with
    ``base_64``, its content."""

    test_mock: ClassVar[dict[str, Callable[..., Any]] | None] = {"keep": lambda _ctx, _value: _SELFTEST_REF}

    async def keep(self, context: RunContext, value: str) -> str:
        """Store the file (the self-test replaces this: it runs without a file store)."""
        return await keep_file(context, value)

    async def file_out(self, context: RunContext, value: str, base_64: bool) -> str:
        """``value`` as a data: URI with ``base_64``, else kept in the store: its reference."""
        return await as_data_uri(context, value) if base_64 else await self.keep(context, value)


class FileStoreBlock(_KeepsFiles, Block):
    """Keeps a file in the user's file store and outputs its reference (or its content)."""

    id = "cbb50872-625b-42f0-8203-a2ae78242d8a"
    name = "FileStoreBlock"
    description = (
        "Stores the input file (a URL, a data: URI or a workspace:// reference) in your file store and "
        "outputs its workspace:// reference, or its content as a base64 data: URI."
    )
    categories = (BlockCategory.BASIC, BlockCategory.MULTIMEDIA)
    static_output = True

    class Input(BlockSchema):
        file_in: str = Field(
            description="The file to store: a URL, a data: URI, or a workspace:// reference.",
            json_schema_extra=FILE_FORMAT,
        )
        base_64: bool = _base_64_pin()

    class Output(BlockSchema):
        file_out: str = Field(
            description="The stored file's workspace:// reference (or its data: URI with base_64).",
            json_schema_extra=FILE_FORMAT,
        )

    test_input = [
        {"file_in": "data:text/plain;base64,SGVsbG8gV29ybGQ="},
        {"file_in": "data:text/plain;base64,SGVsbG8gV29ybGQ=", "base_64": True},
        {"file_in": "data:,Hi%20there", "base_64": True},
    ]
    test_output = [
        ("file_out", _SELFTEST_REF),
        ("file_out", "data:text/plain;base64,SGVsbG8gV29ybGQ="),
        ("file_out", "data:text/plain;base64,SGkgdGhlcmU="),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "file_out", await self.file_out(get_context(kwargs), input_data.file_in, input_data.base_64)


def _chunks(text: str, size: int) -> list[str]:
    """``text`` cut every ``size`` characters (no chunk when it is empty); whole when ``size`` <= 0."""
    if size <= 0:
        return [text] if text else []
    return [text[i : i + size] for i in range(0, len(text), size)]


class FileReadBlock(Block):
    """Reads a file's text and outputs it whole or in chunks."""

    id = "3735a31f-7e18-4aca-9e90-08a7120674bc"
    name = "FileReadBlock"
    description = (
        "Reads a file (a workspace:// reference, a data: URI or a URL) and outputs its text, with "
        "optional chunking by delimiter and size limits."
    )
    categories = (BlockCategory.TEXT, BlockCategory.DATA)

    class Input(BlockSchema):
        file_input: str = Field(
            description="The file to read from: a workspace:// reference, a data: URI or a URL.",
            json_schema_extra=FILE_FORMAT,
        )
        delimiter: str = Field(
            default="",
            description="Delimiter to split the content into rows/chunks (e.g. a newline for lines).",
            json_schema_extra={"advanced": True},
        )
        size_limit: int = Field(
            default=0,
            description="Maximum size in characters of each chunk to yield (0 for no limit).",
            json_schema_extra={"advanced": True},
        )
        row_limit: int = Field(
            default=0,
            description="Maximum number of rows to process (0 for no limit, requires delimiter).",
            json_schema_extra={"advanced": True},
        )
        skip_size: int = Field(
            default=0,
            description="Number of characters to skip from the beginning of the file.",
            json_schema_extra={"advanced": True},
        )
        skip_rows: int = Field(
            default=0,
            description="Number of rows to skip from the beginning (requires delimiter).",
            json_schema_extra={"advanced": True},
        )

    class Output(BlockSchema):
        content: str = Field(
            description="File content, yielded as individual chunks when delimiter or size limits apply."
        )

    test_input = [
        {"file_input": "data:text/plain;base64,SGVsbG8gV29ybGQ="},
        {
            "file_input": "data:text/csv,h%0Aa%0Ab%0Ac%0Ad",
            "delimiter": "\n",
            "skip_rows": 1,
            "row_limit": 3,
            "size_limit": 2,
        },
        {"file_input": "data:text/plain;base64,Y2Fm6Q==", "skip_size": 2},
        {"file_input": "data:text/plain,"},
        {"file_input": "data:,a;b", "delimiter": ";", "skip_rows": 5},
    ]
    test_output = [
        ("content", "Hello World"),
        ("content", "a\n"),
        ("content", "b\n"),
        ("content", "c"),
        ("content", "fé"),
        ("content", ""),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        media = await read_media(get_context(kwargs), input_data.file_input)
        text = media.text()
        if input_data.skip_size > 0:
            text = text[input_data.skip_size :]
        rows = text.split(input_data.delimiter) if input_data.delimiter else [text]
        if input_data.skip_rows > 0:
            rows = rows[input_data.skip_rows :]
        if input_data.row_limit > 0:
            rows = rows[: input_data.row_limit]
        if not rows:  # every row skipped: AutoGPT says so with one empty content
            yield "content", ""
        for chunk in _chunks(input_data.delimiter.join(rows), input_data.size_limit):
            yield "content", chunk


class AgentFileInputBlock(_KeepsFiles, AgentInputBlock):
    """A graph input whose value is a file: it is kept in the file store and its reference passed on."""

    id = "95ead23f-8283-4654-aef3-10c053b74a31"
    name = "AgentFileInputBlock"
    description = (
        "Block for a file input: the file (an upload's workspace:// reference, a data: URI or a URL) is "
        "kept in your file store and its reference is output (or its content, with base_64)."
    )

    class Input(AgentInputBlock.Input):
        value: str | None = Field(
            default=None,
            title="Default Value",
            description="Path or reference to an uploaded file: a workspace:// reference, a data: URI or "
            "a URL.",
            json_schema_extra=FILE_FORMAT,
        )
        base_64: bool = _base_64_pin()

    class Output(BlockSchema):
        result: str = Field(description="File reference/path result.", json_schema_extra=FILE_FORMAT)

    test_input = [
        {
            "value": "data:image/png;base64,MQ==",
            "name": "file_upload_1",
            "description": "Example file upload 1",
        },
        {"value": "data:image/png;base64,MQ==", "name": "file_upload_2", "base_64": True},
        {"name": "file_upload_3"},
    ]
    test_output = [
        ("result", str),
        ("result", "data:image/png;base64,MQ=="),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if input_data.value:
            yield "result", await self.file_out(get_context(kwargs), input_data.value, input_data.base_64)
