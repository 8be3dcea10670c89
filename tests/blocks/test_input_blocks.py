"""The date, time, table and Google Drive file inputs (blocks/io.py): they are graph inputs with a
typed place in the agent's input schema, their values are checked with a message naming the input,
and they feed a run."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from pydantic import ValidationError

from blocks.io import (
    AgentDateInputBlock,
    AgentGoogleDriveFileInputBlock,
    AgentTableInputBlock,
    AgentTimeInputBlock,
    GoogleDriveFile,
)
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import graph, link, node, out
from workbench import jsonutil
from workbench.app import Workbench
from workbench.errors import InputError
from workbench.graph.model import Graph
from workbench.ui.schema_form import field_spec

SHEET = {
    "id": "1SheetIdAbCdEf",
    "name": "Budget",
    "mimeType": "application/vnd.google-apps.spreadsheet",
    "url": "https://docs.google.com/spreadsheets/d/1SheetIdAbCdEf",
    "_credentials_id": "cred-123",
}


def agent() -> Graph:
    """One of each new input, each feeding a template or an output."""
    return graph(
        [
            node("day", AgentDateInputBlock, name="day", title="Day", description="When"),
            node("at", AgentTimeInputBlock, name="at", value="08:15"),
            node("people", AgentTableInputBlock, name="people", column_headers=["Name", "Role"]),
            node("sheet", AgentGoogleDriveFileInputBlock, name="sheet", allowed_views=["SPREADSHEETS"]),
            node(
                "say",
                FillTextTemplateBlock,
                format="{{ d }} at {{ t }}: {{ p | map(attribute='Name') | join(', ') }}",
            ),
            out("said", "said"),
            out("file", "file"),
        ],
        [
            link("day.result", "say.values_#_d"),
            link("at.result", "say.values_#_t"),
            link("people.result", "say.values_#_p"),
            link("say.output", "said.value"),
            link("sheet.result", "file.value"),
        ],
    )


async def test_new_inputs_are_in_the_agents_input_schema(ewb: Workbench) -> None:
    _, plan = await ewb.graphs.checked_plan(agent(), None)
    schema = plan.input_schema()
    props = schema["properties"]
    assert props["day"] == {"type": "string", "format": "date", "title": "Day", "description": "When"}
    assert props["at"] == {"type": "string", "format": "time", "title": "at", "default": "08:15"}
    assert props["people"] == {
        "type": "array",
        "format": "table",
        "items": {"type": "object", "properties": {"Name": {"type": "string"}, "Role": {"type": "string"}}},
        "title": "people",
    }
    sheet = props["sheet"]
    assert sheet["format"] == "google-drive-picker"
    assert sheet["google_drive_picker_config"]["allowed_views"] == ["SPREADSHEETS"]
    file_schema, text_schema = sheet["anyOf"]
    assert file_schema["required"] == ["id"]
    assert {"id", "name", "mimeType", "url", "_credentials_id"} <= set(file_schema["properties"])
    assert text_schema["type"] == "string"
    assert schema["required"] == ["day", "people", "sheet"]  # `at` has a default


async def test_run_form_fields_for_the_new_inputs(ewb: Workbench) -> None:
    _, plan = await ewb.graphs.checked_plan(agent(), None)
    props = plan.input_schema()["properties"]
    assert field_spec("day", props["day"], {}, True).kind == "text"
    assert field_spec("people", props["people"], {}, True).expect == "array"
    sheet = field_spec("sheet", props["sheet"], {}, True)
    assert (sheet.kind, sheet.expect) == ("json", "any")  # a pasted URL is text, a picked file JSON


async def test_new_inputs_feed_a_run(ewb: Workbench) -> None:
    inputs = {
        "day": "2025-03-19",
        "people": [{"Name": "Ada", "Role": "lead"}, {"Name": "Alan", "Role": "dev"}],
        "sheet": SHEET,
    }
    result = await ewb.executions.run(agent(), inputs, timeout=10)
    assert result.status == "COMPLETED", result.error
    assert result.outputs["said"] == ["2025-03-19 at 08:15:00: Ada, Alan"]
    [picked] = result.outputs["file"]
    assert isinstance(picked, GoogleDriveFile)
    assert jsonutil.normalize(picked) == {**SHEET, "iconUrl": None, "isFolder": None}


async def test_a_text_that_is_no_drive_file_fails_its_input_node(ewb: Workbench) -> None:
    inputs = {"day": "2025-01-02", "people": [], "sheet": "not a file"}
    result = await ewb.executions.run(agent(), inputs, timeout=10)
    assert result.status == "FAILED"
    assert "input 'sheet' expects a Google Drive file" in (result.error or ""), result.error


async def test_drive_input_takes_a_url_typed_in(ewb: Workbench) -> None:
    inputs = {"day": "2025-01-02", "people": [], "sheet": "https://drive.google.com/open?id=1DriveFileIdXyz"}
    result = await ewb.executions.run(agent(), inputs, timeout=10)
    assert result.status == "COMPLETED", result.error
    [picked] = result.outputs["file"]
    assert (picked.id, picked.url) == ("1DriveFileIdXyz", inputs["sheet"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"day": "19/03/2025"},
            "input 'day' (node 'day'): input 'day' expects a date "
            "in the form YYYY-MM-DD (e.g. 2025-03-19), got '19/03/2025'",
        ),
        (
            {"at": "8.15pm"},
            "input 'at' (node 'at'): input 'at' expects a time in "
            "the form HH:MM:SS or HH:MM, 24-hour (e.g. 09:30:00), got '8.15pm'",
        ),
        ({"sheet": {"name": "no id"}}, "input 'sheet' expects a Google Drive file"),
        ({"sheet": {"name": "no id"}}, "got {'name': 'no id'} (GoogleDriveFile.id: Field required)"),
    ],
)
async def test_a_bad_value_is_refused_before_the_run_naming_the_input_and_the_form(
    ewb: Workbench, inputs: dict[str, Any], message: str
) -> None:
    good = {"day": "2025-03-19", "people": [], "sheet": SHEET}
    with pytest.raises(InputError) as refused:
        await ewb.executions.run(agent(), {**good, **inputs}, timeout=10)
    assert message in str(refused.value), str(refused.value)


async def test_a_missing_required_date_is_refused_before_the_run(ewb: Workbench) -> None:
    with pytest.raises(InputError, match=r"missing required input\(s\): 'day' \(node 'day'\)"):
        await ewb.executions.run(agent(), {"people": [], "sheet": SHEET}, timeout=10)


# ---- the blocks alone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "value", "expected"),
    [
        (AgentDateInputBlock, "2024-02-29", date(2024, 2, 29)),
        (AgentDateInputBlock, date(2024, 1, 1), date(2024, 1, 1)),
        (AgentTimeInputBlock, "23:05", time(23, 5)),
        (AgentTimeInputBlock, "07:00:30.5", time(7, 0, 30, 500000)),
    ],
)
async def test_accepted_forms(block: Any, value: Any, expected: Any) -> None:
    data = block.Input.model_validate({"name": "x", "value": value})
    assert [pair async for pair in block().run(data)] == [("result", expected)]


@pytest.mark.parametrize("value", ["2023-02-29", "2025-3-19 10:00", "tomorrow", ""])
def test_rejected_dates(value: str) -> None:
    with pytest.raises(ValidationError, match="input 'when' expects a date in the form YYYY-MM-DD"):
        AgentDateInputBlock.Input.model_validate({"name": "when", "value": value})


def test_a_table_that_is_no_list_of_rows_names_the_input() -> None:
    # In a run the engine's coercion makes rows of almost anything ({"value": ...}); a direct caller
    # still gets the message.
    with pytest.raises(ValidationError) as info:
        AgentTableInputBlock.Input.model_validate({"name": "people", "value": [{"Name": "Ada"}, "Alan"]})
    assert (
        "input 'people' expects a table: a list of rows, each an object keyed by the column headers, "
        "got [{'Name': 'Ada'}, 'Alan'] (1: Input should be a valid dictionary"
    ) in str(info.value)


async def test_an_unset_table_yields_an_empty_table() -> None:
    block = AgentTableInputBlock()
    data = block.Input.model_validate({"name": "t"})
    assert [pair async for pair in block.run(data)] == [("result", [])]


@pytest.mark.parametrize(
    ("text", "file_id"),
    [
        ("1AbCdEfGhIjKlMnOp", "1AbCdEfGhIjKlMnOp"),
        ("https://docs.google.com/spreadsheets/d/1AbCdEfGhIj/edit#gid=0", "1AbCdEfGhIj"),
        ("https://drive.google.com/drive/folders/0FolderIdAbc", "0FolderIdAbc"),
        ('{"id": "1AbCdEfGhIj", "mimeType": "text/csv"}', "1AbCdEfGhIj"),
    ],
)
def test_drive_file_from_text(text: str, file_id: str) -> None:
    data = AgentGoogleDriveFileInputBlock.Input.model_validate({"name": "f", "value": text})
    assert isinstance(data.value, GoogleDriveFile)
    assert data.value.id == file_id
