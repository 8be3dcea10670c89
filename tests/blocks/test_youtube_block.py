"""The YouTube transcript block's real client code against a local YouTube lookalike (watch page,
InnerTube player API, timedtext tracks), and through a graph on the durable executor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from blocks import youtube
from blocks.io import AgentOutputBlock
from blocks.youtube import TranscribeYoutubeVideoBlock, extract_video_id, parse_timedtext
from tests.engine.graphs import graph, link, node
from tests.support.youtube_server import Track, YouTubeServer
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.block.selftest import run_block_once
from workbench.config import Settings
from workbench.errors import BlockError, RetryableError

RICK = "dQw4w9WgXcQ"
LINES = [
    (0.0, 2.5, "Never gonna give you up"),
    (2.5, 2.1, "Never gonna let you down"),
    (4.6, 3.0, "We're no strangers to <i>love</i> & rules"),
]
TEXT = "Never gonna give you up\nNever gonna let you down\nWe're no strangers to love & rules"


@pytest.fixture(scope="module")
def yt() -> Iterator[YouTubeServer]:
    server = YouTubeServer().start()
    server.add_video(RICK, "Rick Astley - Never Gonna Give You Up", Track("en", LINES, name="English"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(yt: YouTubeServer) -> Iterator[None]:
    yt.requests.clear()
    yield
    yt.consent = yt.blocked = False
    yt.caption_format = None


def context(settings: Settings, yt: YouTubeServer) -> RunContext:
    # The root is the operator's setting: trusted by the SSRF guard without WORKBENCH_HTTP_ALLOW.
    return RunContext.for_test(settings.with_(youtube_base_url=yt.url, http_allow=()))


async def transcribe(settings: Settings, yt: YouTubeServer, url: str) -> dict[str, Any]:
    return dict(
        await run_block_once(TranscribeYoutubeVideoBlock(), {"youtube_url": url}, context(settings, yt))
    )


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={RICK}",
        f"https://www.youtube.com/watch?v={RICK}&t=42s&list=PL123&index=2",
        f"https://www.youtube.com/watch?feature=share&v={RICK}",
        f"http://youtube.com/watch?v={RICK}#t=10",
        f"youtube.com/watch?v={RICK}",
        f"https://m.youtube.com/watch?v={RICK}",
        f"https://music.youtube.com/watch?v={RICK}&si=abc",
        f"https://youtu.be/{RICK}",
        f"https://youtu.be/{RICK}?si=Xy12&t=3",
        f"https://www.youtube.com/embed/{RICK}?start=30&autoplay=1",
        f"https://www.youtube-nocookie.com/embed/{RICK}",
        f"https://www.youtube.com/v/{RICK}?version=3",
        f"https://www.youtube.com/shorts/{RICK}?feature=share",
        f"https://youtube.com/shorts/{RICK}",
        f"https://www.youtube.com/live/{RICK}?si=q",
        f"  {RICK}  ",
    ],
)
def test_every_url_form_names_the_video(url: str) -> None:
    assert extract_video_id(url) == RICK


@pytest.mark.parametrize(
    "url",
    [
        "https://vimeo.com/76979871",
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/watch?list=PL123",
        "https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
        f"https://youtube.com.evil.example/watch?v={RICK}",
        f"https://evil.example/embed/{RICK}",
        f"ftp://youtu.be/{RICK}",
        "not a url",
        "",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockError, match="Invalid YouTube URL"):
        extract_video_id(url)


async def test_transcript_over_the_real_protocol(settings: Settings, yt: YouTubeServer) -> None:
    out = await transcribe(settings, yt, f"https://youtu.be/{RICK}?si=share")
    assert out == {"video_id": RICK, "transcript": TEXT}
    watch, player, track = yt.requests
    assert (watch.method, watch.path, watch.query) == ("GET", "/watch", {"v": RICK})
    assert watch.headers["accept-language"] == "en-US"
    assert (player.method, player.path, player.query) == ("POST", "/youtubei/v1/player", {"key": yt.api_key})
    assert b'"clientName":"ANDROID"' in player.body.replace(b" ", b"")
    assert f'"videoId":"{RICK}"'.encode() in player.body.replace(b" ", b"")
    # the track URL names www.youtube.com: it was rebased onto the root, its signature kept, srv3 dropped
    assert (track.path, track.query["v"], track.query["lang"]) == ("/api/timedtext", RICK, "en")
    assert "fmt" not in track.query and track.query["signature"]


@pytest.mark.parametrize("fmt", ["srv3", "json3"])
async def test_srv3_and_json3_tracks_read_the_same(settings: Settings, yt: YouTubeServer, fmt: str) -> None:
    yt.caption_format = fmt
    assert (await transcribe(settings, yt, RICK))["transcript"] == TEXT


@pytest.mark.parametrize(
    ("tracks", "chosen"),
    [
        (
            [Track("de", [(0, 1, "Deutsch")]), Track("en", [(0, 1, "english auto")], generated=True)],
            "english auto",
        ),
        (
            [Track("en", [(0, 1, "english auto")], generated=True), Track("en", [(0, 1, "english")])],
            "english",
        ),
        ([Track("fr", [(0, 1, "auto fr")], generated=True), Track("de", [(0, 1, "Deutsch")])], "Deutsch"),
        (
            [
                Track("fr", [(0, 1, "auto fr")], generated=True),
                Track("es", [(0, 1, "auto es")], generated=True),
            ],
            "auto fr",
        ),
        ([Track("de", [(0, 1, "Deutsch")]), Track("en-GB", [(0, 1, "british")])], "british"),
    ],
)
async def test_english_then_manual_then_first_track(
    settings: Settings, yt: YouTubeServer, tracks: list[Track], chosen: str
) -> None:
    yt.add_video("choiceVid01", "choice", *tracks)
    assert (await transcribe(settings, yt, "https://www.youtube.com/watch?v=choiceVid01"))[
        "transcript"
    ] == chosen


async def test_the_cookie_consent_page_is_answered(settings: Settings, yt: YouTubeServer) -> None:
    yt.consent = True
    assert (await transcribe(settings, yt, RICK))["transcript"] == TEXT
    first, second = yt.requests[:2]
    assert "cookie" not in first.headers
    assert second.headers["cookie"].startswith("CONSENT=YES+cb.")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"video_id": "missingVid0"}, "video missingVid0 is unavailable"),
        ({"video_id": "noCaptions0", "title": "silent"}, "has no captions"),
        (
            {
                "video_id": "botCheck000",
                "status": "LOGIN_REQUIRED",
                "reason": "Sign in to confirm you\u2019re not a bot",
            },
            "blocks requests from this server's address",
        ),
        (
            {
                "video_id": "ageLimited0",
                "status": "LOGIN_REQUIRED",
                "reason": "This video may be inappropriate for some users.",
            },
            "is age-restricted",
        ),
        (
            {
                "video_id": "regionLock0",
                "status": "UNPLAYABLE",
                "reason": "Video not available in your country",
            },
            "cannot be played \\(UNPLAYABLE: .*The uploader has not made",
        ),
        (
            {"video_id": "poTokenVid0", "po_token": True, "tracks": [Track("en", LINES)]},
            "proof-of-origin token",
        ),
    ],
)
async def test_videos_without_a_transcript_fail_clearly(
    settings: Settings, yt: YouTubeServer, setup: dict[str, Any], message: str
) -> None:
    video_id = setup.pop("video_id")
    if video_id != "missingVid0":
        tracks = setup.pop("tracks", [])
        yt.add_video(video_id, setup.pop("title", "a video"), *tracks, **setup)
    with pytest.raises(BlockError, match=message) as caught:
        await transcribe(settings, yt, f"https://www.youtube.com/watch?v={video_id}")
    assert not isinstance(caught.value, RetryableError)


async def test_a_bad_url_makes_no_request(settings: Settings, yt: YouTubeServer) -> None:
    with pytest.raises(BlockError, match="Invalid YouTube URL"):
        await transcribe(settings, yt, "https://vimeo.com/76979871")
    assert yt.requests == []


async def test_a_captcha_page_says_the_address_is_blocked(settings: Settings, yt: YouTubeServer) -> None:
    yt.blocked = True
    with pytest.raises(BlockError, match="captcha"):
        await transcribe(settings, yt, RICK)


@pytest.mark.parametrize(("path", "status"), [("/watch", 429), ("/youtubei", 503), ("/api/timedtext", 500)])
async def test_rate_limits_and_failures_are_retryable(
    settings: Settings, yt: YouTubeServer, path: str, status: int
) -> None:
    yt.fail(path, status)
    with pytest.raises(RetryableError, match=f"\\({status}"):
        await transcribe(settings, yt, RICK)
    assert (await transcribe(settings, yt, RICK))["transcript"] == TEXT


async def test_a_long_transcript_is_parsed_in_the_sandbox(
    settings: Settings, yt: YouTubeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench import sandbox

    lines = [(i * 2.0, 2.0, f"line {i} of a long lecture about caption parsing") for i in range(3000)]
    yt.add_video("longLecture", "lecture", Track("en", lines))
    jobs: list[str] = []
    real_run = sandbox.run

    async def spy(fn: Any, *args: Any, **kwargs: Any) -> Any:
        jobs.append(fn.__name__)
        return await real_run(fn, *args, **kwargs)

    monkeypatch.setattr(sandbox, "run", spy)
    transcript = (await transcribe(settings, yt, "https://youtu.be/longLecture"))["transcript"]
    assert jobs == ["parse_timedtext"]
    assert transcript.splitlines()[2999] == "line 2999 of a long lecture about caption parsing"
    assert len(transcript.splitlines()) == 3000


def test_entities_and_doctypes_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<transcript><text start="0" dur="1">&b;</text></transcript>'
    )
    with pytest.raises(BlockError, match="forbidden XML feature"):
        parse_timedtext(bomb)
    with pytest.raises(BlockError, match="not well-formed"):
        parse_timedtext(b"<transcript><text>")
    assert (
        youtube.format_transcript(
            parse_timedtext(b"<transcript><text start='1'>a&amp;amp;b</text></transcript>")
        )
        == "a&b"
    )


@pytest.fixture
def wb_youtube(wb: Workbench, yt: YouTubeServer) -> Iterator[Workbench]:
    before = wb.executions.settings
    wb.executions.settings = before.with_(youtube_base_url=yt.url)
    yield wb
    wb.executions.settings = before


async def test_a_graph_run_retries_a_rate_limit_and_completes(
    wb_youtube: Workbench, yt: YouTubeServer
) -> None:
    yt.fail("/watch", 429)
    g = graph(
        [
            node("yt", TranscribeYoutubeVideoBlock, youtube_url=f"https://www.youtube.com/shorts/{RICK}"),
            node("out", AgentOutputBlock, name="transcript"),
            node("vid", AgentOutputBlock, name="video_id"),
        ],
        [link("yt.transcript", "out.value"), link("yt.video_id", "vid.value")],
    )
    result = await wb_youtube.executions.run(g, {}, timeout=30)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"transcript": [TEXT], "video_id": [RICK]}
    assert yt.paths().count("/watch") == 2  # the 429, then the retry
