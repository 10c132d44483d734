// newswatch board: live updates, the triage keys, saving a search as a rule.
// No inline script anywhere (the Content-Security-Policy forbids it). Text from the
// server is set with textContent; HTML from the server is rows its templates escaped.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = {}; }
  if (!response.ok || !answer.ok) {
    throw new Error(answer.error || ("the board answered " + response.status));
  }
  return answer;
}

function autoSubmit() {
  document.querySelectorAll("form.auto-submit").forEach((form) => {
    form.addEventListener("change", () => form.submit());
  });
}

function followLive() {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  const list = document.getElementById("articles");
  const status = document.getElementById("live-status");
  const events = new EventSource(live.dataset.events);
  events.addEventListener("open", () => {
    status.textContent = "following new articles (live)";
    status.classList.remove("down");
  });
  events.addEventListener("article", (event) => {
    const holder = document.createElement("template");
    holder.innerHTML = event.data;  // a row rendered (and escaped) by the server
    const row = holder.content.firstElementChild;
    if (!row || list.querySelector('[data-id="' + CSS.escape(row.dataset.id) + '"]')) { return; }
    const empty = document.getElementById("no-articles");
    if (empty) { empty.remove(); }
    row.classList.add("fresh");
    list.prepend(row);
  });
  events.addEventListener("counts", (event) => {
    const counts = JSON.parse(event.data);
    document.getElementById("count-hour").textContent = counts.hour;
    document.getElementById("count-day").textContent = counts.day;
  });
  events.addEventListener("unavailable", (event) => {
    status.textContent = JSON.parse(event.data);
    status.classList.add("down");
  });
  events.addEventListener("error", () => {
    status.textContent = "the board is not answering; retrying…";
    status.classList.add("down");
  });
}

function saveRule() {
  const form = document.getElementById("save-rule");
  if (!form) { return; }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("rule-result");
    const body = Object.fromEntries(new FormData(form).entries());
    result.textContent = "saving…";
    try {
      result.textContent = (await postJson("/api/rules", body)).message;
      result.className = "result ok";
    } catch (error) {
      result.textContent = error.message;
      result.className = "result error";
    }
  });
}

function triage() {
  const queue = document.getElementById("queue");
  if (!queue) { return; }
  const labels = queue.dataset.labels.split(",");
  const items = () => Array.from(queue.querySelectorAll(".triage-item"));
  const selected = () => queue.querySelector(".triage-item.selected");

  function select(item) {
    if (!item) { return; }
    items().forEach((other) => other.classList.remove("selected"));
    item.classList.add("selected");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    const all = items();
    const index = all.indexOf(selected());
    select(all[Math.max(0, Math.min(all.length - 1, index + step))]);
  }
  function chosen(item) {
    return Array.from(item.querySelectorAll(".toggle.on")).map((b) => b.dataset.label);
  }
  function toggle(item, label) {
    const button = item.querySelector('.toggle[data-label="' + label + '"]');
    if (button) { button.classList.toggle("on"); }
  }
  async function save(item, chosenLabels) {
    const result = item.querySelector(".result");
    result.textContent = "saving…";
    try {
      const answer = await postJson("/api/feedback/" + encodeURIComponent(item.dataset.id),
                                    { labels: chosenLabels });
      result.textContent = "saved: " + (answer.labels.join(", ") || "no label");
      item.classList.add("done");
      item.dataset.saved = answer.labels.join(",");
      document.getElementById("since-training").textContent = answer.since_training;
      const next = items().slice(items().indexOf(item) + 1).find((i) => !i.classList.contains("done"));
      select(next || item);
    } catch (error) {
      result.textContent = "not saved: " + error.message;
    }
  }
  function modelLabels(item) {
    return item.dataset.modelLabels ? item.dataset.modelLabels.split(",") : [];
  }

  queue.addEventListener("click", (event) => {
    const item = event.target.closest(".triage-item");
    if (!item) { return; }
    select(item);
    const button = event.target.closest("button");
    if (!button) { return; }
    if (button.classList.contains("toggle")) { button.classList.toggle("on"); }
    else if (button.classList.contains("confirm")) { save(item, modelLabels(item)); }
    else if (button.classList.contains("save")) { save(item, chosen(item)); }
    else if (button.classList.contains("none")) { save(item, []); }
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) { return; }
    const item = selected();
    if (!item) { return; }
    const number = parseInt(event.key, 10);
    if (event.key === "j" || event.key === "ArrowDown") { move(1); }
    else if (event.key === "k" || event.key === "ArrowUp") { move(-1); }
    else if (event.key === "y") { save(item, modelLabels(item)); }
    else if (event.key === "n") { save(item, []); }
    else if (event.key === "Enter") { save(item, chosen(item)); }
    else if (number >= 1 && number <= labels.length) { toggle(item, labels[number - 1]); }
    else { return; }
    event.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  autoSubmit();
  followLive();
  saveRule();
  triage();
});
