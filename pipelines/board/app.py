"""The board's routes: server-rendered pages, one server-sent event stream, two writes.

Pages are Jinja2 templates with autoescape on, so every feed-supplied string is
escaped where it is written; links are only made of http(s) URLs
(``queries.safe_href``). Live follows new articles over server-sent events whose
payloads are rows rendered by the same templates. The two writes (feedback,
saving a search as a rule) are JSON POSTs that need the page's CSRF token. When
Elasticsearch fails, a page says so in words and with the cluster's address; no
stack trace reaches the browser.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from classifiers.labels import LABELS
from pipelines.board import actions, queries, security
from pipelines.board.health import gather
from pipelines.board.reads import BoardReads, promoted_model
from pipelines.errors import NewswatchError
from pipelines.schema import utc_now
from pipelines.settings import Settings

log = logging.getLogger(__name__)

PAGE_TIMEOUT_S = 10.0
LIVE_POLL_S = 0.5
COUNTS_EVERY_S = 10.0
RETRAIN_COMMAND = "newswatch train --with-feedback --promote"
NAV = (("live", "Live"), ("search", "Search"), ("triage", "Triage"), ("trends", "Trends"),
       ("alerts", "Alerts"), ("health", "Health"))


def templates() -> Jinja2Templates:
    """Autoescape everywhere (not only .html): no template may emit a feed's text raw."""
    env = Environment(loader=PackageLoader("pipelines.board", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["urlencode_params"] = lambda params: urlencode(params, doseq=True)
    env.filters["combine"] = lambda params, extra: {**params, **extra}
    return Jinja2Templates(env=env)


def store_message(settings: Settings, exc: Exception) -> str:
    """What a page says when Elasticsearch fails: where, and the kind of failure."""
    where = settings.elasticsearch.shown_url
    if isinstance(exc, ApiError):
        return (f"Elasticsearch at {where} answered {exc.meta.status} "
                f"({exc.message}): the page cannot be shown now. It comes back by itself "
                f"when the cluster does; `newswatch stack status` says whether it is up.")
    return (f"Elasticsearch at {where} does not answer ({type(exc).__name__}): the page "
            f"cannot be shown now. Start it with `newswatch stack up` (or check the "
            f"deployment); this page works again as soon as it answers.")


class Board:
    """The application and the little state it keeps: the settings, one Elasticsearch
    client, the CSRF secret of this process and the templates."""

    def __init__(self, settings: Settings, client: Elasticsearch | None = None,
                 live_poll_s: float = LIVE_POLL_S) -> None:
        self.settings = settings
        self.client = client or settings.elasticsearch.client(max_retries=1).options(
            request_timeout=PAGE_TIMEOUT_S)
        self.reads = BoardReads(settings, self.client)
        self.secret = security.new_secret()
        self.templates = templates()
        self.live_poll_s = live_poll_s
        # Set when the server begins to stop: open event streams end at once instead of
        # being cancelled at the end of uvicorn's graceful-shutdown wait.
        self.closing = threading.Event()

    # --- plumbing ------------------------------------------------------------------

    def render(self, request: Request, name: str, status_code: int = 200,
               **context: Any) -> Response:
        session = request.state.session
        base = {"nav": NAV, "labels": LABELS, "error": None, "notice": None,
                "csrf": security.csrf_token(self.secret, session),
                "es_url": self.settings.elasticsearch.shown_url}
        return self.templates.TemplateResponse(request, name, {**base, **context},
                                               status_code=status_code)

    def store_failed(self, request: Request, exc: Exception) -> Response:
        log.warning("board: %s %s: Elasticsearch failed: %s", request.method,
                    request.url.path, exc)
        message = store_message(self.settings, exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"ok": False, "error": message}, status_code=503)
        return self.render(request, "error.html", status_code=503, page="", title="Unavailable",
                           error=message)

    def csrf_checked(self, request: Request) -> Response | None:
        """None when the request carries this session's token; else the refusal."""
        if security.csrf_valid(self.secret, request.cookies.get(security.SESSION_COOKIE),
                               request.headers.get(security.CSRF_HEADER)):
            return None
        return JSONResponse({"ok": False, "error": "missing or stale CSRF token: reload the "
                             "page and try again"}, status_code=403)

    # --- pages ---------------------------------------------------------------------

    def live(self, request: Request) -> Response:
        labels = [v for v in request.query_params.getlist("label") if v in LABELS]
        sources = request.query_params.getlist("source")
        response = self.reads.articles(queries.live_body(labels, sources))
        views = queries.shape_hits(response)
        now = utc_now()
        arrivals = queries.shape_arrivals(self.reads.articles(queries.arrivals_body(now)))
        params = [("label", v) for v in labels] + [("source", v) for v in sources]
        cursor = queries.newest_indexed(views, now.isoformat())
        return self.render(request, "live.html", page="live", title="Live", articles=views,
                           arrivals=arrivals, chosen_labels=labels, chosen_sources=sources,
                           sources=queries.bucket_counts(response, "sources"),
                           events_url="/live/events?" + urlencode(
                               [*params, ("since", cursor)]))

    async def live_events(self, request: Request) -> Response:
        labels = [v for v in request.query_params.getlist("label") if v in LABELS]
        sources = request.query_params.getlist("source")
        since = request.query_params.get("since") or utc_now().isoformat()
        if queries.parse_time(since) is None:
            return PlainTextResponse("since: expected an ISO 8601 time", status_code=400)
        return StreamingResponse(self._follow(request, labels, sources, since),
                                 media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def _follow(self, request: Request, labels: list[str], sources: list[str],
                      since: str) -> AsyncIterator[str]:
        """New articles as rendered rows, oldest first; the arrival counts now and then.
        A failing store is an ``unavailable`` event, and the loop keeps trying."""
        seen: dict[str, str] = {}
        cursor = since
        next_counts = 0.0
        loop = asyncio.get_running_loop()
        row = self.templates.get_template("_article_row.html")
        yield "retry: 2000\n\n"
        while not self.closing.is_set() and not await request.is_disconnected():
            try:
                start = queries.follow_from(cursor)
                body = queries.newer_body(start, labels, sources)
                views = queries.shape_hits(await run_in_threadpool(self.reads.articles, body))
                for view in queries.unseen(views, seen, start):
                    html = row.render(article=view)
                    yield "event: article\n" + "".join(f"data: {line}\n"
                                                       for line in html.splitlines()) + "\n"
                cursor = queries.newest_indexed(views, cursor)
                if loop.time() >= next_counts:
                    counts = queries.shape_arrivals(await run_in_threadpool(
                        self.reads.articles, queries.arrivals_body(utc_now())))
                    yield f"event: counts\ndata: {json.dumps(counts)}\n\n"
                    next_counts = loop.time() + COUNTS_EVERY_S
            except (ApiError, TransportError) as exc:
                log.warning("board live: Elasticsearch failed: %s", exc)
                message = store_message(self.settings, exc)
                yield f"event: unavailable\ndata: {json.dumps(message)}\n\n"
                await asyncio.sleep(2.0)
            await asyncio.sleep(self.live_poll_s)

    def search(self, request: Request) -> Response:
        form = queries.parse_search(dict(request.query_params))
        error = None
        response: dict[str, Any] = {}
        try:
            response = self.reads.articles(queries.search_body(form))
        except BadRequestError as exc:
            error = f"Elasticsearch could not run this query: {_reason(exc)}"
        total = queries.total_hits(response)
        return self.render(request, "search.html", page="search", title="Search", form=form,
                           error=error, articles=queries.shape_hits(response), total=total,
                           pages=queries.page_count(total),
                           label_facets=queries.bucket_counts(response, "labels"),
                           source_facets=queries.bucket_counts(response, "sources"))

    def article(self, request: Request) -> Response:
        article_id = request.path_params["article_id"]
        article = self.reads.article(article_id)
        if article is None:
            return self.render(request, "error.html", status_code=404, page="",
                               title="Not found", error=f"No article with id {article_id!r} "
                               f"behind {self.settings.articles_alias}.")
        text = article.content or article.summary
        segments, unplaced = queries.evidence_segments(text, article.evidence)
        candidates = self.reads.articles(queries.same_story_body(article.title, article.id))
        alerts = self.reads.alerts(queries.article_alerts_body(article.id))
        return self.render(
            request, "article.html", page="", title=article.title, article=article,
            view=queries.shape_article(article.model_dump(mode="json"), article.id),
            href=queries.safe_href(article.url), segments=segments, unplaced=unplaced,
            story=queries.same_story(article, candidates["hits"]["hits"]),
            alerts=queries.shape_alerts(alerts), feedback=self.reads.feedback(article.id),
            times=[("published", queries.shown_time(article.published_at.isoformat())
                    + (" (inferred: the feed gave none)" if article.published_at_inferred
                       else "")),
                   ("collected", queries.shown_time(article.collected_at.isoformat())),
                   ("classified", queries.shown_time(article.classified_at.isoformat())),
                   ("indexed", queries.shown_time(article.indexed_at.isoformat()
                                                  if article.indexed_at else None))])

    def triage(self, request: Request) -> Response:
        model = promoted_model(self.settings.models_dir)
        alerted = self.reads.alerted_ids()
        labelled = self.reads.labelled_ids()
        response = self.reads.articles(queries.triage_body(model.thresholds, alerted,
                                                           labelled))
        items = queries.triage_queue(response["hits"]["hits"], model.thresholds, set(alerted))
        return self.render(request, "triage.html", page="triage", title="Triage", items=items,
                           waiting=queries.total_hits(response), model=model,
                           since_training=self.reads.feedback_count(model.trained_at),
                           retrain=RETRAIN_COMMAND)

    def trends(self, request: Request) -> Response:
        field = request.query_params.get("by", "published_at")
        field = field if field in queries.TREND_FIELDS else "published_at"
        try:
            days = min(365, max(2, int(request.query_params.get("days", "30"))))
        except ValueError:
            days = 30
        response = self.reads.articles(queries.trends_body(utc_now(), days, field))
        series = queries.shape_trends(response)
        return self.render(request, "trends.html", page="trends", title="Trends",
                           series=series, by=field, days=days,
                           first=series[0].days[0][0] if series and series[0].days else "",
                           last=series[0].days[-1][0] if series and series[0].days else "")

    def alerts(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        status = status if status in queries.ALERT_STATUSES else None
        response = self.reads.alerts(queries.alerts_body(status))
        return self.render(request, "alerts.html", page="alerts", title="Alerts",
                           alerts=queries.shape_alerts(response), status=status,
                           statuses=queries.bucket_counts(response, "statuses"),
                           rules=queries.bucket_counts(response, "rules"),
                           all_statuses=queries.ALERT_STATUSES)

    def health(self, request: Request) -> Response:
        facts = gather(self.settings, self.reads, utc_now())
        return self.render(request, "health.html", page="health", title="Health", h=facts,
                           settings=self.settings)

    # --- writes --------------------------------------------------------------------

    async def feedback(self, request: Request) -> Response:
        refused = self.csrf_checked(request)
        if refused is not None:
            return refused
        body = await _json_body(request)
        try:
            labels = actions.checked_labels(body.get("labels"))
            note = body.get("note") if isinstance(body.get("note"), str) else None
            feedback = await run_in_threadpool(
                actions.record_feedback, self.settings, self.client,
                request.path_params["article_id"], labels, note)
        except NewswatchError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        model = promoted_model(self.settings.models_dir)
        count = await run_in_threadpool(self.reads.feedback_count, model.trained_at)
        return JSONResponse({"ok": True, "labels": feedback.labels,
                             "previous_labels": feedback.previous_labels,
                             "since_training": count})

    async def save_rule(self, request: Request) -> Response:
        refused = self.csrf_checked(request)
        if refused is not None:
            return refused
        body = await _json_body(request)
        form = queries.parse_search({k: str(v) for k, v in body.items()
                                     if k in ("q", "label", "min_score", "source")})
        name = str(body.get("name") or "").strip()
        if form.problems:
            return JSONResponse({"ok": False, "error": "; ".join(form.problems)},
                                status_code=400)
        try:
            await run_in_threadpool(actions.save_rule, self.settings, self.client, name,
                                    **queries.rule_from_search(form))
        except NewswatchError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "message": f"saved as alert rule {name!r} in "
                             f"{self.settings.alerts_file}; the alerter picks it up at its "
                             "next start"})

    # --- login (only when a token is configured) -----------------------------------

    async def login(self, request: Request) -> Response:
        if request.method == "POST":
            fields = parse_qs((await request.body()).decode("utf-8", "replace"))
            given = (fields.get("token") or [""])[0]
            if security.token_valid(self.settings.board_token, given):
                response = RedirectResponse("/live", status_code=303)
                response.set_cookie(security.AUTH_COOKIE, given, httponly=True,
                                    samesite="strict", secure=request.url.scheme == "https")
                return response
            return self.render(request, "login.html", status_code=401, page="",
                               title="Sign in", error="That token is not the board's.")
        return self.render(request, "login.html", page="", title="Sign in")

    # --- the middleware ------------------------------------------------------------

    async def guard(self, request: Request,
                    call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Host check, token check, the session cookie, the security headers; and a
        failing store turned into a message."""
        if not security.host_allowed(request.headers.get("host", ""),
                                     self.settings.board_host):
            return PlainTextResponse("unknown host name", status_code=421)
        open_path = request.url.path in ("/login",) or request.url.path.startswith("/static/")
        if self.settings.board_token is not None and not open_path:
            given = (request.cookies.get(security.AUTH_COOKIE)
                     or security.bearer(request.headers.get("authorization")))
            if not security.token_valid(self.settings.board_token, given):
                if request.method == "GET" and not request.url.path.startswith("/api/"):
                    return RedirectResponse("/login", status_code=303)
                return JSONResponse({"ok": False, "error": "token required"},
                                    status_code=401)
        session = request.cookies.get(security.SESSION_COOKIE)
        fresh = not session
        request.state.session = session or security.new_session()
        try:
            response = await call_next(request)
        except (ApiError, TransportError) as exc:
            response = self.store_failed(request, exc)
        if fresh:
            response.set_cookie(security.SESSION_COOKIE, request.state.session, httponly=True,
                                samesite="strict", secure=request.url.scheme == "https")
        for name, value in security.SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def application(self) -> Starlette:
        routes = [
            Route("/", lambda request: RedirectResponse("/live", status_code=303)),
            Route("/live", self.live),
            Route("/live/events", self.live_events),
            Route("/search", self.search),
            Route("/article/{article_id:path}", self.article),
            Route("/triage", self.triage),
            Route("/trends", self.trends),
            Route("/alerts", self.alerts),
            Route("/health", self.health),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/api/feedback/{article_id:path}", self.feedback, methods=["POST"]),
            Route("/api/rules", self.save_rule, methods=["POST"]),
            Mount("/static", StaticFiles(packages=[("pipelines.board", "static")]),
                  name="static"),
        ]
        return Starlette(routes=routes,
                         middleware=[Middleware(BaseHTTPMiddleware, dispatch=self.guard)])


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(exc: BadRequestError) -> str:
    """The innermost reason Elasticsearch gives for refusing a query."""
    info = exc.info if isinstance(exc.info, dict) else {}
    error = info.get("error") or {}
    causes = error.get("root_cause") or [error]
    cause = causes[0] if causes and isinstance(causes[0], dict) else {}
    failed = (error.get("failed_shards") or [{}])[0].get("reason", {}) if isinstance(
        error, dict) else {}
    return str(failed.get("caused_by", {}).get("reason") or cause.get("reason")
               or exc.message)


def create_app(settings: Settings, client: Elasticsearch | None = None,
               live_poll_s: float = LIVE_POLL_S) -> Starlette:
    """The board as an ASGI application (uvicorn serves it; see ``server``)."""
    return Board(settings, client, live_poll_s).application()
