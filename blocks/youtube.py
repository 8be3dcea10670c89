"""YouTube transcript block (AutoGPT's ``TranscribeYoutubeVideoBlock``): the text of a video's captions.

AutoGPT calls the ``youtube-transcript-api`` package, which makes its requests with a ``requests``
session of its own: neither our SSRF guard nor a configurable root would reach them. So the protocol
that package speaks is spoken here, through :func:`workbench.net.safe_client`:

1. ``GET {root}/watch?v={id}``: the watch page, for the InnerTube API key (``"INNERTUBE_API_KEY"``);
   a cookie-consent page (EU) is answered with a ``CONSENT`` cookie and the page is read again;
2. ``POST {root}/youtubei/v1/player?key={key}`` with an ANDROID client context: the player response,
   with the video's ``playabilityStatus`` (unavailable, age-restricted, bot check) and caption tracks;
3. ``GET`` the chosen track's ``baseUrl``, rebased onto ``{root}`` (a track URL never takes the request
   elsewhere) and without ``fmt=srv3``: a timedtext document, XML (``<transcript><text start dur>``),
   srv3 (``<timedtext><body><p t d>``) or json3. XML is parsed with defusedxml (no DTDs, no entities);
   a document over :data:`XML_INLINE_MAX` bytes is parsed in the sandbox process pool, off the event loop.

The track, as AutoGPT chooses it: English (``en``, then ``en-*``), a manually created track before a
generated one; else the first manually created track, else the first generated one. The transcript is
the captions' texts, one per line (the package's ``TextFormatter``).

The root is ``WORKBENCH_YOUTUBE_BASE_URL`` (a mirror, a proxy or a lookalike speaking the same protocol;
the operator's setting, so it may be a private address), else https://www.youtube.com. AutoGPT's newer
block takes Webshare proxy credentials: the ``credentials`` pin is accepted so its graphs import
unchanged, and not used.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.errors import BlockError, RetryableError

if TYPE_CHECKING:  # workbench.net brings httpx: imported when the block makes a request
    from workbench.net import HttpResult, SafeClient

YOUTUBE = "https://www.youtube.com"
INNERTUBE_CLIENT = {"clientName": "ANDROID", "clientVersion": "20.10.38"}
"""The client the player API is asked as (the one youtube-transcript-api uses)."""
USER_AGENT = "Mozilla/5.0 (compatible; agent-workbench)"
XML_INLINE_MAX = 100_000
"""Timedtext documents up to this many bytes are parsed in-process; larger ones in the sandbox pool."""

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_API_KEY = re.compile(r'"INNERTUBE_API_KEY":\s*"([a-zA-Z0-9_-]+)"')
_CONSENT = 'action="https://consent.youtube.com/s"'
_CONSENT_VALUE = re.compile(r'name="v" value="([^"\r\n]*)"')
_TAG = re.compile(r"<[^>]*>")
_LONG_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_PATH_FORMS = frozenset({"embed", "v", "e", "shorts", "live"})
"""``/<form>/<id>`` paths that name a video."""

WEBSHARE_TEST_CREDENTIALS_INPUT = {
    "provider": "webshare_proxy",
    "id": "01234567-89ab-cdef-0123-456789abcdef",
    "type": "user_password",
    "title": "Mock Webshare Proxy credentials",
}
"""AutoGPT's test credentials reference for this block (not resolved here)."""


def extract_video_id(url: str) -> str:
    """The 11-character video id ``url`` names; BlockError ("Invalid YouTube URL") otherwise.

    Accepted: ``youtube.com/watch?v=<id>`` (any further parameters, ``m.``/``music.``/no ``www``),
    ``youtu.be/<id>``, ``/embed/<id>``, ``/v/<id>``, ``/shorts/<id>``, ``/live/<id>`` (also on
    youtube-nocookie.com), with or without the scheme, and a bare video id.
    """
    text = url.strip()
    if _VIDEO_ID.fullmatch(text):
        return text
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower() if parts.scheme in ("http", "https") else ""
    segments = [s for s in parts.path.split("/") if s]
    candidate: str | None = None
    if host in _SHORT_HOSTS and segments:
        candidate = segments[0]
    elif host in _LONG_HOSTS and segments == ["watch"]:
        candidate = (parse_qs(parts.query).get("v") or [None])[0]
    elif host in _LONG_HOSTS and len(segments) >= 2 and segments[0] in _PATH_FORMS:
        candidate = segments[1]
    if candidate and _VIDEO_ID.fullmatch(candidate):
        return candidate
    raise BlockError(
        f"Invalid YouTube URL: {url!r} (expected https://www.youtube.com/watch?v=<id>, "
        "https://youtu.be/<id>, or an /embed/, /shorts/ or /live/ link)"
    )


