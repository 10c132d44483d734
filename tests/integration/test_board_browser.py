"""The board in a real browser: Debian's headless Chromium driven by Selenium, against
the real Elasticsearch, with this test's own articles alias and alerts and feedback
indices. Every wait is on the page's state, never a sleep. Screenshots of each page
go to the test's output folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from pipelines.alerts.state import ALERTS_MAPPING
from pipelines.board.server import BoardServer
from pipelines.es_admin import ensure_articles_index
from pipelines.kafka_admin import ensure_topics, topic_specs
from pipelines.schema import Alert, ClassifiedArticle, DeadLetter, utc_now
from pipelines.settings import Settings
from tests.support.chromium import chromium_driver

pytestmark = pytest.mark.integration

HOSTILE = ('<script>window.__pwned = "script"</script>'
           '<img src=x onerror="window.__pwned = \'img\'"> Chip fund & friends')
WAIT_S = 20


@dataclass
class BoardEnv:
    settings: Settings
    es: Elasticsearch
    url: str
    shots: Path

    def index(self, *articles: ClassifiedArticle) -> None:
        """As the pipeline writes them: through the alias, keyed by article id."""
        for article in articles:
            self.es.index(index=self.settings.articles_alias, id=article.id,
                          document=article.model_dump(mode="json"))
        self.es.indices.refresh(index=self.settings.articles_alias)

    def feedback(self) -> dict[str, dict]:
        self.es.indices.refresh(index=self.settings.feedback_index)
        hits = self.es.search(index=self.settings.feedback_index, size=100)["hits"]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}


def article(key: str, title: str, scores: dict[str, float], source: str = "Kyodo",
            minutes_ago: float = 0, text: str = "", **fields: object) -> ClassifiedArticle:
    now = utc_now()
    full = {"tech_influence": 0.05, "property_purchase": 0.05,
            "infrastructure_dependency": 0.05} | scores
    labels = sorted(label for label, score in full.items() if score >= 0.5)
    body = text or (f"Opening line of {key}. A foreign buyer took the land next to the "
                    f"port. Closing line of {key}.")
    values = dict(
        id=key, url=f"https://news.test/{key}", feed_url="https://news.test/feed",
        source=source, title=title, content=body,
        published_at=now - timedelta(minutes=minutes_ago), collected_at=now,
        labels=labels, scores=full,
        evidence={label: "A foreign buyer took the land next to the port." for label in labels},
        model_version="m-test", classified_at=now, indexed_at=now)
    return ClassifiedArticle(**(values | fields))


@pytest.fixture
def board(stack: Settings, tmp_path: Path) -> Iterator[BoardEnv]:
    unique = uuid.uuid4().hex[:10]
    (tmp_path / "alerts.yaml").write_text("rules: []\n")
    settings = stack.model_copy(update={
        "articles_alias": f"newswatch-test-{unique}",
        "alerts_index": f"newswatch-test-alerts-{unique}",
        "feedback_index": f"newswatch-test-feedback-{unique}",
        "topic_raw": f"nw.test.raw.{unique}", "topic_deadletter": f"nw.test.dead.{unique}",
        "topic_classified": f"nw.test.classified.{unique}",
        "pipeline_group_id": f"nw-test-{unique}",
        "state_dir": tmp_path / "state", "alerts_file": tmp_path / "alerts.yaml",
        "board_port": 0, "analyst": "ana"})
    es = settings.elasticsearch.client()
    ensure_articles_index(es, settings.deploy_dir, settings.articles_alias)
    ensure_topics(settings.kafka, topic_specs(settings))
    server = BoardServer(settings, live_poll_s=0.25).start()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    yield BoardEnv(settings, es, server.url.rstrip("/"), shots)
    server.stop()
    settings.kafka.admin().delete_topics([spec.name for spec in topic_specs(settings)])
    names = list(es.indices.get(index=f"{settings.articles_alias}-*").body)
    names += [i for i in (settings.alerts_index, settings.feedback_index)
              if es.indices.exists(index=i)]
    es.indices.delete(index=",".join(names))
    es.indices.delete_index_template(name=settings.articles_alias)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    driver = chromium_driver(tmp_path_factory.mktemp("chromium-profile"))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait(driver: webdriver.Chrome, condition, timeout: float = WAIT_S):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def ids_on_page(driver: webdriver.Chrome) -> list[str]:
    return [e.get_attribute("data-id")
            for e in driver.find_elements(By.CSS_SELECTOR, "#articles article.item")]


def no_script_ran(driver: webdriver.Chrome) -> None:
    assert driver.execute_script("return window.__pwned === undefined")
    try:
        dialog = driver.switch_to.alert
    except NoAlertPresentException:
        return
    raise AssertionError(f"a dialog opened: feed markup ran: {dialog.text!r}")


def shot(driver: webdriver.Chrome, env: BoardEnv, name: str) -> None:
    driver.save_screenshot(str(env.shots / f"board-{name}.png"))


def test_live_shows_an_article_indexed_while_it_is_open_without_a_reload(board, browser):
    board.index(article("live-1", "Foreign fund buys farmland beside the airbase",
                        {"property_purchase": 0.91}, minutes_ago=30),
                article("live-2", "Municipal cloud moves to an overseas provider",
                        {"infrastructure_dependency": 0.77}, source="Nikkei", minutes_ago=20))
    browser.get(board.url + "/live")
    assert ids_on_page(browser) == ["live-2", "live-1"]
    assert browser.find_element(By.ID, "count-hour").text == "2"
    wait(browser, lambda d: "live" in d.find_element(By.ID, "live-status").text)
    browser.execute_script("window.__sameDocument = 'kept'")

    board.index(article("live-3", "Chip designer opens a lab in the capital",
                        {"tech_influence": 0.88}, source="Asahi"))
    wait(browser, lambda d: "live-3" in ids_on_page(d))
    assert ids_on_page(browser)[0] == "live-3"
    assert browser.execute_script("return window.__sameDocument") == "kept"  # no reload
    new = browser.find_element(By.CSS_SELECTOR, '[data-id="live-3"]')
    assert "Chip designer opens a lab in the capital" in new.text
    assert "tech_influence" in new.find_element(By.CSS_SELECTOR, ".labels").text
    wait(browser, lambda d: d.find_element(By.ID, "count-hour").text == "3", timeout=30)
    shot(browser, board, "live")

    # A label filter on Live: only that label's articles, and the new ones still follow.
    browser.get(board.url + "/live?label=property_purchase")
    assert ids_on_page(browser) == ["live-1"]
    board.index(article("live-4", "Another plot by the airbase changes hands",
                        {"property_purchase": 0.7}),
                article("live-5", "Unrelated: a bakery opens", {}))
    wait(browser, lambda d: "live-4" in ids_on_page(d))
    assert "live-5" not in ids_on_page(browser)


def test_search_with_a_label_filter_finds_exactly_the_expected_articles(board, browser):
    board.index(
        article("s-land-high", "Land near the port bought by a foreign fund",
                {"property_purchase": 0.9}),
        article("s-land-mid", "Land deal at the harbour", {"property_purchase": 0.62}),
        article("s-land-low", "Land prices in the north", {"property_purchase": 0.51}),
        article("s-land-unlabelled", "Land registry opens a new office", {}),
        article("s-chips", "Chip plant on reclaimed land", {"tech_influence": 0.8}),
        article("s-other-source", "Land beside the base sold", {"property_purchase": 0.95},
                source="Nikkei"))
    browser.get(board.url + "/search")
    browser.find_element(By.ID, "q").send_keys("title:land")
    browser.find_element(By.ID, "label").send_keys("property_purchase")
    browser.find_element(By.ID, "min_score").send_keys("0.6")
    browser.find_element(By.ID, "search-button").click()
    wait(browser, lambda d: "min_score=0.6" in d.current_url)
    assert set(ids_on_page(browser)) == {"s-land-high", "s-land-mid", "s-other-source"}
    assert browser.find_element(By.ID, "total").text.startswith("3 matching")
    facets = browser.find_element(By.ID, "source-facets").text
    assert "Kyodo 2" in facets and "Nikkei 1" in facets
    shot(browser, board, "search")

    browser.find_element(By.CSS_SELECTOR, "#source-facets a").click()  # Kyodo, the largest
    wait(browser, lambda d: "source=Kyodo" in d.current_url)
    assert set(ids_on_page(browser)) == {"s-land-high", "s-land-mid"}

    # The search saved as an alert rule, through `newswatch alerts add`'s code.
    browser.find_element(By.ID, "rule-name").send_keys("land_kyodo")
    browser.find_element(By.CSS_SELECTOR, "#save-rule button").click()
    wait(browser, lambda d: "saved as alert rule" in d.find_element(By.ID, "rule-result").text)
    from pipelines.alerts.rules import load_rules
    [rule] = load_rules(board.settings.alerts_file).rules
    assert (rule.name, rule.query, rule.labels, rule.sources) == (
        "land_kyodo", "title:land", {"property_purchase": 0.6}, ["Kyodo"])


def test_triage_confirm_and_correct_write_the_exact_feedback(board, browser):
    board.index(
        article("t-near", "Port operator signs a foreign maintenance deal",
                {"infrastructure_dependency": 0.52}),
        article("t-nearer", "Fund eyes hillside land", {"property_purchase": 0.49}),
        article("t-far", "Weather report", {}))
    started = datetime.now(UTC)
    browser.get(board.url + "/triage")
    queue = [e.get_attribute("data-id")
             for e in browser.find_elements(By.CSS_SELECTOR, ".triage-item")]
    assert queue == ["t-nearer", "t-near"]  # nearest a threshold first; t-far is not due
    assert browser.find_element(By.ID, "since-training").text == "0"
    assert "newswatch train --with-feedback" in browser.find_element(By.ID, "retrain").text
    shot(browser, board, "triage")

    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("2")  # correct: t-nearer does carry property_purchase (the 2nd label)
    body.send_keys("\n")
    wait(browser, lambda d: "saved" in d.find_element(
        By.CSS_SELECTOR, '[data-id="t-nearer"] .result').text)
    wait(browser, lambda d: "selected" in d.find_element(
        By.CSS_SELECTOR, '[data-id="t-near"]').get_attribute("class"))
    body.send_keys("y")  # confirm: the model's labels for t-near are right
    wait(browser, lambda d: "saved" in d.find_element(
        By.CSS_SELECTOR, '[data-id="t-near"] .result').text)
    wait(browser, lambda d: d.find_element(By.ID, "since-training").text == "2")

    stored = board.feedback()
    assert set(stored) == {"t-nearer", "t-near"}
    for key, doc in stored.items():
        assert started - timedelta(seconds=5) <= datetime.fromisoformat(
            doc.pop("labelled_at")) <= datetime.now(UTC)
        source = board.es.get(index=board.settings.articles_alias, id=key)["_source"]
        assert doc == {"schema_version": 1, "article_id": key, "note": None,
                       "analyst": "ana", "model_version": "m-test",
                       "labels": {"t-nearer": ["property_purchase"],
                                  "t-near": ["infrastructure_dependency"]}[key],
                       "previous_labels": source["labels"], "model_labels": source["labels"],
                       "title": source["title"], "text": source["content"],
                       "url": source["url"], "source": "Kyodo"}
    assert stored["t-nearer"]["model_labels"] == []
    browser.get(board.url + "/triage")
    assert browser.find_elements(By.CSS_SELECTOR, ".triage-item") == []  # all reviewed


def test_hostile_feed_markup_renders_as_text_and_runs_nothing(board, browser):
    hostile = article("x-1", HOSTILE, {"tech_influence": 0.55},  # near: on Triage too
                      text=f"Before. {HOSTILE} A foreign buyer took the land next to the "
                           "port. After.", url="javascript:window.__pwned='link'",
                      source='<b onmouseover="window.__pwned=1">Src</b>')
    board.index(hostile)
    for path in ("/live", "/search?q=chip", "/article/x-1", "/triage"):
        browser.get(board.url + path)
        title = browser.find_element(By.CSS_SELECTOR, "#article-title, article .title")
        assert title.text == HOSTILE.strip() or title.text.strip() == HOSTILE, path
        no_script_ran(browser)
        assert browser.find_elements(By.CSS_SELECTOR, "main img, main script:not([src])") == []
    assert browser.find_elements(By.ID, "article-link") == []  # javascript: is not a link

    # The same markup arriving over the live stream (inserted by the page's script).
    browser.get(board.url + "/live")
    board.index(hostile.model_copy(update={"id": "x-2", "indexed_at": utc_now()}))
    wait(browser, lambda d: "x-2" in ids_on_page(d))
    row = browser.find_element(By.CSS_SELECTOR, '[data-id="x-2"] .title')
    assert row.text.strip() == HOSTILE
    no_script_ran(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []


def test_article_trends_alerts_and_health_pages(board, browser):
    main = article("p-1", "Foreign fund buys farmland beside the airbase",
                   {"property_purchase": 0.91, "infrastructure_dependency": 0.6},
                   text="The prefecture confirmed the sale on Monday. A foreign buyer took "
                        "the land next to the port. Officials said the runway is 2 km away.")
    repost = article("p-2", "Foreign fund buys farmland beside the airbase!",
                     {"property_purchase": 0.88}, source="Nikkei", minutes_ago=5)
    board.index(main, repost, article("p-3", "Chip lab opens", {"tech_influence": 0.7}))
    board.es.indices.create(index=board.settings.alerts_index, mappings=ALERTS_MAPPING)
    now = utc_now()
    for rule, status, error in (("land", "sent", None), ("all", "failed", "Slack said 404"),
                                ("dup", "suppressed", None)):
        alert = Alert(rule=rule, article_id="p-1", story_id="s", title=main.title,
                      url=main.url, source=main.source, published_at=main.published_at,
                      labels=main.labels, scores=main.scores, evidence=main.evidence,
                      matched_at=now, status=status, sent_at=now if status == "sent" else None,
                      error=error)
        board.es.index(index=board.settings.alerts_index, id=f"{rule}:p-1",
                       document=alert.model_dump(mode="json"), refresh=True)

    browser.get(board.url + "/article/p-1")
    marks = browser.find_elements(By.CSS_SELECTOR, "#article-text mark.evidence")
    assert [m.text for m in marks] == ["A foreign buyer took the land next to the port."]
    assert "property_purchase" in marks[0].get_attribute("title")
    assert browser.find_element(By.ID, "article-link").get_attribute("href") == main.url
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Nikkei" in page and "Slack said 404" in page and "m-test" in page
    assert "No analyst has labelled it yet" in page
    shot(browser, board, "article")

    browser.get(board.url + "/trends")
    trend = browser.find_element(By.TAG_NAME, "main").text
    assert "property_purchase 2" in trend and "tech_influence 1" in trend
    shot(browser, board, "trends")

    browser.get(board.url + "/alerts")
    statuses = browser.find_element(By.CSS_SELECTOR, ".statuses").text
    assert "sent: 1" in statuses and "failed: 1" in statuses and "suppressed: 1" in statuses
    shot(browser, board, "alerts")
    browser.get(board.url + "/alerts?status=failed")
    rows = browser.find_elements(By.CSS_SELECTOR, "#alerts-table tr")[1:]
    assert len(rows) == 1 and "Slack said 404" in rows[0].text

    producer = board.settings.kafka.producer("board-test")
    for n in range(2):
        letter = DeadLetter.from_failure("pipeline.parse", b"{not json", ValueError(
            f"record {n} is not JSON <b>bold</b>"))
        producer.produce(board.settings.topic_deadletter, value=letter.to_json_bytes())
    producer.produce(board.settings.topic_raw, key=b"k", value=b"waiting")
    assert producer.flush(30) == 0

    browser.get(board.url + "/health")
    health = browser.find_element(By.TAG_NAME, "main").text
    assert "1 record behind" in health  # the pipeline's group has not read the raw record
    assert "last minute 3" in health  # indexed in the last minute
    assert "pipeline.parse 2\nValueError: record 1 is not JSON <b>bold</b>" in health, health
    assert "No model is promoted" in health
    shot(browser, board, "health")
    assert sorted(p.name for p in board.shots.iterdir()) == [
        "board-alerts.png", "board-article.png", "board-health.png", "board-trends.png"]


def test_an_article_collected_from_a_local_feed_appears_on_live(pipeline_env, browser,
                                                                tmp_path):
    """The whole way: a local feed -> `newswatch collect` -> Kafka -> `newswatch pipeline
    run` -> Elasticsearch -> the open Live page, without a reload. The feed's title holds
    markup; whatever of it the collector keeps is shown as text and runs nothing."""
    from tests.integration.pipeline_helpers import stop
    from tests.support.feed_server import FeedServer, feed_reply, rss

    penv = pipeline_env
    settings = penv.settings.model_copy(update={"board_port": 0})
    server = FeedServer()
    title = "Foreign state firm buys port terminal <script>window.__pwned=1</script>"
    server.add("/feed", lambda _seen: feed_reply(rss([{
        "title": title, "link": "http://news.test/board/1",
        "description": "A foreign state firm buys a stake in the terminal and the land "
                       "next to a naval base. <img src=x onerror=\"window.__pwned=2\">"}])))
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": [
        {"url": server.url("/feed"), "name": "board-e2e", "allow_private": True}]}))
    board = BoardServer(settings, live_poll_s=0.25).start()
    process = penv.start("run")
    try:
        browser.get(board.url + "live")
        assert ids_on_page(browser) == []
        browser.execute_script("window.__sameDocument = 'kept'")
        collected = penv.cli("collect", "--once", "--feeds", str(feeds_file))
        assert collected.returncode == 0, collected.stderr
        try:
            wait(browser, lambda d: len(ids_on_page(d)) == 1, timeout=240)
        except TimeoutException:
            raise AssertionError(
                f"not on Live: page {ids_on_page(browser)}, indexed {penv.count()}, status "
                f"{browser.find_element(By.ID, 'live-status').text!r}\n"
                f"{penv.log_text()[-3000:]}") from None
        [doc_id] = ids_on_page(browser)
        stored = penv.indexed()[doc_id]
        assert stored.source == "board-e2e"
        row = browser.find_element(By.CSS_SELECTOR, f'[data-id="{doc_id}"]')
        assert row.find_element(By.CSS_SELECTOR, ".title").text == stored.title.strip()
        assert "Foreign state firm buys port terminal" in stored.title
        assert browser.execute_script("return window.__sameDocument") == "kept"
        no_script_ran(browser)
        browser.get(board.url + f"article/{doc_id}")
        assert browser.find_element(By.ID, "article-title").text == stored.title.strip()
        no_script_ran(browser)
    finally:
        code = stop(process)
        board.stop()
        server.close()
    assert code == 0, penv.log_text()[-3000:]
