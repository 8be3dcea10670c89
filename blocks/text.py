"""Text blocks: regex matching and extraction, templates, combining, splitting, replacing, decoding, JSON.

Regular expressions and templates come from graphs (users' data), so a pattern may backtrack
catastrophically (``(a+)+$``) and a template may loop for minutes. CPython's ``re`` holds the GIL for
the whole of one search, so neither a worker thread nor ``asyncio.wait_for`` helps: the event loop
would be frozen until the search ends. Both therefore run in the sandbox process pool
(:mod:`workbench.sandbox`), whose worker is killed after ``WORKBENCH_SANDBOX_TIMEOUT`` seconds; the
node then fails with a message naming that limit. Patterns that provably match in linear time (no
repetition, alternation, groups or backreferences) on a bounded amount of text, and templates that
only substitute values, skip the pool and run in-process.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import warnings
from typing import TYPE_CHECKING, Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.errors import LimitExceeded

if TYPE_CHECKING:  # the sandbox pool and Jinja are imported when a block needs them
    from workbench.templating import TemplateFailure

log = logging.getLogger(__name__)

REGEX_TIMEOUT: float | None = None
"""Seconds one regex job may run before its worker is killed; None: ``WORKBENCH_SANDBOX_TIMEOUT``."""
MAX_TEXT_LENGTH = 1_000_000
"""ExtractTextInformationBlock matches only this many leading characters of the text."""
MAX_MATCHES = 1000
"""ExtractTextInformationBlock keeps at most this many matches."""
MAX_MATCH_LENGTH = 10_000
"""ExtractTextInformationBlock truncates every kept match to this many characters."""
MAX_REPLACED_LENGTH = 10_000_000
"""Longest text TextReplaceBlock may make, in characters."""

_INLINE_PATTERN = re.compile(r"(?:[^\\*+?{}|()]|\\[^0-9])*")
"""Patterns without repetition, alternation, groups or backreferences: no backtracking at all."""
_INLINE_BUDGET = 20_000_000
"""Largest len(pattern) * len(text) matched in-process (a fraction of a second in the worst case)."""
_COMPILE_INLINE_MAX = 10_000
"""Longer patterns are compiled (and checked) in the sandbox pool too."""


class RegexTimeoutError(LimitExceeded):
    """A regular expression ran longer than its time limit (its worker process was killed)."""


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    """The compiled pattern; re.error for every reason it cannot be compiled."""
    try:
        return re.compile(pattern, flags)
    except (OverflowError, RecursionError, ValueError) as exc:
        raise re.error(str(exc) or type(exc).__name__) from None


def _regex_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one regex job (in a sandbox worker, or in-process for a backtracking-free pattern).

    ``op`` "search": ``{"found": bool}``. ``op`` "extract": ``{"matches": [...]}``, the text of
    ``group`` of each match that has that group (and where it took part), truncated to ``max_len``,
    at most ``limit`` of them.
    """
    compiled = _compile(job["pattern"], job["flags"])
    if job["op"] == "search":
        return {"found": compiled.search(job["text"]) is not None}
    group, limit, max_len = job["group"], job["limit"], job["max_len"]
    matches: list[str] = []
    for match in compiled.finditer(job["text"]):
        if not 0 <= group <= len(match.groups()):
            continue
        value = match.group(group)
        if value is None:
            continue
        matches.append(value[:max_len])
        if len(matches) >= limit:
            break
    return {"matches": matches}


def _runs_inline(pattern: str, text: str) -> bool:
    return (
        _INLINE_PATTERN.fullmatch(pattern) is not None
        and max(len(pattern), 1) * max(len(text), 1) <= _INLINE_BUDGET
    )


async def run_regex(job: dict[str, Any], time_limit: float | None = None) -> dict[str, Any]:
    """Run :func:`_regex_job` with a hard time limit (see the module docstring).

    Raises:
        re.error: the pattern does not compile (checked in-process, before the pool is involved,
            unless it is longer than 10,000 characters).
        RegexTimeoutError: the job ran longer than ``time_limit`` seconds (default
            :data:`REGEX_TIMEOUT`, else ``WORKBENCH_SANDBOX_TIMEOUT``); its worker was killed.
        LimitExceeded: the job needed more memory than the sandbox allows.
    """
    if time_limit is None:
        time_limit = REGEX_TIMEOUT
    if len(job["pattern"]) <= _COMPILE_INLINE_MAX:
        _compile(job["pattern"], job["flags"])  # a bad pattern fails here, without the pool
    if _runs_inline(job["pattern"], job["text"]):
        return _regex_job(job)
    from workbench import sandbox

    try:
        return await sandbox.run(_regex_job, job, what="matching the pattern", timeout=time_limit)
    except LimitExceeded as exc:
        if exc.limit == "time":
            raise RegexTimeoutError(str(exc), "time") from None
        raise


