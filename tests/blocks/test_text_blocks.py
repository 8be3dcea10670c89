"""Tricky semantics of the text blocks (the plain cases are in each block's self-test data)."""

from __future__ import annotations

import re
from typing import Any

import pytest

import blocks.text as text_blocks
from blocks.text import (
    MAX_MATCH_LENGTH,
    MAX_MATCHES,
    MAX_TEXT_LENGTH,
    CombineTextsBlock,
    ExtractTextInformationBlock,
    FillTextTemplateBlock,
    JsonDecodeBlock,
    JsonEncodeBlock,
    MatchTextPatternBlock,
    RegexTimeoutError,
    TextDecoderBlock,
    TextReplaceBlock,
    TextSplitBlock,
    run_regex,
)
from tests.support.loop import LoopWatch
from workbench import sandbox
from workbench.block.selftest import run_block_once

CATASTROPHIC = {"text": "a" * 40 + "!", "pattern": r"(a+)+$"}


async def run(block_cls: type, data: dict[str, Any]) -> list[tuple[str, Any]]:
    return await run_block_once(block_cls(), data)


# ---- MatchTextPatternBlock ------------------------------------------------------------------------


async def test_match_non_string_text_is_json_dumped():
    out = await run(
        MatchTextPatternBlock, {"text": {"a": [1, None]}, "match": r'^\{"a": \[1, null\]\}$', "data": "y"}
    )
    assert out == [("positive", "y")]


async def test_match_number_text_is_json_dumped():
    assert await run(MatchTextPatternBlock, {"text": 3.5, "match": r"^3\.5$", "data": 1}) == [("positive", 1)]
    assert await run(MatchTextPatternBlock, {"text": True, "match": "^true$", "data": 1}) == [("positive", 1)]


@pytest.mark.parametrize("falsy", ["", 0, [], {}, False])
async def test_match_falsy_data_forwards_original_text(falsy: Any):
    text = {"status": "ok"}
    out = await run(MatchTextPatternBlock, {"text": text, "match": "ok", "data": falsy})
    assert out == [("positive", text)]
    out = await run(MatchTextPatternBlock, {"text": text, "match": "nope", "data": falsy})
    assert out == [("negative", text)]


async def test_match_uses_search_not_fullmatch():
    out = await run(MatchTextPatternBlock, {"text": "xx needle xx", "match": "needle", "data": "d"})
    assert out == [("positive", "d")]


async def test_match_flags():
    base = {"text": "Foo\nBAR", "data": "d"}
    assert await run(MatchTextPatternBlock, {**base, "match": "foo.bar", "case_sensitive": False}) == [
        ("positive", "d")
    ]
    assert await run(MatchTextPatternBlock, {**base, "match": "foo.bar"}) == [("negative", "d")]
    assert await run(
        MatchTextPatternBlock, {**base, "match": "foo.bar", "case_sensitive": False, "dot_all": False}
    ) == [("negative", "d")]


async def test_match_invalid_regex_fails_the_node():
    out = await run(MatchTextPatternBlock, {"text": "abc", "match": "*a", "data": "d"})
    assert len(out) == 1
    assert out[0][0] == "error"
    assert "'*a'" in out[0][1]