@dataclass(frozen=True, slots=True)
class CaptionTrack:
    """One caption track of a video, as the player response lists it."""

    language_code: str
    name: str
    generated: bool
    """True for automatic (speech recognition, ``kind: asr``) captions."""
    url: str
    """The track's ``baseUrl``."""


def _text_of(value: Any) -> str:
    """The text of a player-response text object (``{"simpleText"}`` or ``{"runs": [{"text"}]}``)."""
    if isinstance(value, dict):
        if "simpleText" in value:
            return str(value["simpleText"])
        return "".join(str(r.get("text", "")) for r in value.get("runs") or [] if isinstance(r, dict))
    return str(value or "")


def caption_tracks(player: dict[str, Any], video_id: str) -> list[CaptionTrack]:
    """The caption tracks of a player response; BlockError when the video cannot be played or has none."""
    _check_playable(player, video_id)
    renderer = (player.get("captions") or {}).get("playerCaptionsTracklistRenderer") or {}
    tracks = [
        CaptionTrack(
            language_code=str(t.get("languageCode") or ""),
            name=_text_of(t.get("name")),
            generated=t.get("kind") == "asr",
            url=str(t["baseUrl"]),
        )
        for t in renderer.get("captionTracks") or []
        if isinstance(t, dict) and t.get("baseUrl")
    ]
    if not tracks:
        raise BlockError(f"video {video_id} has no captions: its transcripts are disabled or none exist")
    return tracks


def _check_playable(player: dict[str, Any], video_id: str) -> None:
    status = player.get("playabilityStatus") or {}
    state = status.get("status")
    if state in (None, "OK"):
        return
    reason = _text_of(status.get("reason")).strip()
    lowered = reason.lower()
    if state == "LOGIN_REQUIRED" and "bot" in lowered:
        raise BlockError(
            f"YouTube blocks requests from this server's address (it asks to sign in to confirm it is "
            f"not a bot) for video {video_id}; set WORKBENCH_YOUTUBE_BASE_URL to a proxy or mirror"
        )
    if state == "LOGIN_REQUIRED" and ("inappropriate" in lowered or "age" in lowered):
        raise BlockError(f"video {video_id} is age-restricted: YouTube shows it only to signed-in users")
    if state == "LOGIN_REQUIRED":
        raise BlockError(
            f"video {video_id} can be watched only when signed in ({reason or 'login required'})"
        )
    if "unavailable" in lowered:
        raise BlockError(f"video {video_id} is unavailable ({reason})")
    screen = (status.get("errorScreen") or {}).get("playerErrorMessageRenderer") or {}
    detail = _text_of(screen.get("subreason")).strip()
    more = f"; {detail}" if detail else ""
    raise BlockError(f"video {video_id} cannot be played ({state}: {reason or 'no reason given'}{more})")


def choose_track(tracks: list[CaptionTrack]) -> CaptionTrack:
    """The track to transcribe: English before any other language, manual before generated."""
    manual = [t for t in tracks if not t.generated]
    generated = [t for t in tracks if t.generated]
    for english in (lambda code: code == "en", lambda code: code.startswith("en-")):
        for group in (manual, generated):
            for track in group:
                if english(track.language_code):
                    return track
    return (manual or generated)[0]


def _clean(text: str) -> str:
    return _TAG.sub("", html.unescape(text))


def _seconds(value: Any, scale: float = 1.0) -> float:
    try:
        return float(value) / scale
    except (TypeError, ValueError):
        return 0.0


def parse_timedtext(body: bytes) -> list[dict[str, Any]]:
    """The captions ``{text, start, duration}`` of a timedtext document (XML, srv3 or json3).

    BlockError when the body is none of them, or uses DTDs or entities (refused). Runs in a sandbox
    worker for large documents (see :func:`parse_timedtext_bounded`).
    """
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        return _parse_json3(stripped)
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BlockError(f"YouTube's captions use a forbidden XML feature: {exc}") from None
    except ParseError as exc:
        raise BlockError(f"YouTube's captions are not well-formed XML: {exc}") from None
    snippets: list[dict[str, Any]] = []
    if root.tag == "transcript":
        for element in root:
            if element.tag == "text" and element.text is not None:
                start, duration = _seconds(element.get("start")), _seconds(element.get("dur", "0"))
                snippets.append({"text": _clean(element.text), "start": start, "duration": duration})
    elif root.tag == "timedtext":
        for element in root.iter("p"):
            text = "".join(element.itertext())
            if text.strip():
                start, duration = _seconds(element.get("t"), 1000), _seconds(element.get("d"), 1000)
                snippets.append({"text": _clean(text), "start": start, "duration": duration})
    else:
        raise BlockError(f"YouTube's captions are an unknown document (<{root.tag}>)")
    return snippets


