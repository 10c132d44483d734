"""The board's request bodies and result shapes (pipelines/board/queries.py), no server."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pipelines.board import queries
from pipelines.schema import ClassifiedArticle

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _source(n: int, **fields: object) -> dict:
    base = {"id": f"a{n}", "title": f"Title {n}", "url": f"https://news.test/{n}",
            "source": "Kyodo", "published_at": "2026-12-07T10:00:00Z",
            "indexed_at": f"2026-12-07T11:00:0{n}.000Z", "labels": ["property_purchase"],
            "scores": {"tech_influence": 0.1, "property_purchase": 0.8,
                       "infrastructure_dependency": 0.45},
            "model_version": "m1"}
    return base | fields


def test_safe_href_links_only_http_and_https():
    assert queries.safe_href("https://news.test/a?b=1") == "https://news.test/a?b=1"
    assert queries.safe_href("http://news.test/") == "http://news.test/"
    for hostile in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>",
                    "vbscript:x", "//evil.test/x", "https:///nohost", "", None):
        assert queries.safe_href(hostile) is None, hostile


def test_shape_article_keeps_feed_strings_verbatim_and_bars_in_label_order():
    view = queries.shape_article(_source(1, title="<b>x</b> & y", url="javascript:x"), "a1")
    assert view.title == "<b>x</b> & y"  # escaping is the template's job, not a mangling
    assert view.href is None and view.url == "javascript:x"
    assert [(s.label, s.percent, s.carried) for s in view.scores] == [
        ("tech_influence", 10, False), ("property_purchase", 80, True),
        ("infrastructure_dependency", 45, False)]
    assert view.indexed == "2026-12-07 11:00 UTC"


def test_live_body_filters_by_any_chosen_label_and_source_and_ignores_unknown_labels():
    body = queries.live_body(["property_purchase", "nonsense", "tech_influence"], ["Kyodo"])
    assert body["query"] == {"bool": {"filter": [
        {"terms": {"labels": ["property_purchase", "tech_influence"]}},
        {"terms": {"source": ["Kyodo"]}}]}}
    assert body["sort"][0] == {"indexed_at": {"order": "desc", "unmapped_type": "date"}}
    assert queries.live_body()["query"] == {"bool": {"filter": []}}


def test_newer_body_asks_from_a_lookback_before_the_cursor():
    start = queries.follow_from("2026-12-07T11:00:00Z", lookback_s=15)
    assert start == "2026-12-07T10:59:45+00:00"
    body = queries.newer_body(start, ["tech_influence"])
    assert body["query"]["bool"]["filter"] == [
        {"terms": {"labels": ["tech_influence"]}},
        {"range": {"indexed_at": {"gte": "2026-12-07T10:59:45+00:00"}}}]
    assert body["sort"][0] == {"indexed_at": {"order": "desc"}}


def test_unseen_sends_each_article_once_oldest_first_even_when_it_turns_up_late():
    seen: dict[str, str] = {}
    first = [queries.shape_article(_source(n)) for n in (3, 1)]  # newest first, as asked
    assert [v.id for v in queries.unseen(first, seen, "2026-12-07T10:59:00Z")] == ["a1", "a3"]
    # a2 was stamped before a3 but became searchable only now (a refresh later)
    later = [queries.shape_article(_source(n)) for n in (3, 2, 1)]
    assert [v.id for v in queries.unseen(later, seen, "2026-12-07T10:59:00Z")] == ["a2"]
    assert queries.unseen(later, seen, "2026-12-07T10:59:00Z") == []
    queries.unseen([], seen, "2026-12-07T11:00:02.500Z")  # memory older than the window goes
    assert set(seen) == {"a3"}


def test_arrivals_counts_the_last_hour_and_day():
    body = queries.arrivals_body(NOW)
    filters = body["aggs"]["arrived"]["filters"]["filters"]
    assert filters["hour"] == {"range": {"indexed_at": {"gte": "2026-12-07T11:00:00+00:00"}}}
    assert filters["day"] == {"range": {"indexed_at": {"gte": "2026-12-06T12:00:00+00:00"}}}
    answer = {"aggregations": {"arrived": {"buckets": {"hour": {"doc_count": 3},
                                                       "day": {"doc_count": 40}}}}}
    assert queries.shape_arrivals(answer) == {"hour": 3, "day": 40}


def test_newest_indexed_is_the_latest_time_not_the_last_string():
    views = [queries.shape_article(_source(n)) for n in (3, 1, 2)]
    assert queries.newest_indexed(views, "fallback") == "2026-12-07T11:00:03.000Z"
    assert queries.newest_indexed([], "fallback") == "fallback"


def test_parse_search_keeps_good_values_and_reports_bad_ones():
    form = queries.parse_search({"q": "title:land", "label": "property_purchase",
                                 "min_score": "0.6", "source": " Kyodo ",
                                 "from": "2026-12-01", "to": "2026-12-07", "page": "3"})
    assert (form.q, form.label, form.min_score, form.source) == (
        "title:land", "property_purchase", 0.6, "Kyodo")
    assert (form.date_from, form.date_to, form.page, form.problems) == (
        date(2026, 12, 1), date(2026, 12, 7), 3, [])
    bad = queries.parse_search({"label": "spying", "min_score": "2", "from": "yesterday",
                                "page": "x"})
    assert (bad.label, bad.min_score, bad.date_from, bad.page) == ("", 0.0, None, 1)
    assert len(bad.problems) == 3
    assert queries.parse_search({"min_score": "nan"}).problems
    assert queries.parse_search({"page": "100000"}).page == 500  # 10,000 results deep


def test_search_body_is_the_query_string_with_the_rule_semantics_of_labels():
    form = queries.parse_search({"q": "land", "label": "property_purchase",
                                 "min_score": "0.6", "source": "Kyodo", "from": "2026-12-01",
                                 "to": "2026-12-07", "page": "2"})
    body = queries.search_body(form)
    assert body["query"] == {"bool": {
        "must": [{"query_string": {"query": "land"}}],
        "filter": [{"term": {"labels": "property_purchase"}},
                   {"range": {"scores.property_purchase": {"gte": 0.6}}},
                   {"term": {"source": "Kyodo"}},
                   {"range": {"published_at": {"gte": "2026-12-01", "lt": "2026-12-08"}}}]}}
    assert (body["from"], body["size"]) == (20, 20)
    assert body["sort"][0] == "_score"
    assert set(body["aggs"]) == {"labels", "sources"}
    empty = queries.search_body(queries.parse_search({}))
    assert empty["query"]["bool"]["must"] == [{"query_string": {"query": "*"}}]
    assert empty["sort"][0] == {"published_at": {"order": "desc"}}


def test_search_params_round_trip_for_paging_links():
    form = queries.parse_search({"q": "a b", "label": "tech_influence", "page": "1"})
    assert form.params(2) == {"q": "a b", "label": "tech_influence", "page": "2"}
    assert queries.parse_search(form.params(2)) == queries.parse_search(
        {"q": "a b", "label": "tech_influence", "page": "2"})
    assert queries.page_count(0) == 1 and queries.page_count(41) == 3


def test_rule_from_search_is_what_alerts_add_takes():
    form = queries.parse_search({"q": "land", "label": "property_purchase",
                                 "min_score": "0.6", "source": "Kyodo"})
    assert queries.rule_from_search(form) == {"query": "land",
                                              "label": ["property_purchase=0.6"],
                                              "source": ["Kyodo"]}
    assert queries.rule_from_search(queries.parse_search({})) == {"query": "*", "label": [],
                                                                  "source": []}


def test_evidence_segments_mark_each_labels_passage_and_report_the_unplaced():
    text = "Intro. A buyer took land near the base. Then   the port\nuses a foreign OS. End."
    segments, missing = queries.evidence_segments(text, {
        "property_purchase": "A buyer took land near the base.",
        "infrastructure_dependency": "the port uses a foreign OS.",  # whitespace differs
        "tech_influence": "not in the text"})
    assert "".join(s.text for s in segments) == text
    marked = {s.text: s.labels for s in segments if s.labels}
    assert marked == {"A buyer took land near the base.": ("property_purchase",),
                      "the port\nuses a foreign OS.": ("infrastructure_dependency",)}
    assert missing == ["tech_influence"]


def test_overlapping_evidence_marks_the_overlap_with_both_labels():
    text = "aaa bbb ccc ddd"
    segments, _ = queries.evidence_segments(text, {"tech_influence": "aaa bbb ccc",
                                                   "property_purchase": "bbb ccc ddd"})
    assert [(s.text, s.labels) for s in segments] == [
        ("aaa ", ("tech_influence",)), ("bbb ccc", ("tech_influence", "property_purchase")),
        (" ddd", ("property_purchase",))]


def test_same_story_keeps_only_the_alerters_story():
    article = ClassifiedArticle.model_validate(_source(1, title="Buyer takes land near base",
                                                       feed_url="https://news.test/f",
                                                       collected_at="2026-12-07T10:00:00Z",
                                                       classified_at="2026-12-07T10:00:00Z"))
    candidates = [{"_id": "b", "_source": _source(2, title="BUYER takes land, near base!")},
                  {"_id": "c", "_source": _source(3, title="Buyer takes land near base again")}]
    assert [v.id for v in queries.same_story(article, candidates)] == ["b"]
    body = queries.same_story_body(article.title, article.id)
    assert body["query"]["bool"]["must_not"] == [{"ids": {"values": ["a1"]}}]


def test_triage_asks_for_scores_near_thresholds_or_alerted_and_skips_labelled():
    body = queries.triage_body({"tech_influence": 0.3}, ["x1"], ["done1"], margin=0.1)
    should = body["query"]["bool"]["should"]
    assert should[0] == {"range": {"scores.tech_influence": {"gte": 0.19999999999999998,
                                                             "lte": 0.4}}}
    assert should[1] == {"range": {"scores.property_purchase": {"gte": 0.4, "lte": 0.6}}}
    assert should[-1] == {"ids": {"values": ["x1"]}}
    assert body["query"]["bool"]["must_not"] == [{"ids": {"values": ["done1"]}}]


def test_triage_queue_puts_alerted_first_then_nearest_a_threshold():
    hits = [{"_id": "far", "_source": _source(1, scores={"tech_influence": 0.9})},
            {"_id": "near", "_source": _source(2, scores={"tech_influence": 0.52})},
            {"_id": "alerted", "_source": _source(3, scores={"tech_influence": 0.99})}]
    queue = queries.triage_queue(hits, {"tech_influence": 0.5}, {"alerted"})
    assert [(i.article.id, i.alerted, i.nearest) for i in queue] == [
        ("alerted", True, 0.49), ("near", False, 0.02), ("far", False, 0.4)]


def test_trends_share_one_scale_and_keep_top_sources():
    def days(counts: list[int]) -> dict:
        return {"buckets": [{"key_as_string": f"2026-12-0{i + 1}T00:00:00.000Z",
                             "doc_count": c} for i, c in enumerate(counts)]}
    answer = {"aggregations": {
        "tech_influence": {"days": days([0, 5, 10]),
                           "sources": {"buckets": [{"key": "Kyodo", "doc_count": 15}]}},
        "property_purchase": {"days": days([1, 1, 1]), "sources": {"buckets": []}},
        "infrastructure_dependency": {"days": days([0, 0, 0]), "sources": {"buckets": []}}}}
    series = {s.label: s for s in queries.shape_trends(answer)}
    assert series["tech_influence"].points == "0.0,160.0 300.0,85.0 600.0,10.0"
    assert series["tech_influence"].total == 15
    assert series["tech_influence"].top_sources == [("Kyodo", 15)]
    assert series["property_purchase"].days[0] == ("2026-12-01", 1)
    body = queries.trends_body(NOW, days=7, time_field="collected_at")
    assert body["query"] == {"range": {"collected_at": {"gte": "2026-12-01"}}}
    assert queries.trends_body(NOW, time_field="evil")["query"]["range"].keys() == {
        "published_at"}


def test_alerts_view_and_status_filter():
    assert queries.alerts_body("failed")["query"] == {"term": {"status": "failed"}}
    assert queries.alerts_body("nonsense")["query"] == {"match_all": {}}
    answer = {"hits": {"hits": [{"_source": {
        "rule": "land", "article_id": "a1", "title": "<i>t</i>", "url": "javascript:x",
        "source": "Kyodo", "status": "failed", "matched_at": "2026-12-07T10:00:00Z",
        "error": "Slack said 404"}}]}}
    [view] = queries.shape_alerts(answer)
    assert (view.title, view.href, view.status, view.error, view.sent) == (
        "<i>t</i>", None, "failed", "Slack said 404", "-")
