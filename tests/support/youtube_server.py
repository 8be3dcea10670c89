"""A local YouTube lookalike for the transcript block: the watch page, the InnerTube player API and
timedtext caption tracks, as youtube-transcript-api reads them; real HTTP on 127.0.0.1 (Litestar).

* ``GET /watch?v=<id>``: an HTML page with ``ytcfg.set({... "INNERTUBE_API_KEY": ...})``; with
  :attr:`YouTubeServer.consent` on, a cookie-consent page until the request carries the ``CONSENT``
  cookie the page asks for; with :attr:`YouTubeServer.blocked` on, a captcha page without the key.
* ``POST /youtubei/v1/player?key=<key>``: the player response of ``{"context": {"client": ...},
  "videoId"}``: ``playabilityStatus`` (OK, ERROR "This video is unavailable" for an unknown id,
  LOGIN_REQUIRED, UNPLAYABLE), ``videoDetails`` and ``captions.playerCaptionsTracklistRenderer``
  with one track per caption language. A wrong key is 400 as Google APIs answer it.
* ``GET /api/timedtext?v&lang&kind&signature...``: the track; the signature of the track URL must be
  intact (403 otherwise). ``fmt=srv3`` answers srv3, ``fmt=json3`` json3, none the classic
  ``<transcript><text start dur>`` XML; texts are HTML-escaped inside the XML, as YouTube sends them.

Track URLs name https://www.youtube.com, as the real ones do: a client must rebase them onto its root.
:meth:`YouTubeServer.fail` queues error answers (429, 500...); :attr:`YouTubeServer.requests` records
every request.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from litestar import Litestar, Request, Response, get, post

from tests.support.lookalike import ServedApp

REAL_ROOT = "https://www.youtube.com"


@dataclass
class Track:
    """One caption track: its language, name and lines ``(start s, duration s, text)``."""

    language_code: str
    lines: list[tuple[float, float, str]]
    generated: bool = False
    name: str = ""


@dataclass
class Video:
    """A video and what the player API says about it."""

    video_id: str
    title: str
    tracks: list[Track] = field(default_factory=list)
    status: str = "OK"
    reason: str = ""
    po_token: bool = False
    """Track URLs carry ``&exp=xpe`` (YouTube wants a proof-of-origin token)."""


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class YouTubeServer(ServedApp):
    """The lookalike; ``start()`` it and point ``WORKBENCH_YOUTUBE_BASE_URL`` at :attr:`url`."""

    def __init__(self) -> None:
        self.api_key = "AIzaSy" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")[:33]
        self.videos: dict[str, Video] = {}
        self.consent = False
        self.blocked = False
        self.caption_format: str | None = None
        """Force the timedtext format ("xml", "srv3", "json3") whatever ``fmt`` asks for."""
        self.requests: list[Recorded] = []
        self._failures: deque[tuple[str, int]] = deque()
        self._consent_value = "cb.20210328-17-p0.de+FX+" + secrets.token_hex(2)
        self._secret = secrets.token_bytes(16)

    # ---- setup ---------------------------------------------------------------------------------

    def add_video(self, video_id: str, title: str = "A video", *tracks: Track, **options: Any) -> Video:
        """Publish a video with caption ``tracks`` (``status``, ``reason``, ``po_token`` as options)."""
        video = Video(video_id, title, list(tracks), **options)
        self.videos[video_id] = video
        return video

    def fail(self, path: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path starts with ``path`` with ``status``."""
        self._failures.extend([(path, status)] * times)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    # ---- documents -----------------------------------------------------------------------------

    def _signature(self, video_id: str, lang: str, kind: str) -> str:
        return hashlib.sha256(self._secret + f"{video_id}/{lang}/{kind}".encode()).hexdigest()[:40].upper()

    def _track_url(self, video: Video, track: Track) -> str:
        kind = "asr" if track.generated else ""
        query = {
            "v": video.video_id,
            "ei": "x" + secrets.token_hex(6),
            "caps": "asr",
            "opi": "112496729",
            "xoaf": "5",
            "hl": "en",
            "ip": "0.0.0.0",
            "ipbits": "0",
            "expire": "1999999999",
            "sparams": "ip,ipbits,expire,v,ei,caps,opi,xoaf",
            "signature": self._signature(video.video_id, track.language_code, kind),
            "key": "yt8",
        }
        if kind:
            query["kind"] = kind
        query["lang"] = track.language_code
        url = f"{REAL_ROOT}/api/timedtext?{urlencode(query)}"
        if video.po_token:
            url += "&exp=xpe"
        return url + "&fmt=srv3"

    def _player(self, video_id: str) -> dict[str, Any]:
        context = {"responseContext": {"visitorData": "Cgt" + secrets.token_urlsafe(8)}}
        video = self.videos.get(video_id)
        if video is None:
            return {
                **context,
                "playabilityStatus": {
                    "status": "ERROR",
                    "reason": "This video is unavailable",
                    "errorScreen": {
                        "playerErrorMessageRenderer": {"reason": {"simpleText": "This video is unavailable"}}
                    },
                },
            }
        if video.status != "OK":
            status: dict[str, Any] = {"status": video.status, "reason": video.reason}
            if video.status == "UNPLAYABLE":
                status["errorScreen"] = {
                    "playerErrorMessageRenderer": {
                        "subreason": {"runs": [{"text": "The uploader has not made this video available"}]}
                    }
                }
            return {**context, "playabilityStatus": status}
        answer: dict[str, Any] = {
            **context,
            "playabilityStatus": {"status": "OK", "playableInEmbed": True},
            "videoDetails": {"videoId": video.video_id, "title": video.title, "lengthSeconds": "212"},
        }
        if video.tracks:
            answer["captions"] = {
                "playerCaptionsTracklistRenderer": {
                    "captionTracks": [
                        {
                            "baseUrl": self._track_url(video, t),
                            "name": {"runs": [{"text": t.name or t.language_code}]},
                            "vssId": ("a." if t.generated else ".") + t.language_code,
                            "languageCode": t.language_code,
                            **({"kind": "asr"} if t.generated else {}),
                            "isTranslatable": True,
                            "trackName": "",
                        }
                        for t in video.tracks
                    ],
                    "audioTracks": [{"captionTrackIndices": list(range(len(video.tracks)))}],
                    "translationLanguages": [
                        {"languageCode": "de", "languageName": {"runs": [{"text": "German"}]}},
                        {"languageCode": "fr", "languageName": {"runs": [{"text": "French"}]}},
                    ],
                    "defaultAudioTrackIndex": 0,
                }
            }
        return answer

    def _watch_page(self, video_id: str) -> str:
        video = self.videos.get(video_id)
        title = html.escape(video.title if video else "YouTube")
        config = {
            "CLIENT_CANARY_STATE": "none",
            "DEVICE": "cbr=Chrome&cbrver=120.0",
            "INNERTUBE_API_KEY": self.api_key,
            "INNERTUBE_API_VERSION": "v1",
            "INNERTUBE_CLIENT_NAME": "WEB",
            "INNERTUBE_CLIENT_VERSION": "2.20250101.00.00",
        }
        player = json.dumps({"playabilityStatus": {"status": "OK"}, "videoDetails": {"videoId": video_id}})
        return (
            '<!DOCTYPE html><html style="font-size: 10px" lang="en"><head>'
            f"<title>{title} - YouTube</title>"
            f'<script nonce="n1">ytcfg.set({json.dumps(config, separators=(",", ":"))});</script>'
            '</head><body><div id="player"></div>'
            f'<script nonce="n2">var ytInitialPlayerResponse = {player};</script></body></html>'
        )

    def _consent_page(self, video_id: str) -> str:
        return (
            "<!DOCTYPE html><html><body>"
            '<form action="https://consent.youtube.com/s" method="POST">'
            '<input type="hidden" name="gl" value="DE"><input type="hidden" name="pc" value="yt">'
            f'<input type="hidden" name="continue" value="{REAL_ROOT}/watch?v={video_id}">'
            f'<input type="hidden" name="v" value="{self._consent_value}">'
            '<button aria-label="Accept all">Accept all</button></form></body></html>'
        )

    def _timedtext(self, track: Track, fmt: str) -> tuple[bytes, str]:
        if fmt == "json3":
            events = [
                {"tStartMs": int(s * 1000), "dDurationMs": int(d * 1000), "segs": [{"utf8": text}]}
                for s, d, text in track.lines
            ]
            events.insert(0, {"tStartMs": 0, "dDurationMs": 1, "id": 1, "wpWinPosId": 1})
            return json.dumps({"wireMagic": "pb3", "events": events}).encode(), "application/json"
        if fmt == "srv3":
            paragraphs = "".join(
                f'<p t="{int(s * 1000)}" d="{int(d * 1000)}"><s>{escape(html.escape(text))}</s></p>\n'
                f'<p t="{int((s + d) * 1000)}" d="1" a="1">\n</p>'
                for s, d, text in track.lines
            )
            doc = f'<?xml version="1.0" encoding="utf-8" ?><timedtext format="3"><body>{paragraphs}</body></timedtext>'
            return doc.encode(), "text/xml; charset=UTF-8"
        texts = "".join(
            f"<text start={quoteattr(f'{s:g}')} dur={quoteattr(f'{d:g}')}>{escape(html.escape(text))}</text>"
            for s, d, text in track.lines
        )
        doc = f'<?xml version="1.0" encoding="utf-8" ?><transcript>{texts}</transcript>'
        return doc.encode(), "text/xml; charset=UTF-8"

    # ---- the app ------------------------------------------------------------------------------

    def _failure(self, path: str) -> Response | None:
        for i, (prefix, status) in enumerate(self._failures):
            if path.startswith(prefix):
                del self._failures[i]
                headers = {"Retry-After": "1"} if status == 429 else {}
                text = "Too Many Requests" if status == 429 else "Internal Server Error"
                body = f"<html><title>Error {status} ({text})!!1</title><body>{text}</body></html>"
                return Response(body, status_code=status, media_type="text/html", headers=headers)
        return None

    def app(self) -> Litestar:
        """The Litestar application."""
        server = self

        async def record(request: Request) -> Response | None:
            body = await request.body()
            server.requests.append(
                Recorded(
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                )
            )
            return server._failure(request.url.path)

        @get("/watch", media_type="text/html")
        async def watch(request: Request) -> Response:
            if (failed := await record(request)) is not None:
                return failed
            video_id = request.query_params.get("v", "")
            if server.blocked:
                page = (
                    '<html><body><form><div class="g-recaptcha" data-sitekey="x"></div></form></body></html>'
                )
                return Response(page, media_type="text/html")
            cookie = request.headers.get("cookie", "")
            if server.consent and f"CONSENT=YES+{server._consent_value}" not in cookie:
                return Response(server._consent_page(video_id), media_type="text/html")
            return Response(server._watch_page(video_id), media_type="text/html; charset=utf-8")

        @post("/youtubei/v1/player", status_code=200)
        async def player(request: Request) -> Response:
            if (failed := await record(request)) is not None:
                return failed
            if request.query_params.get("key") != server.api_key:
                error = {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "errors": [{"message": "API key not valid.", "domain": "global", "reason": "badRequest"}],
                    "status": "INVALID_ARGUMENT",
                }
                return Response({"error": error}, status_code=400)
            try:
                body = json.loads(await request.body())
                client = body["context"]["client"]
                assert client["clientName"] and client["clientVersion"]
                video_id = str(body["videoId"])
            except (ValueError, KeyError, TypeError, AssertionError):
                error = {
                    "code": 400,
                    "message": "Precondition check failed.",
                    "status": "FAILED_PRECONDITION",
                }
                return Response({"error": error}, status_code=400)
            return Response(server._player(video_id))

        @get("/api/timedtext")
        async def timedtext(request: Request) -> Response:
            if (failed := await record(request)) is not None:
                return failed
            query = request.query_params
            video = server.videos.get(query.get("v", ""))
            lang, kind = query.get("lang", ""), query.get("kind", "")
            if video is None or query.get("signature") != server._signature(video.video_id, lang, kind):
                return Response("", status_code=403, media_type="text/html")
            track = next(
                (t for t in video.tracks if t.language_code == lang and t.generated == (kind == "asr")), None
            )
            if track is None:
                return Response("", status_code=404, media_type="text/html")
            body, media_type = server._timedtext(track, server.caption_format or query.get("fmt", "xml"))
            return Response(body, media_type=media_type)

        return Litestar([watch, player, timedtext])