async def test_match_catastrophic_regex_times_out_without_blocking_the_loop(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(text_blocks, "REGEX_TIMEOUT", 1.0)
    await sandbox.run(abs, -1, what="warming up the pool")  # its first start is not what is timed
    async with LoopWatch() as watch:
        out = await run(
            MatchTextPatternBlock, {"text": CATASTROPHIC["text"], "match": CATASTROPHIC["pattern"], "data": 1}
        )
    assert len(out) == 1
    assert out[0][0] == "error"
    assert "longer than 1 s" in out[0][1]
    assert watch.elapsed < 4
    assert len(watch.ticks) >= 10, "the event loop was blocked while the regex ran"


# ---- ExtractTextInformationBlock ------------------------------------------------------------------


async def test_extract_group_beyond_pattern_groups_gives_negative():
    out = await run(ExtractTextInformationBlock, {"text": "k=v", "pattern": r"(\w)=(\w)", "group": 3})
    assert out == [("negative", "k=v"), ("matched_results", []), ("matched_count", 0)]


async def test_extract_group_equal_to_group_count_is_kept():
    out = await run(ExtractTextInformationBlock, {"text": "k=v", "pattern": r"(\w)=(\w)", "group": 2})
    assert out == [("positive", "v"), ("matched_results", ["v"]), ("matched_count", 1)]


async def test_extract_negative_group_gives_negative():
    out = await run(ExtractTextInformationBlock, {"text": "k=v", "pattern": r"(\w)", "group": -1})
    assert out == [("negative", "k=v"), ("matched_results", []), ("matched_count", 0)]


async def test_extract_skips_matches_where_group_did_not_take_part():
    out = await run(
        ExtractTextInformationBlock, {"text": "a b a", "pattern": r"(a)|(b)", "group": 2, "find_all": True}
    )
    assert out == [("positive", "b"), ("matched_results", ["b"]), ("matched_count", 1)]


async def test_extract_find_all_and_first_only():
    data = {"text": "x1 y22 z333", "pattern": r"\d+"}
    assert await run(ExtractTextInformationBlock, data) == [
        ("positive", "1"),
        ("matched_results", ["1"]),
        ("matched_count", 1),
    ]
    assert await run(ExtractTextInformationBlock, {**data, "find_all": True}) == [
        ("positive", "1"),
        ("positive", "22"),
        ("positive", "333"),
        ("matched_results", ["1", "22", "333"]),
        ("matched_count", 3),
    ]


async def test_extract_first_kept_match_skips_matches_without_the_group():
    # Without find_all the first *kept* match counts, not the first match.
    out = await run(ExtractTextInformationBlock, {"text": "b a", "pattern": r"(a)|b", "group": 1})
    assert out == [("positive", "a"), ("matched_results", ["a"]), ("matched_count", 1)]


async def test_extract_case_and_dotall_flags():
    base = {"text": "Start\nEND", "pattern": "start.end", "find_all": True}
    assert (await run(ExtractTextInformationBlock, base))[0] == ("negative", "Start\nEND")
    assert (await run(ExtractTextInformationBlock, {**base, "case_sensitive": False}))[0] == (
        "positive",
        "Start\nEND",
    )
    out = await run(ExtractTextInformationBlock, {**base, "case_sensitive": False, "dot_all": False})
    assert out[0] == ("negative", "Start\nEND")


async def test_extract_non_string_text_negative_is_its_json_text():
    out = await run(ExtractTextInformationBlock, {"text": {"n": 1}, "pattern": "zzz"})
    assert out == [("negative", '{"n": 1}'), ("matched_results", []), ("matched_count", 0)]
    out = await run(ExtractTextInformationBlock, {"text": [10, 20], "pattern": r"\d+", "find_all": True})
    assert out[-2:] == [("matched_results", ["10", "20"]), ("matched_count", 2)]


async def test_extract_invalid_regex_gives_negative_empty_and_zero():
    out = await run(ExtractTextInformationBlock, {"text": "abc", "pattern": "(?P<x", "find_all": True})
    assert out == [("negative", "abc"), ("matched_results", []), ("matched_count", 0)]


async def test_extract_timeout_fails_the_node_and_says_so(monkeypatch: pytest.MonkeyPatch):
    # A pattern that ran out of time found nothing *yet*: reporting "no match" would be a lie.
    monkeypatch.setattr(text_blocks, "REGEX_TIMEOUT", 0.5)
    out = await run(ExtractTextInformationBlock, CATASTROPHIC)
    assert len(out) == 1, out
    pin, message = out[0]
    assert pin == "error"
    assert message.startswith("Regular expression '(a+)+$' timed out:")
    assert "longer than 0.5 s (limit WORKBENCH_SANDBOX_TIMEOUT)" in message


@pytest.mark.parametrize("pattern", ["a", "(a)"], ids=["in-process", "sandbox-pool"])
async def test_extract_keeps_at_most_max_matches(pattern: str):
    out = await run(
        ExtractTextInformationBlock, {"text": "a" * (MAX_MATCHES + 500), "pattern": pattern, "find_all": True}
    )
    assert out[-1] == ("matched_count", MAX_MATCHES)
    assert out[-2] == ("matched_results", ["a"] * MAX_MATCHES)
    assert [pin for pin, _ in out].count("positive") == MAX_MATCHES


async def test_extract_truncates_each_match():
    out = await run(
        ExtractTextInformationBlock, {"text": "<" + "x" * 20_000 + ">", "pattern": "<(x+)>", "group": 1}
    )
    assert out[0] == ("positive", "x" * MAX_MATCH_LENGTH)
    assert out[-1] == ("matched_count", 1)


async def test_extract_searches_only_the_leading_characters():
    head = "a" * (MAX_TEXT_LENGTH - 3)
    out = await run(ExtractTextInformationBlock, {"text": head + "END", "pattern": "END$"})
    assert out[0] == ("positive", "END")
    long_text = head + "xxxEND"
    out = await run(ExtractTextInformationBlock, {"text": long_text, "pattern": "END"})
    assert out[0] == ("negative", long_text), "negative carries the whole, untruncated text"
    assert out[1:] == [("matched_results", []), ("matched_count", 0)]


async def test_run_regex_rejects_bad_pattern_before_using_the_pool():
    with pytest.raises(re.error):
        await run_regex({"op": "search", "pattern": "(", "flags": 0, "text": "x"})


async def test_run_regex_timeout_raises():
    job = {"op": "search", "pattern": CATASTROPHIC["pattern"], "flags": 0, "text": CATASTROPHIC["text"]}
    with pytest.raises(RegexTimeoutError):
        await run_regex(job, time_limit=0.3)


@pytest.mark.parametrize(
    ("pattern", "inline"),
    [
        ("hello", True),
        (r"^error: \w\d$", True),
        ("[a-z].b", True),
        ("a+", False),
        ("a*b", False),
        ("a?", False),
        ("a{2}", False),
        ("a|b", False),
        ("(a)", False),
        (r"(a)\1", False),
    ],
)
def test_only_backtracking_free_patterns_run_in_process(pattern: str, inline: bool):
    assert text_blocks._runs_inline(pattern, "some text") is inline


def test_large_texts_run_in_the_pool_even_for_simple_patterns():
    assert not text_blocks._runs_inline("x" * 100, "y" * MAX_TEXT_LENGTH)


# ---- FillTextTemplateBlock ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ values.__class__ }}{{ values.__class__.__base__ }}",
        "{{ (lambda: 1).__code__ }}",
        "{{ x.append(2) }}",
        "{{ x.__setitem__(0, 1) }}",
    ],
)
async def test_template_sandbox_refuses_escapes(template: str):
    out = await run(FillTextTemplateBlock, {"values": {"x": [1]}, "format": template})
    assert len(out) == 1
    pin, message = out[0]
    assert pin == "error"
    assert message.startswith(("Template refused by the sandbox:", "Template syntax error"))


