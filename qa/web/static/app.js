// The qa chat page. Everything from the server or the reader reaches the page through
// textContent or setAttribute, never as HTML, so markup in a question or an article
// shows as characters and runs nothing.
"use strict";

const $ = (id) => document.getElementById(id);
const articles = new Map(); // id -> GET /articles/{id}, fetched once
let opener = null; // what opened the panel, to return focus to it
let pendingOutlets = new Set(); // outlets asked for in the URL before the list has loaded

// -- building blocks --------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child); // strings become text
  }
  return node;
}

function safeUrl(url) {
  // Only web links: a javascript: or data: url from an article must not become a link.
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function formatDate(published) {
  if (!published) return null;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(published)) return published; // "2022" or "2022-03"
  const date = new Date(published + "T00:00:00Z");
  return date.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

function citation(source) {
  // Title (a link when the url is known), outlet, author, date.
  const url = safeUrl(source.url);
  const title = source.title || source.article_id;
  const cite = el("cite", { class: "source" });
  cite.append(url ? el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, title) : title);
  const date = formatDate(source.published);
  for (const [part, cls] of [[source.outlet, "outlet"], [source.author && "by " + source.author, "author"]]) {
    if (part) cite.append(" · ", el("span", { class: cls }, part));
  }
  if (date) cite.append(" · ", el("time", { datetime: source.published }, date));
  return cite;
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// -- the question and its filters, in the form and in the URL ---------------------

function formParams() {
  const params = new URLSearchParams();
  params.set("q", $("q").value);
  for (const box of document.querySelectorAll("#outlets input:checked")) params.append("outlet", box.value);
  if (!params.has("outlet")) for (const outlet of pendingOutlets) params.append("outlet", outlet);
  if ($("from").value) params.set("published_from", $("from").value);
  if ($("to").value) params.set("published_to", $("to").value);
  params.set("k", $("k").value);
  return params;
}

function applyParams(params) {
  $("q").value = params.get("q") || "";
  const wanted = new Set(params.getAll("outlet"));
  for (const box of document.querySelectorAll("#outlets input")) box.checked = wanted.has(box.value);
  pendingOutlets = wanted;
  $("from").value = params.get("published_from") || "";
  $("to").value = params.get("published_to") || "";
  const k = params.get("k");
  if (k && /^\d+$/.test(k)) {
    if (![...$("k").options].some((o) => o.value === k)) $("k").append(el("option", {}, k));
    $("k").value = k;
  }
  summarizeFilters();
}

function summarizeFilters() {
  const outlets = [...document.querySelectorAll("#outlets input:checked")].map((b) => b.value);
  const parts = [];
  if (outlets.length) parts.push(outlets.join(", "));
  else if (pendingOutlets.size) parts.push([...pendingOutlets].join(", "));
  if ($("from").value || $("to").value) parts.push(`${$("from").value || "…"} to ${$("to").value || "…"}`);
  parts.push(`${$("k").value} answers`);
  $("filter-summary").textContent = "(" + parts.join("; ") + ")";
}

// -- talking to the API -------------------------------------------------------------

class ApiError extends Error {}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  } catch {
    throw new ApiError(
      "Could not reach the qa server: it may have stopped or the network is down. " +
        "Check that `qa serve` is running, then ask again."
    );
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok) return body;
  const detail = (body && typeof body.detail === "string" ? body.detail : response.statusText).replace(/\.$/, "");
  const lead = {
    503: "qa is not ready to answer yet",
    422: "That was not accepted",
    404: "Not found",
  }[response.status] || "The server could not answer";
  const after = response.status === 503 ? " Try again in a few seconds." : "";
  throw new ApiError(`${lead} (${response.status}): ${detail}.${after}`);
}

// -- the conversation --------------------------------------------------------------

function exchange(question) {
  const item = el("li", { class: "exchange" });
  item.append(el("p", { class: "asked" }, el("span", { class: "visually-hidden" }, "You asked: "), question));
  $("log").append(item);
  $("intro").hidden = true;
  return item;
}

function errorLine(text) {
  return el("p", { class: "error", role: "alert" }, text);
}

async function ask(params) {
  const question = params.get("q") || "";
  if (!question.trim()) return;
  const item = exchange(question);
  const waiting = el("p", { class: "waiting" }, "Looking through the articles…");
  item.append(waiting);
  item.setAttribute("aria-busy", "true");
  waiting.scrollIntoView({ block: "nearest" });
  $("submit").disabled = true;
  history.replaceState(null, "", "/?" + params.toString());
  try {
    const result = await call("/ask?" + params.toString());
    waiting.remove();
    showResult(item, result);
    $("q").value = "";
  } catch (error) {
    waiting.remove();
    item.append(errorLine(error.message));
  } finally {
    item.removeAttribute("aria-busy");
    $("submit").disabled = false;
    item.scrollIntoView({ block: "start" }); // the question, then its first answer
  }
}