def _parse_json3(body: bytes) -> list[dict[str, Any]]:
    import json

    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BlockError(f"YouTube's captions are not valid JSON: {exc}") from None
    snippets: list[dict[str, Any]] = []
    events = data.get("events") if isinstance(data, dict) else None
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, dict):
            continue
        text = "".join(str(s.get("utf8", "")) for s in event.get("segs") or [] if isinstance(s, dict))
        if text.strip():
            start = _seconds(event.get("tStartMs"), 1000)
            snippets.append(
                {"text": _clean(text), "start": start, "duration": _seconds(event.get("dDurationMs"), 1000)}
            )
    return snippets


async def parse_timedtext_bounded(body: bytes) -> list[dict[str, Any]]:
    """:func:`parse_timedtext`, in the sandbox process pool for documents over :data:`XML_INLINE_MAX`."""
    if len(body) <= XML_INLINE_MAX:
        return parse_timedtext(body)
    from workbench import sandbox

    return await sandbox.run(parse_timedtext, body, what="parsing the captions")


def format_transcript(snippets: list[dict[str, Any]]) -> str:
    """The transcript as text: each caption's text on its own line (AutoGPT's ``TextFormatter``)."""
    return "\n".join(str(s.get("text", "")) for s in snippets)


class YouTubeSite:
    """The requests of one transcript fetch, with errors that say what was being done."""

    def __init__(self, http: SafeClient, root: str, video_id: str) -> None:
        self.http = http
        self.root = root.rstrip("/")
        self.video_id = video_id

    async def send(self, method: str, url: str, what: str, **options: Any) -> HttpResult:
        """One request; a failure or a non-2xx answer raises our error about ``what``."""
        from workbench.net import BlockedAddress, RequestTimeout, ResponseTooLarge, TooManyRedirects

        try:
            result = await self.http.request(method, url, **options)
        except (BlockedAddress, ResponseTooLarge, TooManyRedirects):
            raise
        except BlockError as exc:
            kind = "timed out" if isinstance(exc, RequestTimeout) else "could not be reached"
            raise RetryableError(f"YouTube {kind} while {what}: {exc}") from exc
        status = result.status_code
        if status < 300:
            return result
        if status == 429:
            raise RetryableError(
                f"YouTube rate limit reached while {what} (429); try later, or set "
                "WORKBENCH_YOUTUBE_BASE_URL to a proxy or mirror"
            )
        if status >= 500:
            raise RetryableError(f"YouTube failed while {what} ({status})")
        if status in (401, 403):
            raise BlockError(
                f"YouTube refused {what} ({status}): it may block requests from this server's address"
            )
        raise BlockError(f"YouTube answered {status} while {what}: {result.text.strip()[:200]}")

    async def watch_page(self) -> str:
        """The video's watch page, past the cookie-consent page when YouTube shows one."""
        what = f"reading the page of video {self.video_id}"
        url, params = f"{self.root}/watch", {"v": self.video_id}
        page = (await self.send("GET", url, what, params=params)).text
        if _CONSENT not in page:
            return page
        match = _CONSENT_VALUE.search(page)
        if match is None:
            raise BlockError(
                f"YouTube asked for cookie consent while {what}, in a form that could not be read"
            )
        cookie = {"Cookie": f"CONSENT=YES+{match[1]}"}
        page = (await self.send("GET", url, what, params=params, headers=cookie)).text
        if _CONSENT in page:
            raise BlockError(f"YouTube kept asking for cookie consent while {what}")
        return page

    def api_key(self, page: str) -> str:
        """The InnerTube API key of a watch page."""
        match = _API_KEY.search(page)
        if match is not None:
            return match[1]
        if 'class="g-recaptcha"' in page:
            raise BlockError(
                "YouTube answers this server's requests with a captcha (its address is blocked); "
                "set WORKBENCH_YOUTUBE_BASE_URL to a proxy or mirror"
            )
        raise BlockError(
            f"the page of video {self.video_id} carries no InnerTube API key: "
            "the page is not YouTube's or its format changed"
        )

    async def player(self, api_key: str) -> dict[str, Any]:
        """The player response of the video."""
        result = await self.send(
            "POST",
            f"{self.root}/youtubei/v1/player",
            f"asking the player API about video {self.video_id}",
            params={"key": api_key},
            json={"context": {"client": INNERTUBE_CLIENT}, "videoId": self.video_id},
        )
        found = result.json()
        if not isinstance(found, dict):
            raise BlockError(
                f"YouTube's player API answered video {self.video_id} with {type(found).__name__}"
            )
        return found

    async def timedtext(self, track: CaptionTrack) -> bytes:
        """The timedtext document of ``track``, requested from the root whatever host its URL names."""
        url = track.url.replace("&fmt=srv3", "")
        if "&exp=xpe" in url:
            raise BlockError(
                f"YouTube requires a proof-of-origin token for the captions of video {self.video_id}; "
                "they cannot be fetched without a browser"
            )
        parts = urlsplit(url)
        path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
        target = f"{self.root}{path}" + (f"?{parts.query}" if parts.query else "")
        what = f"reading the {track.language_code or 'unnamed'} captions of video {self.video_id}"
        body = (await self.send("GET", target, what)).content
        if not body.strip():
            raise BlockError(f"YouTube sent empty captions while {what}")
        return body


