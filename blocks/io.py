"""Graph entry and exit points: the agent input blocks and the agent output block.

Each input block is one graph input, named by its ``name`` pin: the run's value for that name arrives
on ``value`` and leaves on ``result``. The graph's input JSON Schema (see
:meth:`workbench.engine.plan.Plan.input_schema`) takes each input's schema from its block's ``value``
pin, refined by :meth:`~workbench.block.Block.graph_input_schema` (dates say ``format: date``, a table
names its columns).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, time
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

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


def _input_error(
    info: ValidationInfo, expected: str, value: Any, cause: ValidationError | None = None
) -> PydanticCustomError:
    """The error of a graph input's value: which input, what it expects, what it got (and, for a
    value with parts, which part is wrong)."""
    name = info.data.get("name")
    got = repr(value)
    got = got if len(got) <= 80 else got[:77] + "..."
    if cause is not None:
        first = cause.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "union[")))
        got += f" ({where + ': ' if where else ''}{first['msg']})"
    return PydanticCustomError(
        "input_form",
        "input {name} expects {expected}, got {got}",
        {"name": repr(name) if isinstance(name, str) else "(unnamed)", "expected": expected, "got": got},
    )


def _value_form(form: str, *, with_cause: bool = False) -> Any:
    """A wrap validator of the ``value`` pin: a value that fails its type is :func:`_input_error`'s
    error, saying ``form`` (and, ``with_cause``, which part is wrong)."""

    def check(cls: type, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            raise _input_error(info, form, value, exc if with_cause else None) from None

    return field_validator("value", mode="wrap")(classmethod(check))


def _only_value_schema(schema: dict[str, Any], **typed: Any) -> dict[str, Any]:
    """``schema`` with its type keywords (``anyOf``, ``type``, ``format``...) replaced by ``typed``."""
    kept = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "type", "format", "items", "$ref")}
    return {**typed, **kept}


DATE_FORM = "a date in the form YYYY-MM-DD (e.g. 2025-03-19)"
TIME_FORM = "a time in the form HH:MM:SS or HH:MM, 24-hour (e.g. 09:30:00)"


class AgentDateInputBlock(AgentInputBlock):
    """A date input (``YYYY-MM-DD``); yields a ``datetime.date``."""

    id = "7e198b09-4994-47db-8b4d-952d98241817"
    name = "AgentDateInputBlock"
    description = (
        "Block for a date input (YYYY-MM-DD); the agent's input schema says format: date. A value in "
        "another form fails the node, naming the input."
    )

    class Input(AgentInputBlock.Input):
        value: date | None = Field(
            default=None, description="Date input (YYYY-MM-DD).", json_schema_extra={"format": "date"}
        )

        _date = _value_form(DATE_FORM)

    class Output(BlockSchema):
        result: date = Field(description="Date result.")

    test_input = [
        {"value": "2025-03-19", "name": "date_input_1", "description": "Example date input 1"},
        {"value": "2023-12-31", "name": "date_input_2", "description": "Example date input 2"},
        {"value": "2024-02-29T00:00:00", "name": "midnight"},
        {"name": "unset"},
    ]
    test_output = [
        ("result", date(2025, 3, 19)),
        ("result", date(2023, 12, 31)),
        ("result", date(2024, 2, 29)),
    ]

    def graph_input_schema(self, schema: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """A string of ``format: date``."""
        return _only_value_schema(schema, type="string", format="date")


class AgentTimeInputBlock(AgentInputBlock):
    """A time-of-day input (``HH:MM:SS``); yields a ``datetime.time``."""

    id = "2a1c757e-86cf-4c7e-aacf-060dc382e434"
    name = "AgentTimeInputBlock"
    description = (
        "Block for a time input (HH:MM:SS or HH:MM, 24-hour); the agent's input schema says format: "
        "time. A value in another form fails the node, naming the input."
    )

    class Input(AgentInputBlock.Input):
        value: time | None = Field(
            default=None, description="Time input (HH:MM:SS).", json_schema_extra={"format": "time"}
        )

        _time = _value_form(TIME_FORM)

    class Output(BlockSchema):
        result: time = Field(description="Time result.")

    test_input = [
        {"value": "09:30:00", "name": "time_input_1", "description": "Time example 1"},
        {"value": "23:59:59", "name": "time_input_2", "description": "Time example 2"},
        {"value": "07:05", "name": "short"},
        {"name": "unset"},
    ]
    test_output = [
        ("result", time(9, 30, 0)),
        ("result", time(23, 59, 59)),
        ("result", time(7, 5)),
    ]

    def graph_input_schema(self, schema: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """A string of ``format: time``."""
        return _only_value_schema(schema, type="string", format="time")


DEFAULT_COLUMNS = ("Column 1", "Column 2", "Column 3")
TABLE_FORM = "a table: a list of rows, each an object keyed by the column headers"


class AgentTableInputBlock(AgentInputBlock):
    """A table input: rows of values keyed by the column headers; an unset table yields ``[]``."""

    id = "5603b273-f41e-4020-af7d-fbc9c6a8d928"
    name = "AgentTableInputBlock"
    description = (
        "Block for a table input: a list of rows, each a dictionary keyed by the column headers. The "
        "agent's input schema is an array of objects with one property per header (format: table). "
        "An unset table yields an empty list."
    )

    class Input(AgentInputBlock.Input):
        value: list[dict[str, Any]] | None = Field(
            default=None, description="The table data: a list of rows, each a dictionary keyed by header."
        )
        column_headers: list[str] = Field(
            default_factory=lambda: list(DEFAULT_COLUMNS), description="The table's column headers."
        )

        _table = _value_form(TABLE_FORM, with_cause=True)

    class Output(BlockSchema):
        result: list[dict[str, Any]] = Field(description="The table rows, as dictionaries keyed by header.")

    test_input = [
        {
            "name": "test_table",
            "column_headers": ["Name", "Age", "City"],
            "value": [
                {"Name": "John", "Age": "30", "City": "New York"},
                {"Name": "Jane", "Age": "25", "City": "London"},
            ],
            "description": "Example table input",
        },
    ]
    test_output = [
        (
            "result",
            [
                {"Name": "John", "Age": "30", "City": "New York"},
                {"Name": "Jane", "Age": "25", "City": "London"},
            ],
        ),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "result", input_data.value if input_data.value is not None else []

    def graph_input_schema(self, schema: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """An array of objects with one string property per column header (``format: table``)."""
        headers = defaults.get("column_headers")
        if not isinstance(headers, list) or not headers:
            headers = list(DEFAULT_COLUMNS)
        columns = {str(h): {"type": "string"} for h in headers}
        items = {"type": "object", "properties": columns}
        return _only_value_schema(schema, type="array", format="table", items=items)


# ---- Google Drive file --------------------------------------------------------------------------

AttachmentView = Literal["DOCS", "DOCUMENTS", "SPREADSHEETS", "PRESENTATIONS", "DOCS_IMAGES", "FOLDERS"]
"""The views Google's file picker can show (AutoGPT's names)."""

DRIVE_SCOPES = ("https://www.googleapis.com/auth/drive.file",)
_DRIVE_URL_ID = re.compile(r"/(?:d|folders)/([\w-]{10,})|[?&]id=([\w-]{10,})")
_DRIVE_ID = re.compile(r"[\w-]{10,}")
DRIVE_FORM = (
    'a Google Drive file: the picked file object ({"id": ..., "name": ..., "mimeType": ...}), '
    "a file ID or a Google Drive/Docs URL"
)


class GoogleDriveFile(BaseModel):
    """A Google Drive file or folder as Google's picker gives it (AutoGPT's ``GoogleDriveFile``).

    Field names follow the picker's (``mimeType``, ``iconUrl``, ``isFolder``) both in and out;
    ``_credentials_id`` is the AutoGPT credential the picker used, passed on as it came.
    """

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str = Field(description="Google Drive file or folder ID.")
    name: str | None = Field(default=None, description="File or folder name.")
    mime_type: str | None = Field(
        default=None, alias="mimeType", description="MIME type (e.g. application/vnd.google-apps.document)."
    )
    url: str | None = Field(default=None, description="URL that opens the file.")
    icon_url: str | None = Field(default=None, alias="iconUrl", description="Icon URL.")
    is_folder: bool | None = Field(default=None, alias="isFolder", description="Whether this is a folder.")
    credentials_id: str | None = Field(
        default=None, alias="_credentials_id", description="The credential the picker used (AutoGPT)."
    )


def _drive_file_from_text(text: str) -> GoogleDriveFile | None:
    """The file a picked-file JSON text, a Drive/Docs URL or a bare file ID names; None otherwise.

    Raises:
        ValidationError: a JSON object that is no picked file (no ``id``, for instance).
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            picked = json.loads(text)
        except ValueError:
            return None
        return GoogleDriveFile.model_validate(picked)
    if text.startswith(("http://", "https://")):
        found = _DRIVE_URL_ID.search(text)
        return GoogleDriveFile(id=found.group(1) or found.group(2), url=text) if found else None
    return GoogleDriveFile(id=text) if _DRIVE_ID.fullmatch(text) else None


