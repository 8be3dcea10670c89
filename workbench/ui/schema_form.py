"""Forms generated from a JSON Schema object: a node's defaults (the block's input schema) and the
Run form (the agent's input schema).

:class:`SchemaForm` shows one widget per property, chosen from the property's schema:

- ``string``: a text input (a text area for long text: ``format: long-text``, prompts, templates,
  SQL...; a password input for ``secret`` / ``format: password``); a file (``format: file``, an
  agent's file input) is a text input for a ``workspace://`` reference, a URL or a ``data:`` URI, with
  a file picker when the form is given an ``upload`` callback: the picked file is uploaded through it
  (stored in the person's files, virus-scanned when scanning is on) and the field then holds its
  reference; a refusal (an infected file, the scanner unavailable, too large) shows under the field;
- ``integer`` / ``number``: number inputs bounded by ``minimum`` / ``maximum``;
- ``boolean``: a checkbox;
- ``enum``, ``const`` alternatives, ``$ref`` to an enum in ``$defs``: a select;
- ``anyOf`` with ``null`` (Optional): the inner type, empty meaning unset;
- unions of scalars (``int | str``): a text input whose text is read as the first type it fits;
- lists of scalars: rows to add and remove; lists of objects, dicts, other unions and ``Any``: JSON
  in a text area, parsed when the person leaves it (a parse error names its line and column; for
  ``Any`` plain text is a string);
- the ``credentials`` field (or one whose schema says ``credentials_provider``): a select of the
  user's credentials for that provider, or none (the environment's default).

Schema defaults are placeholders: :attr:`SchemaForm.values` holds only what was given and what the
person set. ``advanced`` fields go into a collapsed "More" card.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import param
from panel.custom import JSComponent
from panel.viewable import Viewable, Viewer

from workbench.errors import UserError, WorkbenchError
from workbench.files.scanning import ScannerUnavailable

__all__ = [
    "UNSET",
    "CredentialChoice",
    "FieldSpec",
    "SchemaForm",
    "field_spec",
    "parse_json_text",
    "parse_number",
    "parse_union_text",
    "readable_label",
]

HERE = Path(__file__).parent
MAX_UPLOAD = 10_000_000
"""Largest file the form's picker sends (it travels base64 in one WebSocket message); larger ones go
through the API or the Python client, and their reference into the field."""
Upload = Callable[[str, bytes, str], Awaitable[str]]
"""``await upload(name, data, content_type)``: store a picked file; its ``workspace://`` reference."""


@dataclass(frozen=True)
class CredentialChoice:
    """One credential of the user's vault a credentials field may pick (never its secret)."""

    id: str
    provider: str
    title: str


class _Unset:
    """The value of a field the person emptied: it leaves :attr:`SchemaForm.values`."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
NO_CREDENTIAL = "None: use the environment default"
SCALARS = ("string", "integer", "number", "boolean")
LONG_FORMATS = frozenset({"long-text", "textarea", "multiline", "markdown"})
LONG_NAMES = frozenset(
    {"prompt", "text", "content", "body", "template", "source_data", "input_xml", "json", "items_str"}
)
LONG_HINTS = re.compile(r"\b(prompt|template|markdown|sql|json text|xml text|multi-?line)\b", re.IGNORECASE)
ACRONYMS = {
    "url": "URL",
    "id": "ID",
    "llm": "LLM",
    "json": "JSON",
    "sql": "SQL",
    "xml": "XML",
    "api": "API",
    "html": "HTML",
}


@dataclass(frozen=True)
class FieldSpec:
    """What a property's schema means for its widget."""

    name: str
    kind: str
    """text, longtext, secret, file, int, float, bool, select, union, list, json, credentials."""
    schema: Mapping[str, Any]
    label: str
    help: str
    required: bool
    default: Any = UNSET
    advanced: bool = False
    options: tuple[Any, ...] = ()
    """The choices of a select, the item kind of a list (one entry), the types of a union."""
    expect: str = "any"
    """What JSON text must hold: any, object, array."""