function showResult(item, result) {
  if (result.abstained || !result.answers.length) {
    const note = el("p", { class: "abstained" },
      "The indexed articles do not answer this question, so qa quotes nothing. ");
    const link = el("button", { type: "button", class: "link" }, "See which articles qa knows");
    link.addEventListener("click", () => showSources(link));
    note.append(link, ".");
    item.append(note);
    return;
  }
  const label = result.answers.length === 1 ? "1 answer" : `${result.answers.length} answers`;
  item.append(el("p", { class: "visually-hidden" }, label));
  const questionId = randomId();
  result.answers.forEach((answer, i) => item.append(answerCard(result.question, answer, i + 1, questionId)));
}

function quoteBlock(quote, url) {
  return el("blockquote", { cite: safeUrl(url) }, el("p", {}, quote));
}

function showButton(source, span) {
  const button = el("button", { type: "button", class: "show" }, "Show in article");
  button.addEventListener("click", () => showArticle(source, span, button));
  return button;
}

function answerCard(question, answer, rank, questionId) {
  const card = el("article", { class: "answer", "aria-label": `Answer ${rank}` });
  card.append(
    el("span", { class: "rank", "aria-hidden": "true" }, String(rank)),
    quoteBlock(answer.quote, answer.source.url),
    citation(answer.source),
  );
  const actions = el("div", { class: "actions" }, showButton(answer.source, answer));
  const note = el("span", { class: "note", role: "status" });
  const votes = [];
  for (const [vote, face, name] of [[1, "👍", "Helpful"], [-1, "👎", "Not helpful"]]) {
    const button = el("button", { type: "button", class: "vote", "aria-pressed": "false", "aria-label": `${name}: answer ${rank}`, title: name }, face);
    button.addEventListener("click", () => sendVote(question, answer, rank, questionId, vote, button, votes, note));
    votes.push(button);
  }
  actions.append(...votes, note);
  card.append(actions);
  if (answer.also_reported_by && answer.also_reported_by.length) card.append(alsoReported(answer.also_reported_by));
  return card;
}

function alsoReported(others) {
  const box = el("div", { class: "also" });
  box.append(el("p", { class: "also-title" }, "Also reported by"));
  const list = el("ul", {});
  for (const other of others) {
    // Each is flat: its source's fields beside its own quote and offsets.
    const summary = el("summary", {}, other.outlet || other.title || other.article_id);
    const details = el("details", {}, summary, quoteBlock(other.quote, other.url), citation(other),
      el("div", { class: "actions" }, showButton(other, other)));
    list.append(el("li", {}, details));
  }
  box.append(list);
  return box;
}

async function sendVote(question, answer, rank, questionId, vote, button, votes, note) {
  note.textContent = "Sending…";
  const body = {
    question_id: questionId, rank, question, vote,
    article_id: answer.source.article_id, start: answer.start, end: answer.end,
  };
  try {
    await call("/feedback", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json", Accept: "application/json" } });
    for (const other of votes) other.setAttribute("aria-pressed", String(other === button));
    note.textContent = vote > 0 ? "Thanks: noted as helpful." : "Thanks: noted as not helpful.";
  } catch (error) {
    note.textContent = "";
    button.closest("article").append(errorLine("Your vote was not saved. " + error.message));
  }
}

// -- the side panel: an article with its quote marked, or the sources ---------------

function openPanel(title, trigger) {
  opener = trigger;
  $("panel-title").textContent = title;
  $("panel-check").replaceChildren();
  $("panel-body").replaceChildren();
  $("panel").hidden = false;
  $("panel").scrollTop = 0;
  document.body.classList.add("panel-open");
  $("sources-button").setAttribute("aria-expanded", String(title === "Sources"));
}

function closePanel() {
  $("panel").hidden = true;
  document.body.classList.remove("panel-open");
  $("sources-button").setAttribute("aria-expanded", "false");
  if (opener && document.contains(opener)) opener.focus();
}

async function article(id) {
  if (!articles.has(id)) articles.set(id, await call("/articles/" + encodeURIComponent(id)));
  return articles.get(id);
}

async function showArticle(source, span, trigger) {
  openPanel(source.title || source.article_id, trigger);
  $("panel-body").append(el("p", { class: "waiting" }, "Opening the article…"));
  let full;
  try {
    full = await article(source.article_id);
  } catch (error) {
    $("panel-body").replaceChildren(errorLine(error.message));
    return;
  }
  // Offsets count Unicode code points (Python's str); JavaScript strings count UTF-16
  // units, so slice an array of code points to land exactly on the quote.
  const chars = Array.from(full.text);
  const mark = el("mark", { id: "quote", tabindex: "-1" }, chars.slice(span.start, span.end).join(""));
  const text = el("div", { class: "article-text", lang: "en" },
    chars.slice(0, span.start).join(""), mark, chars.slice(span.end).join(""));
  $("panel-body").replaceChildren(text);
  $("panel-check").replaceChildren(...checkLine(full, span));
  $("panel-title").focus({ preventScroll: true });
  // Scroll the panel alone, so the conversation stays where the reader left it.
  const panel = $("panel");
  const head = panel.querySelector(".panel-head").offsetHeight;
  const room = panel.clientHeight - head;
  const offset = mark.getBoundingClientRect().top - panel.getBoundingClientRect().top - head;
  panel.scrollTop += offset - Math.max(0, (room - mark.offsetHeight) / 3);
}

function checkLine(full, span) {
  const parts = ["To check it: the marked passage stands in "];
  const where = [full.outlet || "this article", formatDate(full.published)].filter(Boolean).join(", ");
  parts.push(el("strong", {}, where));
  const url = safeUrl(full.url);
  if (url) parts.push(". Compare it with ", el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, "the original"), ".");
  else parts.push("; no link to the original is known.");
  parts.push(el("span", { class: "hint" }, ` Characters ${span.start}–${span.end} of qa's cleaned text.`));
  return parts;
}