async def test_template_unsafe_attribute_alone_renders_empty():
    # Jinja's sandbox turns a lone unsafe attribute into an undefined value; using it raises.
    out = await run(FillTextTemplateBlock, {"values": {}, "format": "[{{ ''.__class__ }}]"})
    assert out == [("output", "[]")]


async def test_template_values_from_dynamic_pins():
    out = await run(
        FillTextTemplateBlock,
        {"values": {"c": "!!!"}, "values_#_a": "Hello", "values_#_b": "World", "format": "{{a}} {{b}}{{c}}"},
    )
    assert out == [("output", "Hello World!!!")]


async def test_template_values_as_json_string_are_coerced():
    out = await run(FillTextTemplateBlock, {"values": '{"n": 3}', "format": "{{ n * 2 }}"})
    assert out == [("output", "6")]


async def test_template_escape_html_only_when_asked():
    data = {"values": {"v": "<i>&</i>"}, "format": "<p>{{ v }}</p>"}
    assert await run(FillTextTemplateBlock, data) == [("output", "<p><i>&</i></p>")]
    assert await run(FillTextTemplateBlock, {**data, "escape_html": True}) == [
        ("output", "<p>&lt;i&gt;&amp;&lt;/i&gt;</p>")
    ]


async def test_template_errors_name_the_problem():
    out = await run(FillTextTemplateBlock, {"values": {}, "format": "{{ 1 / 0 }}"})
    assert out == [("error", "Template rendering failed: ZeroDivisionError: division by zero")]
    out = await run(FillTextTemplateBlock, {"values": {}, "format": "{{ x | no_such_filter }}"})
    assert out[0][0] == "error"
    assert "no_such_filter" in out[0][1]
    out = await run(FillTextTemplateBlock, {"values": {}, "format": "line 1\n{% for x in %}"})
    assert out[0][0] == "error"
    assert out[0][1].startswith("Template syntax error at line 2:")


async def test_template_does_not_mutate_values():
    values = {"items": [1, 2]}
    out = await run(
        FillTextTemplateBlock, {"values": values, "format": "{% set _ = items.pop() %}{{ items }}"}
    )
    assert out[0][0] == "error"
    assert values == {"items": [1, 2]}


# ---- CombineTextsBlock / TextSplitBlock / TextReplaceBlock ----------------------------------------


async def test_combine_values_given_as_a_list():
    assert await run(CombineTextsBlock, {"input": ["a", "b", "c"], "delimiter": "-"}) == [("output", "a-b-c")]


async def test_combine_values_given_as_dynamic_pins_in_index_order():
    out = await run(CombineTextsBlock, {"input_$_1": "world", "input_$_0": "hello", "delimiter": " "})
    assert out == [("output", "hello world")]


async def test_combine_non_string_items_are_json_texts():
    out = await run(CombineTextsBlock, {"input": ["n=", 5, None is None, [1]]})
    assert out == [("output", "n=5true[1]")]


async def test_combine_json_list_string_is_parsed():
    assert await run(CombineTextsBlock, {"input": '["x", "y"]', "delimiter": "+"}) == [("output", "x+y")]


