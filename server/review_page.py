"""The page a review's signed link opens (``/review/{id}?token=…``): the data, and Approve or Reject
with an optional message (and the data to edit, when the review allows it).

``ReviewService.signed_link`` makes the links (the notifier puts them in its messages). The token
(an HMAC of the review id) is the page's only credential: no login, in every auth mode. It works for
that review only, and only while the review waits; the service checks it on every request.

- **GET has no effect**: it shows the review (mail scanners and link previews open links).
- **The decision is a form post** (no script): ``multipart/form-data`` to the same path, the token in
  the body (not the URL), so the front door's rules hold unchanged (``server.guard``: the request
  comes from this server's own origin, and its body is one of the two types it accepts).
- **Headers**: a policy (:data:`REVIEW_CSP`) allowing this server's stylesheets and icon, and form
  posts to this server only; ``no-store``; ``noindex``; ``Referrer-Policy: same-origin`` (see
  :data:`HEADERS`). The access log never has the token (it logs paths; ``workbench.logsafe`` redacts
  ``?token=`` anywhere else).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

import jinja2
from litestar import HttpMethod, MediaType, Request, Response
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from server.deps import workbench_of
from server.pages import HERE, ICON_URL, asset_url, html_page
from workbench import jsonutil
from workbench.errors import ConflictError, InvalidFields, NotFoundError
from workbench.services.reviews import LINK_PATH, MAX_MESSAGE, UNCHANGED
from workbench.store.reviews import UNFINISHED_RUN, ReviewRecord

REVIEW_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
"""The page's policy: this server's stylesheets and icon, no script, forms posted to this server only."""
HEADERS = {
    "content-security-policy": REVIEW_CSP,
    "cache-control": "no-store",
    "x-robots-tag": "noindex",
    "referrer-policy": "same-origin",
}
"""The page's headers. ``same-origin`` instead of the server's ``no-referrer``: under ``no-referrer`` a
browser posts a form with ``Origin: null``, which the front door refuses as opaque; the page links
nowhere else, so its address (with the token) reaches this server only."""
STATE_WORDS = {
    "WAITING": "waiting for you",
    "APPROVED": "approved",
    "REJECTED": "rejected",
    "TIMED_OUT": "timed out",
}
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _json(value: Any) -> str:
    """``value`` as JSON a person reads (indented, non-ASCII as it is)."""
    return json.dumps(jsonutil.normalize(value), indent=2, ensure_ascii=False)


def render_review_page(
    rec: ReviewRecord | None,
    token: str = "",
    *,
    outcome: str = "",
    outcome_kind: str = "notice",
    data_text: str | None = None,
    message: str = "",
) -> str:
    """The page's HTML: ``rec`` and its form while it waits, what became of it otherwise."""
    if rec is None:
        return _TEMPLATES.get_template("review.html").render(
            title="not found",
            review=None,
            outcome=outcome or "This link is not valid: no review has it. Ask for a new link.",
            outcome_kind="error",
            icon_url=ICON_URL,
            css_urls=[asset_url("home.css"), asset_url("review.css")],
        )
    ended = rec.status == "WAITING" and rec.run_status not in UNFINISHED_RUN
    state = f"run {rec.run_status.lower()}" if ended else STATE_WORDS.get(rec.status, rec.status.lower())
    data_json = _json(rec.data)
    shown = rec.reviewed_data if rec.status in ("APPROVED", "TIMED_OUT") else rec.data
    expires = ""
    if rec.status == "WAITING" and rec.expires_at is not None:
        expires = f"default ({rec.default_decision}) at {rec.expires_at:%Y-%m-%d %H:%M} UTC"
    text = data_json if data_text is None else data_text
    return _TEMPLATES.get_template("review.html").render(
        title=rec.name or "data",
        review=rec,
        open=rec.waiting,
        state=state,
        state_class="ENDED" if ended else rec.status,
        expires=expires,
        token=token,
        action=LINK_PATH.format(review_id=rec.id),
        data_json=data_json,
        data_text=text,
        rows=min(20, max(4, text.count("\n") + 2)),
        shown_json=_json(shown),
        message=message,
        max_message=MAX_MESSAGE,
        outcome=outcome,
        outcome_kind=outcome_kind,
        icon_url=ICON_URL,
        css_urls=[asset_url("home.css"), asset_url("review.css")],
    )


def _page(html: str, status: int = 200) -> Response[str]:
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=HEADERS)


PAGE_ROUTE = LINK_PATH.replace("{review_id}", "{review_id:uuid}")


@html_page(PAGE_ROUTE, "review-page", (HttpMethod.GET,))
async def review_page(
    request: Request[Any, Any, Any], review_id: FromPath[UUID], token: str = ""
) -> Response[str]:
    """The review a signed link names (nothing changes)."""
    try:
        rec = await workbench_of(request).reviews.by_link(str(review_id), token)
    except NotFoundError:
        return _page(render_review_page(None), 404)
    return _page(render_review_page(rec, token))


@html_page(PAGE_ROUTE, "review-page-decide", (HttpMethod.POST,))
async def review_page_decide(
    request: Request[Any, Any, Any],
    review_id: FromPath[UUID],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Response[str]:
    """Approve or reject through the link (the form's fields: token, decision, message, data)."""
    reviews = workbench_of(request).reviews
    token = _field(data, "token")
    decision = _field(data, "decision")
    message = _field(data, "message")
    try:
        rec = await reviews.by_link(str(review_id), token)
    except NotFoundError:
        return _page(render_review_page(None), 404)
    edited = UNCHANGED
    data_text = data.get("data")
    if decision == "approve" and rec.editable and isinstance(data_text, str):
        try:
            value = jsonutil.loads(data_text)
        except ValueError as exc:
            problem = f"The data is not valid JSON ({exc}): correct it, or approve it as it was."
            page = render_review_page(
                rec, token, outcome=problem, outcome_kind="error", data_text=data_text, message=message
            )
            return _page(page, 422)
        if jsonutil.normalize(value) != jsonutil.normalize(rec.data):
            edited = value
    try:
        done = await reviews.decide_by_link(rec.id, token, decision, data=edited, message=message or None)
    except ConflictError as exc:
        fresh = await reviews.get(rec.id, None)
        return _page(render_review_page(fresh, token, outcome=str(exc), outcome_kind="error"), 409)
    except InvalidFields as exc:
        words = "; ".join(f"{field}: {problem}" for field, problem in exc.problems)
        page = render_review_page(
            rec, token, outcome=words, outcome_kind="error", data_text=data_text, message=message
        )
        return _page(page, 422)
    verdict = "Approved" if done.status == "APPROVED" else "Rejected"
    outcome = f"{verdict}. Thank you: the agent goes on with your decision."
    return _page(render_review_page(done, token, outcome=outcome, outcome_kind="success"))


def _field(form: dict[str, Any], name: str) -> str:
    """A text field of the form ('' when absent or not text)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value if name == "message" else value.strip()
