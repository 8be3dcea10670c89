"""The rules of file values: references, names, sniffed types, data: URIs."""

from __future__ import annotations

import pytest

from workbench.errors import BlockError, InputError
from workbench.files import decode_data_uri, make_ref, parse_ref, sanitize_name, sniff_content_type

ID = "6f0d7c8e-2a51-4c3b-9a7e-5d8b1e4f2c90"


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0", "", "image/png"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "", "image/jpeg"),
        (b"GIF89a\x01\0", "x.txt", "image/gif"),  # the bytes win over the name
        (b"%PDF-1.7\n", "", "application/pdf"),
        (b"RIFF\0\0\0\0WAVEfmt ", "", "audio/wav"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "", "image/webp"),
        (b"\0\0\0\x18ftypmp42", "", "video/mp4"),
        (b"ID3\x04\0\0", "", "audio/mpeg"),
        (b"BM6\0\0\0\0\0\0\0", "", "image/bmp"),
        (b"BMW drivers", "", "text/plain"),  # text that happens to start like a bitmap
        (b"a,b\n1,2\n", "table.csv", "text/csv"),
        (b"<!doctype html><title>x</title>", "", "text/html"),
        ("caf\u00e9 cr\u00e8me".encode(), "", "text/plain"),
        (b"\x00\x01\x02binary", "", "application/octet-stream"),
    ],
)
def test_types_are_sniffed_from_the_bytes_then_the_name(data: bytes, name: str, expected: str) -> None:
    assert sniff_content_type(data, name) == expected


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("../../etc/passwd", "", "passwd"),
        ("C:\\Users\\me\\report.pdf", "", "report.pdf"),
        ("...hidden", "", "hidden"),
        ("a\x00b<c>:d.txt", "", "a_b_c__d.txt"),
        ("", "image/png", "file.png"),
        ("   ", "", "file"),
        ("x" * 300 + ".jpeg", "", "x" * 250 + ".jpeg"),
    ],
)
def test_names_are_cleaned(name: str, kind: str, expected: str) -> None:
    assert sanitize_name(name, kind) == expected


def test_references() -> None:
    assert make_ref(ID) == f"workspace://{ID}"
    assert parse_ref(f"workspace://{ID}") == ID
    assert parse_ref(f"workspace://{ID.upper()}#image/png") == ID  # AutoGPT appends the type
    for bad in ("workspace://", "workspace://../x", "workspace://1234"):
        with pytest.raises(InputError, match="not a file reference"):
            parse_ref(bad)


def test_data_uris() -> None:
    assert decode_data_uri("data:text/plain;base64,SGk=") == ("text/plain", b"Hi")
    assert decode_data_uri("data:image/png;base64,SG\nk") == ("image/png", b"Hi")  # wrapped, unpadded
    assert decode_data_uri("data:;base64,-_8=") == ("text/plain", b"\xfb\xff")  # URL-safe alphabet
    assert decode_data_uri("data:,a%20b") == ("text/plain", b"a b")
    with pytest.raises(BlockError, match="not a data: URI"):
        decode_data_uri("data:no-comma")
    with pytest.raises(BlockError, match="not valid base64"):
        decode_data_uri("data:text/plain;base64,***")