async def test_split_empty_text_gives_empty_list():
    assert await run(TextSplitBlock, {"text": "", "delimiter": ","}) == [("texts", [])]
    assert await run(TextSplitBlock, {"text": "", "delimiter": ""}) == [("texts", [])]


async def test_split_keeps_empty_pieces_and_strips_each():
    assert await run(TextSplitBlock, {"text": " a ,, b ", "delimiter": ","}) == [("texts", ["a", "", "b"])]
    assert await run(TextSplitBlock, {"text": "  ", "delimiter": ","}) == [("texts", [""])]
    assert await run(TextSplitBlock, {"text": "a<>b<>", "delimiter": "<>", "strip": False}) == [
        ("texts", ["a", "b", ""])
    ]


async def test_split_delimiter_is_literal_not_regex():
    assert await run(TextSplitBlock, {"text": "a.b|c", "delimiter": "."}) == [("texts", ["a", "b|c"])]


async def test_replace_is_literal_and_replaces_all():
    assert await run(TextReplaceBlock, {"text": "a.b.c", "old": ".", "new": "\\1"}) == [
        ("output", "a\\1b\\1c")
    ]
    assert await run(TextReplaceBlock, {"text": "aaa", "old": "aa", "new": "b"}) == [("output", "ba")]


async def test_replace_empty_old_follows_python():
    assert await run(TextReplaceBlock, {"text": "ab", "old": "", "new": "-"}) == [("output", "-a-b-")]


# ---- TextDecoderBlock -----------------------------------------------------------------------------


async def test_decoder_keeps_non_ascii_characters():
    out = await run(TextDecoderBlock, {"text": "Grüße\\n日本 \\u00fc"})
    assert out == [("decoded_text", "Grüße\n日本 ü")]


async def test_decoder_joins_surrogate_pairs_and_replaces_lone_ones():
    out = await run(TextDecoderBlock, {"text": "\\ud83d\\ude00 \\ud800!"})
    assert out == [("decoded_text", "\U0001f600 \ufffd!")]


async def test_decoder_backslash_before_non_ascii_is_kept():
    assert await run(TextDecoderBlock, {"text": "\\é\\\\é"}) == [("decoded_text", "\\é\\é")]


async def test_decoder_other_escapes():
    out = await run(TextDecoderBlock, {"text": "\\x41\\101\\N{BULLET}\\\\n\\'"})
    assert out == [("decoded_text", "AA\u2022\\n'")]


async def test_decoder_malformed_escape_is_an_error():
    out = await run(TextDecoderBlock, {"text": "ok \\N{NO SUCH CHARACTER NAME}"})
    assert len(out) == 1
    assert out[0][0] == "error"
    assert "position 3" in out[0][1]


# ---- JsonEncodeBlock / JsonDecodeBlock ------------------------------------------------------------


class _Thing:
    pass


async def test_json_encode_error_names_the_type():
    out = await run(JsonEncodeBlock, {"value": {"a": [_Thing()]}})
    assert out == [("error", "Cannot encode as JSON: Object of type _Thing is not JSON serializable")]


async def test_json_encode_circular_and_mixed_keys():
    loop: list[Any] = []
    loop.append(loop)
    out = await run(JsonEncodeBlock, {"value": loop})
    assert out[0][0] == "error"
    assert "Circular reference" in out[0][1]
    out = await run(JsonEncodeBlock, {"value": {1: "a", "b": 2}, "sort_keys": True})
    assert out[0][0] == "error"


async def test_json_encode_scalars_and_non_string_keys():
    assert await run(JsonEncodeBlock, {"value": "x"}) == [("json", '"x"')]
    assert await run(JsonEncodeBlock, {"value": {1: True}}) == [("json", '{"1": true}')]


async def test_json_decode_error_position():
    out = await run(JsonDecodeBlock, {"json": "[1,\n 2,\n  oops]"})
    assert out == [("error", "Invalid JSON at line 3 column 3: Expecting value")]
    out = await run(JsonDecodeBlock, {"json": "{'single': 1}"})
    assert out == [
        ("error", "Invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes")
    ]


async def test_json_decode_non_string_input_is_coerced_to_json_text():
    # The engine coerces a dict on the `json: str` pin to its JSON text, so decoding gives it back.
    assert await run(JsonDecodeBlock, {"json": {"a": [1, 2]}}) == [("value", {"a": [1, 2]})]


async def test_json_round_trip():
    value = {"name": "café", "n": [1, 2.5, None, True], "nested": {"k": "v"}}
    encoded = await run(JsonEncodeBlock, {"value": value, "indent": 2})
    decoded = await run(JsonDecodeBlock, {"json": encoded[0][1]})
    assert decoded == [("value", value)]