class AgentGoogleDriveFileInputBlock(AgentInputBlock):
    """A Google Drive file input: the file picked in AutoGPT's picker, passed on as it came.

    There is no picker here: the value is the picked file object as AutoGPT exports it, or a file ID
    or Drive/Docs URL typed in, which becomes ``{"id": ..., "url": ...}``.
    """

    id = "d3b32f15-6fd7-40e3-be52-e083f51b19a2"
    name = "AgentGoogleDriveFileInputBlock"
    description = (
        "Agent-level input for a Google Drive file: yields the selected file (id, name, mimeType, url, ...) "
        "for the blocks that read or write it. Takes the file object AutoGPT's Drive picker produces, or "
        "a file ID or Drive/Docs URL. `allowed_views` and `allow_folder_selection` configure the picker."
    )

    class Input(AgentInputBlock.Input):
        value: GoogleDriveFile | str | None = Field(
            default=None, description="The selected Google Drive file (or its ID or URL)."
        )
        allowed_views: list[AttachmentView] = Field(
            default_factory=lambda: ["DOCS", "SPREADSHEETS", "PRESENTATIONS"],
            description="Which views the file picker shows (DOCS, SPREADSHEETS, PRESENTATIONS, ...).",
        )
        allow_folder_selection: bool = Field(default=False, description="Whether folders may be selected.")

        @field_validator("value", mode="wrap")
        @classmethod
        def _file(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
            try:
                checked = handler(value)
            except ValidationError as exc:
                raise _input_error(
                    info, DRIVE_FORM, value, exc if isinstance(value, dict) else None
                ) from None
            if not isinstance(checked, str):
                return checked
            # A picked file arriving as JSON text: the engine's coercion turns a dictionary into text
            # for this union, and a form may send it so.
            try:
                found = _drive_file_from_text(checked)
            except ValidationError as exc:
                raise _input_error(info, DRIVE_FORM, value, exc) from None
            if found is None:
                raise _input_error(info, DRIVE_FORM, value)
            return found

    class Output(BlockSchema):
        result: GoogleDriveFile = Field(description="The selected file with its ID, name, URL and more.")

    test_input = [
        {
            "name": "spreadsheet_input",
            "description": "Select a spreadsheet from Google Drive",
            "allowed_views": ["SPREADSHEETS"],
            "value": {
                "id": "test-file-id",
                "name": "Test Spreadsheet",
                "mimeType": "application/vnd.google-apps.spreadsheet",
                "url": "https://docs.google.com/spreadsheets/d/test-file-id",
            },
        },
        {"name": "by_url", "value": "https://docs.google.com/document/d/1AbCdEfGhIjKlMn/edit"},
        {"name": "unset"},
    ]
    test_output = [
        (
            "result",
            GoogleDriveFile(
                id="test-file-id",
                name="Test Spreadsheet",
                mime_type="application/vnd.google-apps.spreadsheet",
                url="https://docs.google.com/spreadsheets/d/test-file-id",
            ),
        ),
        (
            "result",
            GoogleDriveFile(
                id="1AbCdEfGhIjKlMn", url="https://docs.google.com/document/d/1AbCdEfGhIjKlMn/edit"
            ),
        ),
    ]

    def graph_input_schema(self, schema: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
        """The picked file object (or a file ID or URL), with the picker's configuration."""
        file_schema = GoogleDriveFile.model_json_schema()
        file_schema.pop("title", None)
        file_schema.pop("description", None)
        text = {"type": "string", "description": "A Google Drive file ID or URL."}
        views = defaults.get("allowed_views")
        picker = {
            "multiselect": False,
            "allow_folder_selection": bool(defaults.get("allow_folder_selection", False)),
            "allowed_views": list(views) if isinstance(views, list) and views else ["DOCS"],
            "scopes": list(DRIVE_SCOPES),
        }
        return _only_value_schema(
            schema, anyOf=[file_schema, text], format="google-drive-picker", google_drive_picker_config=picker
        )


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