async function showSources(trigger) {
  openPanel("Sources", trigger);
  $("panel-title").focus({ preventScroll: true });
  let list;
  try {
    list = await call("/articles");
  } catch (error) {
    $("panel-body").append(errorLine(error.message));
    return;
  }
  const passages = list.reduce((sum, a) => sum + a.passages, 0);
  $("panel-check").textContent = `qa answers from these ${list.length} articles (${passages} passages).`;
  const table = el("table", { class: "sources" },
    el("thead", {}, el("tr", {}, ...["Title", "Outlet", "Date", "Passages"].map((h) => el("th", { scope: "col" }, h)))));
  const body = el("tbody");
  list.sort((a, b) => (a.published || "").localeCompare(b.published || "") || a.article_id.localeCompare(b.article_id));
  for (const a of list) {
    const url = safeUrl(a.url);
    const title = a.title || a.article_id;
    body.append(el("tr", {},
      el("td", {}, url ? el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, title) : title),
      el("td", {}, a.outlet || "—"),
      el("td", {}, a.published ? el("time", { datetime: a.published }, formatDate(a.published)) : "—"),
      el("td", { class: "num" }, String(a.passages))));
  }
  table.append(body);
  $("panel-body").replaceChildren(table);
}

// -- the server's state and the outlets to filter by --------------------------------

async function loadStatus() {
  try {
    const health = await call("/health");
    $("status").textContent = `${health.articles} articles · ${health.passages} passages`;
    await loadOutlets();
  } catch (error) {
    $("status").textContent = error.message.startsWith("qa is not ready") ? "Loading the model and index…" : "Server unreachable";
    setTimeout(loadStatus, 3000);
  }
}

async function loadOutlets() {
  const list = await call("/articles");
  const outlets = [...new Set(list.map((a) => a.outlet).filter(Boolean))].sort((a, b) => a.localeCompare(b));
  const box = $("outlets");
  box.querySelectorAll("label").forEach((l) => l.remove());
  $("outlets-empty").hidden = outlets.length > 0;
  outlets.forEach((outlet, i) => {
    const input = el("input", { type: "checkbox", name: "outlet", value: outlet, id: `outlet-${i}` });
    const wanted = [...pendingOutlets].map((o) => o.toLowerCase());
    input.checked = wanted.includes(outlet.toLowerCase());
    input.addEventListener("change", summarizeFilters);
    box.append(el("label", { for: `outlet-${i}`, class: "check-label" }, input, " ", outlet));
  });
  pendingOutlets = new Set();
  summarizeFilters();
}

// -- wiring -----------------------------------------------------------------------

function start() {
  $("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    ask(formParams());
  });
  for (const button of document.querySelectorAll(".example")) {
    button.addEventListener("click", () => {
      $("q").value = button.textContent;
      ask(formParams());
    });
  }
  for (const id of ["from", "to", "k"]) $(id).addEventListener("change", summarizeFilters);
  $("clear").addEventListener("click", () => {
    for (const box of document.querySelectorAll("#outlets input")) box.checked = false;
    pendingOutlets = new Set();
    $("from").value = "";
    $("to").value = "";
    $("k").value = "5";
    summarizeFilters();
  });
  $("sources-button").addEventListener("click", () => showSources($("sources-button")));
  $("close").addEventListener("click", closePanel);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("panel").hidden) closePanel();
    const typing = event.target.closest("input, select, textarea");
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("q").focus();
    }
  });
  const params = new URLSearchParams(location.search);
  applyParams(params);
  loadStatus();
  if (params.get("q")) ask(formParams());
  else $("q").focus();
}

start();