def readable_label(name: str, title: str | None = None) -> str:
    """A label a person reads: the schema's own title unless it is pydantic's title-cased name,
    else the name in sentence case (``max_tokens`` -> "Max tokens", ``repo_url`` -> "Repo URL")."""
    auto = name.replace("_", " ").title()
    if title and title != auto and title != name:
        return title
    words = [w for w in name.split("_") if w]
    if not words:
        return name
    out = [ACRONYMS.get(w.lower(), w) for w in words]
    if out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def _resolve(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The property with a local ``$ref`` replaced by its definition (the property's own keys win)."""
    ref = prop.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return dict(prop)
    target = defs.get(ref.removeprefix("#/$defs/"), {})
    merged = {**_resolve(target, defs), **{k: v for k, v in prop.items() if k != "$ref"}}
    return merged


def _enum_of(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The choices of an enum, a const, or alternatives that are all consts; None otherwise."""
    if "enum" in prop:
        return tuple(prop["enum"])
    if "const" in prop:
        return (prop["const"],)
    alternatives = prop.get("anyOf") or prop.get("oneOf")
    if alternatives:
        found: list[Any] = []
        for alt in alternatives:
            inner = _enum_of(_resolve(alt, defs), defs)
            if inner is None:
                return None
            found.extend(inner)
        return tuple(found)
    return None


def _is_credentials(name: str, prop: Mapping[str, Any]) -> bool:
    marked = any(k in prop for k in ("credentials_provider", "credentials_providers", "credentials_types"))
    return (
        name == "credentials"
        or name.endswith("_credentials")
        or marked
        or prop.get("format") == "credentials"
    )


def _providers(prop: Mapping[str, Any]) -> tuple[str, ...]:
    """The providers a credentials field accepts, when its schema says (empty: any)."""
    for key in ("credentials_provider", "credentials_providers", "provider"):
        value = prop.get(key)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(str(v) for v in value)
    return ()


def _is_long(name: str, prop: Mapping[str, Any]) -> bool:
    fmt = prop.get("format")
    if fmt == "short-text":
        return False
    if fmt in LONG_FORMATS or prop.get("maxLength", 0) > 500:
        return True
    if name in LONG_NAMES or name.endswith(("_prompt", "_text", "_template")):
        return True
    return bool(LONG_HINTS.search(str(prop.get("description", ""))))


def _types(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a property (itself when it is no union)."""
    alternatives = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(prop.get("type"), list):
        alternatives = [{"type": t} for t in prop["type"]]
    if not alternatives:
        return [prop]
    return [_resolve(a, defs) for a in alternatives if a.get("type") != "null"]


def field_spec(name: str, raw: Mapping[str, Any], defs: Mapping[str, Any], required: bool) -> FieldSpec:
    """How one property is edited (see the module's docstring for the rules)."""
    prop = _resolve(raw, defs)
    base = {
        "name": name,
        "schema": prop,
        "label": readable_label(name, prop.get("title")),
        "help": str(prop.get("description") or ""),
        "required": required,
        "default": prop.get("default", UNSET),
        "advanced": bool(prop.get("advanced")),
    }
    if _is_credentials(name, prop):
        return FieldSpec(kind="credentials", options=_providers(prop), **base)
    choices = _enum_of(prop, defs)
    if choices is None:
        alternatives = [a for a in (prop.get("anyOf") or prop.get("oneOf") or ()) if a.get("type") != "null"]
        if alternatives and len(alternatives) < len(prop.get("anyOf") or prop.get("oneOf") or ()):
            choices = _enum_of({"anyOf": alternatives}, defs)
    if choices is not None:
        return FieldSpec(kind="select", options=choices, **base)
    alts = _types(prop, defs)
    if len(alts) == 1:
        one = {**alts[0], **{k: v for k, v in prop.items() if k in ("format", "secret", "description")}}
        kind = one.get("type")
        if kind == "string":
            if prop.get("secret") or one.get("format") == "password" or one.get("writeOnly"):
                return FieldSpec(kind="secret", **{**base, "schema": one})
            if one.get("format") == "file":
                return FieldSpec(kind="file", **{**base, "schema": one})
            return FieldSpec(kind="longtext" if _is_long(name, one) else "text", **{**base, "schema": one})
        if kind in ("integer", "number"):
            return FieldSpec(kind="int" if kind == "integer" else "float", **{**base, "schema": one})
        if kind == "boolean":
            return FieldSpec(kind="bool", **{**base, "schema": one})
        if kind == "array":
            item = _resolve(one.get("items") or {}, defs)
            item_choices = _enum_of(item, defs)
            if item_choices is not None:
                return FieldSpec(kind="list", options=("select", item_choices), **{**base, "schema": one})
            if item.get("type") in SCALARS:
                return FieldSpec(kind="list", options=(item["type"],), **{**base, "schema": one})
            return FieldSpec(kind="json", expect="array", **{**base, "schema": one})
        if kind == "object":
            return FieldSpec(kind="json", expect="object", **{**base, "schema": one})
        return FieldSpec(kind="json", **base)
    kinds = [a.get("type") for a in alts]
    if all(k in SCALARS for k in kinds):
        return FieldSpec(kind="union", options=tuple(kinds), **base)
    if all(k in ("object", "array") for k in kinds):
        return FieldSpec(kind="json", expect="object or array" if len(set(kinds)) > 1 else kinds[0], **base)
    return FieldSpec(kind="json", **base)


def _shown(value: Any) -> str:
    """A value as the text of an input."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def _placeholder(spec: FieldSpec) -> str:
    if spec.default is UNSET or spec.default is None or spec.default == "":
        return ""
    if spec.kind == "json":
        return json.dumps(spec.default, ensure_ascii=False)
    return _shown(spec.default)


def parse_json_text(text: str, expect: str = "any") -> Any:
    """The value of a JSON text area: UNSET when empty; a ValueError naming the line and column
    when the JSON is broken, or saying what was expected. For ``any``, text that is not JSON and
    does not look like an object, array or quoted string is taken as a string."""
    stripped = text.strip()
    if not stripped:
        return UNSET
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if expect == "any" and stripped[0] not in '[{"':
            return text
        lead = len(text) - len(text.lstrip())
        line = exc.lineno + text[:lead].count("\n")
        col = exc.colno + (lead - text[:lead].rfind("\n") - 1 if exc.lineno == 1 else 0)
        raise ValueError(f"Not valid JSON at line {line}, column {col}: {exc.msg}") from None
    wanted = {"object": (dict,), "array": (list,), "object or array": (dict, list)}.get(expect)
    if wanted and not isinstance(value, wanted):
        noun = {"object": "a JSON object {...}", "array": "a JSON list [...]"}.get(expect, "JSON")
        raise ValueError(f"Expected {noun}, got {type(value).__name__}")
    return value


def parse_union_text(text: str, kinds: Sequence[str]) -> Any:
    """The value of a scalar union's text: the first of ``kinds`` it fits; UNSET when empty."""
    stripped = text.strip()
    if not stripped:
        return UNSET
    if "integer" in kinds and re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)
    if "number" in kinds:
        try:
            number = float(stripped)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return int(number) if "integer" in kinds and number.is_integer() else number
    if "boolean" in kinds and stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    if "string" in kinds:
        return text
    names = {"integer": "a whole number", "number": "a number", "boolean": "true or false"}
    raise ValueError("Expected " + " or ".join(names.get(k, k) for k in kinds))


def _json_text(value: Any, expect: str) -> str:
    if expect == "any" and isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


def parse_number(text: str, spec: FieldSpec) -> Any:
    """The value of a number field's text: UNSET when empty, else an int or float within the
    schema's bounds (a ValueError saying what is wrong otherwise)."""
    stripped = str(text).strip()
    if not stripped:
        return UNSET
    integer = spec.kind == "int"
    value = parse_union_text(stripped, ["integer"] if integer else ["integer", "number"])
    schema = spec.schema
    if "minimum" in schema and value < schema["minimum"]:
        raise ValueError(f"At least {_shown(schema['minimum'])}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise ValueError(f"More than {_shown(schema['exclusiveMinimum'])}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ValueError(f"At most {_shown(schema['maximum'])}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        raise ValueError(f"Less than {_shown(schema['exclusiveMaximum'])}")
    return value


def _fits(spec: FieldSpec, value: Any) -> bool:
    """Whether a given value can be shown by the field's usual control (else: JSON text)."""
    if value is UNSET or value is None:
        return True
    kind = spec.kind
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
    if kind in ("text", "longtext", "secret", "union"):
        return isinstance(value, str | int | float | bool)
    if kind == "file":
        return isinstance(value, str)
    return True


def _number_bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, step: int) -> Any:
    if inclusive in schema:
        return schema[inclusive]
    if exclusive in schema:
        return schema[exclusive] + step if schema.get("type") == "integer" else schema[exclusive]
    return None


def _picked_file(upload: Any, limit: int) -> tuple[str, str, bytes]:
    """``(name, type, bytes)`` of what the picker sent; a ValueError a person can read otherwise."""
    if not isinstance(upload, Mapping) or not isinstance(upload.get("data"), str):
        raise ValueError("The file did not arrive: pick it again")
    if len(upload["data"]) > (limit + 2) // 3 * 4 + 4:
        raise ValueError(
            f"The file is larger than {limit:,} bytes: upload it through the API or the Python client "
            "and paste its workspace:// reference here"
        )
    try:
        data = base64.b64decode(upload["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The file did not arrive whole: pick it again") from None
    name = upload.get("name") if isinstance(upload.get("name"), str) else ""
    kind = upload.get("type") if isinstance(upload.get("type"), str) else ""
    return name[:1000], kind[:200], data


def _upload_refusal(exc: WorkbenchError) -> str:
    """What a person reads under a file field when its upload was refused."""
    text = str(exc)
    if isinstance(exc, UserError | ScannerUnavailable) and text:
        return text[:1].upper() + text[1:]
    return f"The file could not be stored: {type(exc).__name__}: {exc}"


class _Choices:
    """A select's values by the index the browser sends (index 0: unset)."""

    def __init__(self, first: str, pairs: Sequence[tuple[str, Any]]) -> None:
        self.labels = [first, *(label for label, _ in pairs)]
        self.values: list[Any] = [UNSET, *(value for _, value in pairs)]

    def index(self, value: Any) -> int:
        """Where a value is (appended, marked, when it is not a listed choice)."""
        if value is UNSET or value is None:
            return 0
        for i, known in enumerate(self.values):
            if i and known == value and type(known) is type(value):
                return i
        self.labels.append(f"{_option_label(value)} (not a listed choice)")
        self.values.append(value)
        return len(self.values) - 1

    def value(self, index: Any) -> Any:
        """The value at an index the browser sent."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.values):
            raise ValueError("Not one of the choices")
        return self.values[index]


def _option_label(value: Any) -> str:
    return value if isinstance(value, str) else _shown(value)


def _enum_choices(spec: FieldSpec, choices: Sequence[Any]) -> _Choices:
    if spec.default not in (UNSET, None):
        unset = f"— default: {_option_label(spec.default)} —"
    else:
        unset = "— choose —" if spec.required else "—"
    return _Choices(unset, [(_option_label(v), v) for v in choices])


def _credential_choices(spec: FieldSpec, vault: Sequence[CredentialChoice]) -> _Choices:
    wanted = [c for c in vault if not spec.options or c.provider in spec.options]
    return _Choices(NO_CREDENTIAL, [(f"{c.title} ({c.provider})", c.id) for c in wanted])


class SchemaFormView(JSComponent):
    """The form in the browser: one model for all its fields (a Panel widget per field would cost
    ten times more to build each time a node is selected)."""

    spec = param.List(default=[], doc="The fields as the browser draws them.")
    errors = param.Dict(default={}, doc="The message under each field, by field name.")
    linked = param.List(default=[], doc="The fields fed by a link (disabled).")
    notes = param.List(default=[], doc="Messages about no field of this form, shown at the top.")
    heading = param.String(default="", doc="The form's title.")
    uploads = param.Boolean(default=False, doc="File fields have a file picker (the form can upload).")
    max_upload = param.Integer(default=MAX_UPLOAD, doc="Largest file the picker sends, in bytes.")
    files = param.Dict(
        default={}, doc="By file field: the text Python put in it (an uploaded file's reference) and a note."
    )

    _esm = HERE / "schema_form.js"
    _stylesheets = [(HERE / "schema_form.css").read_text(encoding="utf-8")]

    def __init__(
        self,
        receive: Callable[[str, Any], None],
        receive_file: Callable[[str, Any], None] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self._receive = receive
        self._receive_file = receive_file

    def _handle_msg(self, data: Any) -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("field"), str):
            return
        if "upload" in data:
            if self._receive_file is not None:
                self._receive_file(data["field"], data["upload"])
            return
        self._receive(data["field"], data.get("value"))


class SchemaForm(Viewer):
    """A form for one JSON Schema object: one widget per property, the schema's descriptions as help.

    ``values`` are the given values (shown in the widgets); ``credentials`` the user's vault entries a
    credentials field offers; ``linked`` the fields fed by a link (shown disabled, "from a link").
    ``on_change(field, value)`` is called once per committed edit, with None when the person emptied
    the field (it then leaves :attr:`values`). Text that cannot be read (broken JSON, a word in a
    number field) shows as the field's error and leaves the value as it was. ``upload`` gives file
    fields a file picker (see :data:`Upload` and the module's documentation).
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
        *,
        credentials: Sequence[CredentialChoice] = (),
        linked: Collection[str] = (),
        on_change: Callable[[str, Any], None] | None = None,
        title: str | None = None,
        upload: Upload | None = None,
    ) -> None:
        super().__init__()
        self._values: dict[str, Any] = dict(values or {})
        self._on_change = on_change
        self._upload = upload
        self._uploading: set[asyncio.Future[Any]] = set()
        self._external: dict[str, str] = {}
        self._local: dict[str, str] = {}
        self._specs: dict[str, FieldSpec] = {}
        self._choices: dict[str, _Choices] = {}
        defs = schema.get("$defs") or schema.get("definitions") or {}
        required = set(schema.get("required") or ())
        drawn: list[dict[str, Any]] = []
        for name, prop in (schema.get("properties") or {}).items():
            spec = field_spec(name, prop if isinstance(prop, Mapping) else {}, defs, name in required)
            given = self._values.get(name, UNSET)
            if not _fits(spec, given):
                spec = replace(spec, kind="json", expect="any")
            self._specs[name] = spec
            drawn.append(self._draw(spec, given, credentials))
        self._view = SchemaFormView(
            self._receive,
            self._receive_file,
            uploads=upload is not None,
            spec=drawn,
            linked=[n for n in linked if n in self._specs],
            heading=title or "",
            sizing_mode="stretch_width",
            css_classes=["wb-schema-form"],
        )

    # ---- public ------------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        """The current values: the given ones and those the person set (a copy)."""
        return dict(self._values)

    @property
    def problems(self) -> dict[str, str]:
        """The fields whose text could not be read (broken JSON, a word in a number field), with why."""
        return dict(self._local)

    @property
    def fields(self) -> dict[str, FieldSpec]:
        """How each property is edited, by name, in the schema's order."""
        return dict(self._specs)

    @property
    def errors(self) -> dict[str, str]:
        """The message shown under each field (an unreadable text's first, else the one set)."""
        return dict(self._view.errors)

    @property
    def linked(self) -> list[str]:
        """The fields shown as fed by a link."""
        return list(self._view.linked)

    def set_errors(self, errors: Mapping[str, str]) -> None:
        """Show a message under each named field ({} clears them); names that are no field of this
        form are listed at the top of it."""
        self._external = {str(k): str(v) for k, v in errors.items()}
        notes = [f"{k}: {v}" if k else v for k, v in self._external.items() if k not in self._specs]
        self._view.param.update(errors=self._shown_errors(), notes=notes)

    def set_linked(self, linked: Collection[str]) -> None:
        """Mark the fields fed by a link: shown disabled, saying "from a link"."""
        self._view.linked = [n for n in self._specs if n in set(linked)]

    def enter(self, field: str, raw: Any) -> None:
        """Apply one committed edit as the browser sends it: a text field's text, a checkbox's state,
        a choice's index (0: unset), a list's items (texts, states or indexes)."""
        spec = self._specs.get(field)
        if spec is None:
            raise KeyError(f"no field {field!r} in this form")
        if field in self._view.linked:
            return
        try:
            value = self._read(spec, raw)
        except ValueError as exc:
            self._local[field] = str(exc)
            self._view.errors = self._shown_errors()
            return
        self._commit(field, value)

    async def attach(self, field: str, data: bytes, *, name: str, content_type: str = "") -> str | None:
        """Upload a file for a file field, as its picker does: through the ``upload`` callback (the
        file service: stored, scanned); the field then holds the file's reference, which is returned.
        A refusal (infected, scanner unavailable, too large) is the field's error, and None."""
        spec = self._specs.get(field)
        if spec is None or spec.kind != "file":
            raise KeyError(f"no file field {field!r} in this form")
        if self._upload is None:
            raise RuntimeError("this form was made without an upload callback")
        self._note(field, f"Uploading {name or 'the file'}, {len(data):,} bytes…")
        try:
            ref = await self._upload(name, data, content_type)
        except WorkbenchError as exc:
            self._note(field, "")
            self._local[field] = _upload_refusal(exc)
            self._view.errors = self._shown_errors()
            return None
        self._view.files = {
            **self._view.files,
            field: {"text": ref, "note": f"Uploaded {name or 'the file'}."},
        }
        self._commit(field, ref)
        return ref

    def __panel__(self) -> Viewable:
        return self._view

    # ---- internals ---------------------------------------------------------------------------

    def _receive(self, field: str, raw: Any) -> None:
        if field in self._specs:
            self.enter(field, raw)

    def _receive_file(self, field: str, upload: Any) -> None:
        """A file the browser's picker sent ({name, type, data: base64}): uploaded in the background."""
        spec = self._specs.get(field)
        if spec is None or spec.kind != "file" or self._upload is None or field in self._view.linked:
            return
        try:
            name, content_type, data = _picked_file(upload, self._view.max_upload)
        except ValueError as exc:
            self._local[field] = str(exc)
            self._view.errors = self._shown_errors()
            return
        task = asyncio.ensure_future(self.attach(field, data, name=name, content_type=content_type))
        self._uploading.add(task)
        task.add_done_callback(self._uploading.discard)

    def _note(self, field: str, note: str) -> None:
        shown = dict(self._view.files.get(field) or {})
        shown["note"] = note
        self._view.files = {**self._view.files, field: shown}

    def _draw(self, spec: FieldSpec, given: Any, vault: Sequence[CredentialChoice]) -> dict[str, Any]:
        """The field as the browser draws it."""
        out: dict[str, Any] = {
            "name": spec.name,
            "kind": spec.kind,
            "label": spec.label,
            "help": spec.help,
            "required": spec.required,
            "advanced": spec.advanced,
            "placeholder": _placeholder(spec),
        }
        kind = spec.kind
        if kind in ("select", "credentials"):
            if kind == "credentials":
                choices = _credential_choices(spec, vault)
                given = given.get("id", UNSET) if isinstance(given, Mapping) else given
            else:
                choices = _enum_choices(spec, spec.options)
            out["selected"] = choices.index(given)
            out["options"] = choices.labels
            self._choices[spec.name] = choices
        elif kind == "bool":
            out["checked"] = given if isinstance(given, bool) else spec.default is True
        elif kind == "list":
            item_kind = spec.options[0]
            out["item_kind"] = item_kind
            items = given if isinstance(given, list) else []
            if item_kind == "select":
                choices = _Choices("—", [(_option_label(v), v) for v in spec.options[1]])
                self._choices[spec.name] = choices
                out["items"] = [choices.index(v) for v in items]
                out["item_options"] = choices.labels
            elif item_kind == "boolean":
                out["items"] = [v is True for v in items]
            else:
                out["items"] = [_shown(v) for v in items]
        elif kind == "json":
            out["text"] = "" if given is UNSET else _json_text(given, spec.expect)
            out["rows"] = 2 if spec.expect == "any" else 3
        else:
            out["text"] = "" if given is UNSET or given is None else _shown(given)
            if kind in ("int", "float"):
                out["min"] = _number_bound(spec.schema, "minimum", "exclusiveMinimum", 1)
                out["max"] = _number_bound(spec.schema, "maximum", "exclusiveMaximum", -1)
        return out

    def _read(self, spec: FieldSpec, raw: Any) -> Any:
        """A committed edit as a value (UNSET: emptied); a ValueError says why it cannot be read."""
        kind = spec.kind
        if kind in ("select", "credentials"):
            return self._choices[spec.name].value(raw)
        if kind == "bool":
            return bool(raw)
        if kind == "list":
            return self._read_list(spec, raw)
        text = "" if raw is None else str(raw)
        if kind == "json":
            return parse_json_text(text, spec.expect)
        if kind == "union":
            return parse_union_text(text, spec.options)
        if kind in ("int", "float"):
            return parse_number(text, spec)
        return text if text else UNSET

    def _read_list(self, spec: FieldSpec, raw: Any) -> Any:
        if not isinstance(raw, list):
            raise ValueError("Expected a list of items")
        item_kind = spec.options[0]
        items: list[Any] = []
        for position, item in enumerate(raw, start=1):
            try:
                if item_kind == "select":
                    value = self._choices[spec.name].value(item)
                elif item_kind == "boolean":
                    value = bool(item)
                else:
                    text = "" if item is None else str(item)
                    value = parse_union_text(text, [item_kind]) if item_kind != "string" else text or UNSET
            except ValueError as exc:
                raise ValueError(f"Item {position}: {exc}") from None
            if value is not UNSET:
                items.append(value)
        return items if items else UNSET

    def _shown_errors(self) -> dict[str, str]:
        names = [n for n in self._specs if n in self._local or n in self._external]
        return {n: self._local.get(n) or self._external[n] for n in names}

    def _commit(self, name: str, value: Any) -> None:
        """A readable edit: keep it (UNSET removes the field) and tell on_change when it changed."""
        if self._local.pop(name, None) is not None:
            self._view.errors = self._shown_errors()
        if value is UNSET:
            changed = name in self._values
            self._values.pop(name, None)
            out = None
        else:
            old = self._values.get(name, UNSET)
            changed = old is UNSET or old != value or type(old) is not type(value)
            self._values[name] = value
            out = value
        if changed and self._on_change is not None:
            self._on_change(name, out)