def _flags(case_sensitive: bool, dot_all: bool) -> int:
    flags = 0
    if not case_sensitive:
        flags |= re.IGNORECASE
    if dot_all:
        flags |= re.DOTALL
    return flags


def _as_text(value: Any) -> str:
    """A string as is; anything else as its JSON text (``str()`` when it is not JSON-serializable)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


class MatchTextPatternBlock(Block):
    """Routes a value to `positive` or `negative` depending on whether a regex is found in a text."""

    id = "3060088f-6ed9-4928-9ba7-9c92823a7ccd"
    name = "MatchTextPatternBlock"
    description = (
        "Matches text against a regex pattern (Python re.search) and forwards `data` (or the text "
        "when `data` is empty) to `positive` on a match, to `negative` otherwise."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        text: Any = Field(description="Text to match; a non-string value is matched as its JSON text.")
        match: str = Field(description="Pattern (regex) to search for in the text.")
        data: Any = Field(description="Data to forward; when falsy, the text itself is forwarded.")
        case_sensitive: bool = Field(default=True, description="Case-sensitive match.")
        dot_all: bool = Field(default=True, description="Let `.` match newlines too.")

    class Output(BlockSchema):
        positive: Any = Field(description="The forwarded value, when the pattern is found.")
        negative: Any = Field(description="The forwarded value, when the pattern is not found.")

    test_input = [
        {"text": "ABC", "match": "ab", "data": "X", "case_sensitive": False},
        {"text": "ABC", "match": "ab", "data": "Y", "case_sensitive": True},
        {"text": "Hello World!", "match": ".orld.+", "data": "Z"},
        {"text": "Hello World!", "match": "World![a-z]+", "data": "Z"},
        {"text": "line 1\nline 2", "match": "1.line", "data": "dot-all"},
        {"text": "line 1\nline 2", "match": "1.line", "data": "no dot-all", "dot_all": False},
        {"text": {"status": "ok"}, "match": '"status": "ok"', "data": ""},
        {"text": [1, 2, 3], "match": r"^\[1, 2", "data": 0},
        {"text": "abc", "match": "(unclosed", "data": "D"},
    ]
    test_output = [
        ("positive", "X"),
        ("negative", "Y"),
        ("positive", "Z"),
        ("negative", "Z"),
        ("positive", "dot-all"),
        ("negative", "no dot-all"),
        ("positive", {"status": "ok"}),
        ("positive", [1, 2, 3]),
        ("error", lambda v: v.startswith("Invalid regular expression '(unclosed'")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        forwarded = input_data.data or input_data.text
        job = {
            "op": "search",
            "pattern": input_data.match,
            "flags": _flags(input_data.case_sensitive, input_data.dot_all),
            "text": _as_text(input_data.text),
        }
        from workbench import sandbox

        try:
            found = (await run_regex(job))["found"]
        except re.error as exc:
            yield "error", f"Invalid regular expression {input_data.match!r}: {exc}"
            return
        except RegexTimeoutError as exc:
            yield "error", f"Regular expression {input_data.match!r} timed out: {exc}"
            return
        except sandbox.JobFailed as exc:
            yield "error", f"Regular expression {input_data.match!r} failed: {exc}"
            return
        yield ("positive" if found else "negative"), forwarded


class ExtractTextInformationBlock(Block):
    """Extracts the matches of a regex (or one of its groups) from a text."""

    id = "3146e4fe-2cdd-4f29-bd12-0c9d5bb4deb0"
    name = "ExtractTextInformationBlock"
    description = (
        "Extracts text with a regex: yields one `positive` per match (the chosen group), or `negative` "
        "(the text) when nothing matches, then `matched_results` and `matched_count`. Limits: the first "
        "1,000,000 characters are searched, at most 1000 matches of at most 10,000 characters each are "
        "kept; an invalid pattern counts as no match, and a pattern running longer than the sandbox "
        "time limit (WORKBENCH_SANDBOX_TIMEOUT, 5 s) fails the node."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        text: Any = Field(description="Text to search; a non-string value is searched as its JSON text.")
        pattern: str = Field(description="Pattern (regex) to find.")
        group: int = Field(default=0, description="Group to extract; 0 is the whole match.")
        case_sensitive: bool = Field(default=True, description="Case-sensitive match.")
        dot_all: bool = Field(default=True, description="Let `.` match newlines too.")
        find_all: bool = Field(default=False, description="Extract every match, not just the first.")

    class Output(BlockSchema):
        positive: str = Field(description="One extracted match (yielded once per match).")
        negative: str = Field(description="The text, when nothing was extracted.")
        matched_results: list[str] = Field(description="All extracted matches.")
        matched_count: int = Field(description="How many matches were extracted.")

    test_input = [
        {"text": "Hello, World!", "pattern": "Hello, (.+)", "group": 1},
        {"text": "Hello, World!", "pattern": "Hello, (.+)", "group": 0},
        {"text": "Hello, World!", "pattern": "Hello, (.+)", "group": 2},
        {"text": "Hello, World!", "pattern": "hello,", "case_sensitive": False},
        {"text": "Hello, World!", "pattern": "hello,", "case_sensitive": True},
        {
            "text": "Hello, World!! Hello, Earth!!",
            "pattern": r"hello, (\S+)",
            "group": 1,
            "case_sensitive": False,
        },
        {
            "text": "Hello, World!! Hello, Earth!!",
            "pattern": r"hello, (\S+)",
            "group": 1,
            "case_sensitive": False,
            "find_all": True,
        },
        {"text": {"id": 7, "ids": [8, 9]}, "pattern": r"\d+", "find_all": True},
        {"text": "a\nb", "pattern": "a.b", "dot_all": False},
        {"text": "abc", "pattern": "[unclosed", "find_all": True},
    ]
    test_output = [
        ("positive", "World!"),
        ("matched_results", ["World!"]),
        ("matched_count", 1),
        ("positive", "Hello, World!"),
        ("matched_results", ["Hello, World!"]),
        ("matched_count", 1),
        ("negative", "Hello, World!"),
        ("matched_results", []),
        ("matched_count", 0),
        ("positive", "Hello,"),
        ("matched_results", ["Hello,"]),
        ("matched_count", 1),
        ("negative", "Hello, World!"),
        ("matched_results", []),
        ("matched_count", 0),
        ("positive", "World!!"),
        ("matched_results", ["World!!"]),
        ("matched_count", 1),
        ("positive", "World!!"),
        ("positive", "Earth!!"),
        ("matched_results", ["World!!", "Earth!!"]),
        ("matched_count", 2),
        ("positive", "7"),
        ("positive", "8"),
        ("positive", "9"),
        ("matched_results", ["7", "8", "9"]),
        ("matched_count", 3),
        ("negative", "a\nb"),
        ("matched_results", []),
        ("matched_count", 0),
        ("negative", "abc"),
        ("matched_results", []),
        ("matched_count", 0),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        text = _as_text(input_data.text)
        job = {
            "op": "extract",
            "pattern": input_data.pattern,
            "flags": _flags(input_data.case_sensitive, input_data.dot_all),
            "text": text[:MAX_TEXT_LENGTH],
            "group": input_data.group,
            "limit": MAX_MATCHES if input_data.find_all else 1,
            "max_len": MAX_MATCH_LENGTH,
        }
        from workbench import sandbox

        try:
            matches: list[str] = (await run_regex(job))["matches"]
        except re.error as exc:
            # AutoGPT's contract: an invalid pattern is "no match", not a failed node.
            log.info("ExtractTextInformationBlock: pattern %r is invalid: %s", input_data.pattern, exc)
            matches = []
        except RegexTimeoutError as exc:
            # A pattern that ran out of time did not find "nothing": the node fails and says why.
            yield "error", f"Regular expression {input_data.pattern!r} timed out: {exc}"
            return
        except (LimitExceeded, sandbox.JobFailed) as exc:
            yield "error", f"Regular expression {input_data.pattern!r} failed: {exc}"
            return
        for match in matches:
            yield "positive", match
        if not matches:
            yield "negative", text
        yield "matched_results", matches
        yield "matched_count", len(matches)


class FillTextTemplateBlock(Block):
    """Renders a Jinja2 template with the given values, in a sandbox."""

    id = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"
    name = "FillTextTemplateBlock"
    description = (
        "Formats a text with a (sandboxed) Jinja2 template: `{{ name }}` placeholders, filters, loops "
        "and conditions, filled from `values`."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        values: dict[str, Any] = Field(description="Values for the template, by placeholder name.")
        format: str = Field(description="Jinja2 template, e.g. 'Hello, {{ name }}!'.")
        escape_html: bool = Field(
            default=False,
            description="HTML-escape the values inserted into the template.",
            json_schema_extra={"advanced": True},
        )

    class Output(BlockSchema):
        output: str = Field(description="The rendered text.")

    test_input = [
        {
            "values": {"name": "Alice", "hello": "Hello", "world": "World!"},
            "format": "{{hello}}, {{ world }} {{name}}",
        },
        {"values": {"list": ["Hello", " World!"]}, "format": "{% for item in list %}{{ item }}{% endfor %}"},
        {"values": {}, "format": "{% set name = 'Alice' %}Hello, World! {{ name }}"},
        {"values": {"x": "<b>&</b>"}, "format": "{{ x }}", "escape_html": True},
        {"values": {"x": "<b>"}, "format": "{{ x }}|{{ missing }}|"},
        {"values": {"x": 1}, "format": "{% if x %}unclosed"},
        {"values": {}, "format": "{{ ''.__class__.__mro__ }}"},
    ]
    test_output = [
        ("output", "Hello, World! Alice"),
        ("output", "Hello World!"),
        ("output", "Hello, World! Alice"),
        ("output", "&lt;b&gt;&amp;&lt;/b&gt;"),
        ("output", "<b>||"),
        ("error", lambda v: v.startswith("Template syntax error at line 1:")),
        ("error", lambda v: v.startswith("Template refused by the sandbox:") and "__class__" in v),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        from workbench import sandbox
        from workbench.templating import TemplateFailure, render

        try:
            text = await render(input_data.format, input_data.values, autoescape=input_data.escape_html)
        except TemplateFailure as exc:
            yield "error", _template_message(exc)
            return
        except LimitExceeded as exc:
            yield "error", f"Template stopped: {exc}"
            return
        except sandbox.JobFailed as exc:
            yield "error", f"Template rendering failed: {exc}"
            return
        yield "output", text


def _template_message(exc: TemplateFailure) -> str:
    if exc.kind == "syntax":
        return f"Template syntax error at line {exc.lineno}: {exc.message}"
    if exc.kind == "security":
        return f"Template refused by the sandbox: {exc.message}"
    if exc.kind == "template":
        return f"Template error: {exc.message}"
    return f"Template rendering failed: {exc.message}"


class CombineTextsBlock(Block):
    """Joins texts with a delimiter."""

    id = "e30a4d42-7b7d-4e6a-b36e-1f9b8e3b7d85"
    name = "CombineTextsBlock"
    description = "Combines several texts into one, joined with `delimiter` (nothing by default)."
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        input: list[str] = Field(description="Texts to combine, in order (non-strings as JSON).")
        delimiter: str = Field(default="", description="Placed between consecutive texts.")

    class Output(BlockSchema):
        output: str = Field(description="The combined text.")

    test_input = [
        {"input": ["Hello world I like ", "cake and to go for walks"]},
        {"input": ["This is a test", "Hi!"], "delimiter": "! "},
        {"input_$_0": "a", "input_$_1": "b", "input_$_2": "c", "delimiter": ", "},
        {"input": [1, {"k": True}], "delimiter": " "},
        {"input": []},
    ]
    test_output = [
        ("output", "Hello world I like cake and to go for walks"),
        ("output", "This is a test! Hi!"),
        ("output", "a, b, c"),
        ("output", '1 {"k": true}'),
        ("output", ""),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "output", input_data.delimiter.join(input_data.input)


class TextSplitBlock(Block):
    """Splits a text at every occurrence of a delimiter."""

    id = "d5ea33c8-a575-477a-b42f-2fe3be5055ec"
    name = "TextSplitBlock"
    description = (
        "Splits a text into a list of texts at every `delimiter` (empty pieces kept); each piece is "
        "stripped of surrounding whitespace unless `strip` is off. An empty text gives []."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        text: str = Field(description="The text to split.")
        delimiter: str = Field(description="The delimiter to split at (literal, not a regex).")
        strip: bool = Field(default=True, description="Strip whitespace around each piece.")

    class Output(BlockSchema):
        texts: list[str] = Field(description="The pieces, in order.")

    test_input = [
        {"text": "Hello, World!", "delimiter": ","},
        {"text": "Hello, World!", "delimiter": ",", "strip": False},
        {"text": "a,,b,", "delimiter": ","},
        {"text": "", "delimiter": ","},
        {"text": "one two", "delimiter": ";"},
        {"text": "abc", "delimiter": ""},
    ]
    test_output = [
        ("texts", ["Hello", "World!"]),
        ("texts", ["Hello", " World!"]),
        ("texts", ["a", "", "b", ""]),
        ("texts", []),
        ("texts", ["one two"]),
        ("error", "The delimiter must not be empty"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if not input_data.text:
            yield "texts", []
            return
        if not input_data.delimiter:
            yield "error", "The delimiter must not be empty"
            return
        pieces = input_data.text.split(input_data.delimiter)
        yield "texts", [p.strip() for p in pieces] if input_data.strip else pieces


class TextReplaceBlock(Block):
    """Replaces every occurrence of a substring."""

    id = "7e7c87ab-3469-4bcc-9abe-67705091b713"
    name = "TextReplaceBlock"
    description = "Replaces every occurrence of `old` in the text with `new` (literal text, not a regex)."
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        text: str = Field(description="The text to change.")
        old: str = Field(description="The text to replace (literal).")
        new: str = Field(description="The replacement text.")

    class Output(BlockSchema):
        output: str = Field(description="The text with every occurrence replaced.")

    test_input = [
        {"text": "Hello, World!", "old": "Hello", "new": "Hi"},
        {"text": "a.b.c", "old": ".", "new": ""},
        {"text": "[x] and [x]", "old": "[x]", "new": "(y)"},
        {"text": "nothing here", "old": "zzz", "new": "q"},
    ]
    test_output = [
        ("output", "Hi, World!"),
        ("output", "abc"),
        ("output", "(y) and (y)"),
        ("output", "nothing here"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        text, old, new = input_data.text, input_data.old, input_data.new
        if len(new) > len(old):
            # Count first: replacing every character of a long text by a long text would build
            # gigabytes before anything could check the result.
            count = len(text) + 1 if not old else text.count(old)
            size = len(text) + count * (len(new) - len(old))
            if size > MAX_REPLACED_LENGTH:
                yield (
                    "error",
                    f"The replaced text would have {size:,} characters; at most {MAX_REPLACED_LENGTH:,}",
                )
                return
        yield "output", text.replace(old, new)


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def decode_escapes(text: str) -> str:
    """Turn backslash escapes (``\\n``, ``\\"``, ``\\u00e9``, ``\\x41``, ``\\N{...}``) into characters.

    Like ``codecs.decode(text, "unicode_escape")`` but non-ASCII characters are kept as they are (the
    codec alone would re-read them as Latin-1), unknown escapes and a lone trailing backslash are kept
    literally, and UTF-16 surrogate pairs (``\\ud83d\\ude00``) are joined (a lone surrogate becomes
    U+FFFD).

    Raises:
        ValueError: a malformed escape (e.g. a truncated ``\\u00``), naming its position.
    """
    pieces: list[str] = []
    pos = 0
    for run in _NON_ASCII.finditer(text):
        pieces.append(_decode_ascii(text[pos : run.start()], pos))
        pieces.append(run.group())
        pos = run.end()
    pieces.append(_decode_ascii(text[pos:], pos))
    out = "".join(pieces)
    if _SURROGATE.search(out):
        out = out.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return out


def _decode_ascii(chunk: str, offset: int) -> str:
    suffix = ""
    if (len(chunk) - len(chunk.rstrip("\\"))) % 2:
        chunk, suffix = chunk[:-1], "\\"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return codecs.decode(chunk, "unicode_escape") + suffix
    except UnicodeDecodeError as exc:
        raise ValueError(f"{exc.reason} at position {offset + exc.start}") from None


class TextDecoderBlock(Block):
    """Turns backslash escape sequences in a text into the characters they stand for."""

    id = "2570e8fe-8447-43ed-84c7-70d657923231"
    name = "TextDecoderBlock"
    description = (
        'Decodes escape sequences such as \\n, \\t, \\" and \\u00e9 in a text into real characters '
        "(Python unicode_escape; other characters are kept as they are)."
    )
    categories = (BlockCategory.TEXT,)

    class Input(BlockSchema):
        text: str = Field(description="A text containing escape sequences.")

    class Output(BlockSchema):
        decoded_text: str = Field(description="The text with its escape sequences decoded.")

    test_input = [
        {"text": 'Hello\nWorld!\nThis is a "quoted" string.'},
        {"text": 'Line 1\\nLine 2\\t\\"quoted\\" \\u00e9'},
        {"text": "caf\u00e9 \\u2014 \u20ac5 \\ud83d\\ude00"},
        {"text": "keep \\q and a trailing \\"},
        {"text": "bad \\u12"},
    ]
    test_output = [
        ("decoded_text", 'Hello\nWorld!\nThis is a "quoted" string.'),
        ("decoded_text", 'Line 1\nLine 2\t"quoted" \u00e9'),
        ("decoded_text", "caf\u00e9 \u2014 \u20ac5 \U0001f600"),
        ("decoded_text", "keep \\q and a trailing \\"),
        ("error", "Cannot decode escape sequences: truncated \\uXXXX escape at position 4"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            decoded = decode_escapes(input_data.text)
        except ValueError as exc:
            yield "error", f"Cannot decode escape sequences: {exc}"
            return
        yield "decoded_text", decoded


class JsonEncodeBlock(Block):
    """Serializes a value to JSON text."""

    id = "90a54d0b-58c1-48fb-9171-1cb273a9356d"
    name = "JsonEncodeBlock"
    description = (
        "Encodes a value (object, list, text, number, boolean or null) as JSON text, optionally "
        "indented and with sorted keys. Non-ASCII characters are written as is; NaN and infinities "
        "are refused (they are not JSON)."
    )
    categories = (BlockCategory.TEXT, BlockCategory.DATA)

    class Input(BlockSchema):
        value: Any = Field(description="The value to encode.")
        indent: int | None = Field(
            default=None, description="Spaces per indentation level; empty gives a single line."
        )
        sort_keys: bool = Field(default=False, description="Sort object keys.")

    # A pin named `json` shadows the deprecated BaseModel.json method; pydantic warns, harmlessly.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

        class Output(BlockSchema):
            json: str = Field(description="The JSON text.")

    test_input = [
        {"value": {"b": 1, "a": [True, None, 2.5]}},
        {"value": {"b": 1, "a": "x"}, "indent": 2, "sort_keys": True},
        {"value": "caf\u00e9"},
        {"value": [1, (2, 3)], "indent": "0"},
        {"value": {"s": {1, 2}}},
        {"value": float("nan")},
    ]
    test_output = [
        ("json", '{"b": 1, "a": [true, null, 2.5]}'),
        ("json", '{\n  "a": "x",\n  "b": 1\n}'),
        ("json", '"caf\u00e9"'),
        ("json", "[\n1,\n[\n2,\n3\n]\n]"),
        ("error", "Cannot encode as JSON: Object of type set is not JSON serializable"),
        ("error", lambda v: v.startswith("Cannot encode as JSON: Out of range float values")),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            text = json.dumps(
                input_data.value,
                indent=input_data.indent,
                sort_keys=input_data.sort_keys,
                ensure_ascii=False,
                allow_nan=False,
            )
        except (TypeError, ValueError) as exc:
            yield "error", f"Cannot encode as JSON: {exc}"
            return
        except RecursionError:
            yield "error", "Cannot encode as JSON: the value is nested too deeply"
            return
        yield "json", text


class JsonDecodeBlock(Block):
    """Parses JSON text into a value."""

    id = "f2667552-3ccd-4693-b555-1e8cbca86454"
    name = "JsonDecodeBlock"
    description = "Decodes JSON text into a value (object, list, text, number, boolean or null)."
    categories = (BlockCategory.TEXT, BlockCategory.DATA)

    with warnings.catch_warnings():  # see JsonEncodeBlock.Output
        warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

        class Input(BlockSchema):
            json: str = Field(description="A JSON text, e.g. '{\"a\": [1, 2]}'.")

    class Output(BlockSchema):
        value: Any = Field(description="The decoded value.")

    test_input = [
        {"json": '{"a": [1, 2.5, true, null], "b": "caf\\u00e9"}'},
        {"json": '  "just a string"\n'},
        {"json": "42"},
        {"json": "null"},
        {"json": '{"a": 1,\n "b": }'},
        {"json": ""},
        {"json": "[1] [2]"},
    ]
    test_output = [
        ("value", {"a": [1, 2.5, True, None], "b": "caf\u00e9"}),
        ("value", "just a string"),
        ("value", 42),
        ("value", None),
        ("error", "Invalid JSON at line 2 column 7: Expecting value"),
        ("error", "Invalid JSON at line 1 column 1: Expecting value"),
        ("error", "Invalid JSON at line 1 column 5: Extra data"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            value = json.loads(input_data.json)
        except json.JSONDecodeError as exc:
            yield "error", f"Invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            return
        except RecursionError:
            yield "error", "Invalid JSON: nested too deeply"
            return
        yield "value", value