@asynccontextmanager
async def youtube_site(context: RunContext, video_id: str) -> AsyncIterator[YouTubeSite]:
    """A :class:`YouTubeSite` on the configured root; the operator's root passes the SSRF guard."""
    from workbench.net import HttpPolicy, safe_client

    root = context.settings.youtube_base_url or YOUTUBE
    policy = HttpPolicy.from_settings(context.settings)
    if context.settings.youtube_base_url:
        host = (urlsplit(root).hostname or "").lower()
        policy = replace(policy, allow_hosts=policy.allow_hosts | {host})
    headers = {"Accept-Language": "en-US", "User-Agent": USER_AGENT}
    async with safe_client(policy, headers=headers) as http:
        yield YouTubeSite(http, root, video_id)


async def fetch_transcript(context: RunContext, video_id: str) -> list[dict[str, Any]]:
    """The captions ``{text, start, duration}`` of the chosen track of video ``video_id``."""
    async with youtube_site(context, video_id) as site:
        page = await site.watch_page()
        player = await site.player(site.api_key(page))
        track = choose_track(caption_tracks(player, video_id))
        body = await site.timedtext(track)
    return await parse_timedtext_bounded(body)


class TranscribeYoutubeVideoBlock(Block):
    """Transcribes a YouTube video from its captions."""

    id = "f3a8f7e1-4b1d-4e5f-9f2a-7c3d5a2e6b4c"
    name = "TranscribeYoutubeVideoBlock"
    description = (
        "Transcribes a YouTube video: the text of its captions (English preferred, manual before "
        "automatic), one caption per line."
    )
    categories = (BlockCategory.SOCIAL,)
    max_retries = 2

    class Input(BlockSchema):
        youtube_url: str = Field(
            title="YouTube URL",
            description="The URL of the YouTube video to transcribe "
            "(e.g. https://www.youtube.com/watch?v=dQw4w9WgXcQ, a youtu.be, embed or shorts link).",
        )
        credentials: Any = Field(
            default=None,
            description="AutoGPT's Webshare proxy credentials: accepted so its agents import unchanged, "
            "not used (the operator sets WORKBENCH_YOUTUBE_BASE_URL to go through a proxy or mirror).",
        )

    class Output(BlockSchema):
        video_id: str = Field(description="The extracted YouTube video ID.")
        transcript: str = Field(description="The transcribed text of the video, one caption per line.")

    test_input = {
        "youtube_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "credentials": WEBSHARE_TEST_CREDENTIALS_INPUT,
    }
    test_output = [
        ("video_id", "dQw4w9WgXcQ"),
        ("transcript", "Never gonna give you up\nNever gonna let you down"),
    ]
    test_mock = {
        "get_transcript": lambda context, video_id: [
            {"text": "Never gonna give you up"},
            {"text": "Never gonna let you down"},
        ]
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        video_id = extract_video_id(input_data.youtube_url)
        # Fetched before anything is yielded, so that a rate limit is retried (retries stop at an output).
        snippets = await self.get_transcript(get_context(kwargs), video_id)
        yield "video_id", video_id
        yield "transcript", format_transcript(snippets)

    async def get_transcript(self, context: RunContext, video_id: str) -> list[dict[str, Any]]:
        """The captions of the video (replaced by the self-test's mock)."""
        return await fetch_transcript(context, video_id)
