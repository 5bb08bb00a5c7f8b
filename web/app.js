// The MAS web chat. Talks to the same API as any client: POST /chat/stream
// (AI SDK UI message stream v1 over SSE), GET /api/runs/{id}/stream with
// Last-Event-ID to resume, POST /api/runs/{id}/cancel, and /api/sessions.
// Model output and tool results are untrusted: Markdown is rendered with
// marked and sanitised with DOMPurify before it touches the page.

import { marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";
import { api, csrfHeaders, el, viewer } from "./shared.js";

marked.setOptions({ gfm: true, breaks: false });

// Links in model output open elsewhere and cannot reach back to this page.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const $ = (id) => document.getElementById(id);
const els = {
  sessions: $("sessions"),
  messages: $("messages"),
  empty: $("empty"),
  form: $("composer"),
  input: $("composer-input"),
  send: $("send"),
  stop: $("stop"),
  status: $("status"),
  title: $("title"),
  sidebar: $("sidebar"),
  toggle: $("toggle-sidebar"),
  temporary: $("temporary"),
  temporaryBox: $("temporary-box"),
  temporaryBadge: $("temporary-badge"),
  search: $("session-search"),
  query: $("session-query"),
  results: $("search-results"),
  usage: $("usage"),
  exports: $("exports"),
  exportMd: $("export-md"),
  exportJson: $("export-json"),
};

const state = {
  sessionId: document.body.dataset.session || null,
  run: null, // the run being shown live: { runId, lastEventId, view, controller }
  info: null, // GET /api/status
  lastUser: null,
};

// ---------------------------------------------------------------- helpers

function renderMarkdown(target, text) {
  target.innerHTML = DOMPurify.sanitize(marked.parse(text), {
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
    FORBID_ATTR: ["style"],
  });
  for (const pre of target.querySelectorAll("pre")) {
    const copy = el("button", { type: "button", class: "copy", "aria-label": "Copy code", text: "Copy" });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(pre.querySelector("code")?.textContent ?? pre.textContent);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Copy failed";
      }
      setTimeout(() => (copy.textContent = "Copy"), 1500);
    });
    pre.classList.add("has-copy");
    pre.append(copy);
  }
}

function setStatus(text) {
  els.status.textContent = text;
}

function idleStatus() {
  const info = state.info;
  if (!info) return setStatus("");
  if (info.offline) {
    setStatus(
      "Offline mode: no LLM is configured, so the offline planner answers from the tools. " +
        "Set GOOGLE_API_KEY, OPENAI_API_KEY (or OPENAI_BASE_URL) or ANTHROPIC_API_KEY and restart to use a model.",
    );
  } else {
    setStatus(`Ready: ${info.provider} · ${info.model}`);
  }
}

function modelLabel() {
  const info = state.info;
  if (!info) return "";
  return info.offline ? "offline planner" : `${info.provider} · ${info.model}`;
}

function scrollToEnd() {
  const m = els.messages;
  if (m.scrollHeight - m.scrollTop - m.clientHeight < 160) m.scrollTop = m.scrollHeight;
}

// ------------------------------------------------------------- SSE reading

// A small reader for the server's own SSE (fetch gives us POST bodies and a
// Last-Event-ID header, which EventSource cannot). Yields { id, data }.
async function* sse(response, signal) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = null;
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") id = value;
          else if (field === "data") data.push(value);
        }
        if (data.length) yield { id, data: data.join("\n") };
      }
      if (signal?.aborted) break;
    }
  } finally {
    reader.releaseLock();
  }
}

// ------------------------------------------------------------ message views

function userView(text, id) {
  const body = el("div", { class: "body", text });
  return el("article", { class: "message user", "aria-label": "You", id: id && `m-${id}` }, body);
}

// An assistant message: agent notes, tool cards and Markdown text, in order.
class AssistantView {
  constructor() {
    this.root = el("article", { class: "message assistant", "aria-label": "Assistant" });
    this.parts = el("div", { class: "parts" });
    this.root.append(this.parts);
    this.texts = new Map(); // text part id -> { node, text }
    this.tools = new Map(); // tool call id -> card
    this.reasoning = new Map();
    this.pending = new Set();
    this.frame = null;
  }

  agent(title) {
    this.parts.append(el("p", { class: "handoff", text: `${title} is answering` }));
  }

  // Remembers where a model step begins, in case it is discarded.
  stepStart() {
    this.stepMark = this.parts.childNodes.length;
  }

  // The step was interrupted (its replica stopped) and starts again
  // elsewhere: what it showed so far goes.
  discardStep() {
    const mark = this.stepMark ?? this.parts.childNodes.length;
    const kept = new Set([...this.parts.childNodes].slice(0, mark));
    for (const node of [...this.parts.childNodes].slice(mark)) node.remove();
    for (const map of [this.texts, this.reasoning]) {
      for (const [id, part] of map) if (!kept.has(part.node ?? part.body?.parentNode)) map.delete(id);
    }
    for (const [id, card] of this.tools) if (!kept.has(card.root)) this.tools.delete(id);
    this.pending.clear();
  }

  textStart(id) {
    const node = el("div", { class: "markdown" });
    this.parts.append(node);
    this.texts.set(id, { node, text: "" });
  }

  textDelta(id, delta) {
    if (!this.texts.has(id)) this.textStart(id);
    const part = this.texts.get(id);
    part.text += delta;
    this.pending.add(part);
    // Re-render at most once a frame, however fast tokens arrive.
    this.frame ??= requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = null;
    for (const part of this.pending) renderMarkdown(part.node, part.text);
    this.pending.clear();
    scrollToEnd();
  }

  reasoningDelta(id, delta) {
    let part = this.reasoning.get(id);
    if (!part) {
      const body = el("div", { class: "reasoning-body" });
      const box = el("details", { class: "reasoning" }, el("summary", { text: "Thinking" }), body);
      this.parts.append(box);
      part = { body, text: "" };
      this.reasoning.set(id, part);
    }
    part.text += delta;
    part.body.textContent = part.text;
  }

  toolStart(id, name) {
    if (this.tools.has(id)) return this.tools.get(id);
    // A handoff is shown as "… is answering", not as a tool.
    if (name.startsWith("transfer_to_")) return new ToolCard(id, name);
    const card = new ToolCard(id, name);
    this.tools.set(id, card);
    this.parts.append(card.root);
    return card;
  }

  // The user's memories the model was given from this step on.
  memories(list) {
    this.memoryBox?.remove();
    if (!list.length) return;
    const count = `Using ${list.length} ${list.length === 1 ? "memory" : "memories"}`;
    this.memoryBox = el(
      "details",
      { class: "memory-used" },
      el("summary", { text: count }),
      el("ul", {}, ...list.map((m) => el("li", { text: m.text }))),
      el("a", { href: "/memory", text: "See and manage what is remembered" }),
    );
    this.parts.prepend(this.memoryBox);
  }

  note(text, kind = "note") {
    this.parts.append(el("p", { class: kind, role: kind === "error" ? "alert" : null, text }));
  }

  finish() {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.flush();
    }
    this.root.classList.remove("streaming");
  }
}

class ToolCard {
  constructor(id, name) {
    this.id = id;
    this.name = name;
    this.inputText = "";
    this.summaryName = el("span", { class: "tool-name", text: name });
    this.summaryArgs = el("span", { class: "tool-args" });
    this.badge = el("span", { class: "badge running", text: "running" });
    this.duration = el("span", { class: "duration" });
    this.args = el("pre", { class: "json" });
    this.result = el("div", { class: "tool-result" });
    this.root = el(
      "details",
      { class: "tool", "data-tool-call": id },
      el("summary", {}, this.summaryName, this.summaryArgs, this.badge, this.duration),
      el("div", { class: "tool-body" }, el("h4", { text: "Arguments" }), this.args, el("h4", { text: "Result" }), this.result),
    );
  }

  inputDelta(delta) {
    this.inputText += delta;
    this.args.textContent = this.inputText;
  }

  input(value) {
    this.args.textContent = JSON.stringify(value, null, 2);
    const short = Object.entries(value || {})
      .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(", ");
    this.summaryArgs.textContent = short ? `(${short.length > 80 ? short.slice(0, 77) + "…" : short})` : "";
  }

  output(value) {
    this.setStatus("ok");
    this.result.replaceChildren(resultView(value));
  }

  error(text) {
    this.setStatus(text === "cancelled" ? "cancelled" : "error");
    this.result.replaceChildren(el("pre", { class: "error-text", text }));
    if (text !== "cancelled") this.root.open = true;
  }

  setStatus(status) {
    this.badge.className = `badge ${status}`;
    this.badge.textContent = status;
  }

  timing(ms) {
    this.duration.textContent = `${ms} ms`;
  }
}

function osmLink(school) {
  const { latitude: lat, longitude: lon } = school;
  if (typeof lat !== "number" || typeof lon !== "number") return null;
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
}

function cell(value) {
  return el("td", { text: value === null || value === undefined ? "—" : String(value) });
}

// A tool result: school lists as a table with a link per school; anything
// else as indented JSON (text content, never HTML).
function resultView(value) {
  const schools = Array.isArray(value?.schools) ? value.schools : null;
  if (schools && schools.length) {
    const head = el("tr", {}, ...["School", "ID", "County / district", "Level", "Ownership", "Enrolment"].map((h) => el("th", { scope: "col", text: h })));
    const rows = schools.map((s) => {
      const href = osmLink(s);
      const name = href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: s.name }) : document.createTextNode(s.name ?? "");
      return el("tr", {}, el("td", {}, name), cell(s.id), cell(s.county), cell(s.level), cell(s.ownership), cell(s.enrolment));
    });
    const table = el("table", { class: "schools" }, el("thead", {}, head), el("tbody", {}, ...rows));
    const wrap = el("div", { class: "table-wrap" }, table);
    if (typeof value.total === "number" && value.total > schools.length) {
      wrap.append(el("p", { class: "note", text: `${schools.length} of ${value.total} shown` }));
    }
    return wrap;
  }
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return el("pre", { class: "json", text: text.length > 20000 ? text.slice(0, 20000) + "\n…" : text });
}

// Renders one protocol part into a view. Returns "done" at the end.
function apply(view, part) {
  switch (part.type) {
    case "data-run":
      onRunStarted(part.data.runId, part.data.sessionId);
      break;
    case "data-agent":
      view.agent(part.data.title);
      setStatus(`${part.data.title} is answering (${modelLabel()})`);
      break;
    case "start-step":
      view.stepStart();
      break;
    case "data-memory":
      view.memories(part.data.memories || []);
      break;
    case "data-step-discarded":
      view.discardStep();
      break;
    case "text-start":
      view.textStart(part.id);
      break;
    case "text-delta":
      view.textDelta(part.id, part.delta);
      break;
    case "reasoning-delta":
      view.reasoningDelta(part.id, part.delta);
      break;
    case "tool-input-start":
      view.toolStart(part.toolCallId, part.toolName);
      break;
    case "tool-input-delta":
      view.tools.get(part.toolCallId)?.inputDelta(part.inputTextDelta);
      break;
    case "tool-input-available":
      view.toolStart(part.toolCallId, part.toolName).input(part.input);
      break;
    case "tool-output-available":
      view.tools.get(part.toolCallId)?.output(part.output);
      break;
    case "tool-output-error":
      view.tools.get(part.toolCallId)?.error(part.errorText);
      break;
    case "data-tool-timing":
      view.tools.get(part.data.toolCallId)?.timing(part.data.durationMs);
      break;
    case "data-cancelled":
      view.note("Stopped. The answer so far is kept.", "note");
      break;
    case "error":
      view.note(part.errorText, "error");
      break;
  }
  scrollToEnd();
}

// ------------------------------------------------------------------- runs

// The temporary-chat switch shows on a new chat; a temporary conversation says so.
function showTemporary(switchShown, temporary) {
  els.temporaryBox.hidden = !switchShown;
  if (switchShown) els.temporary.checked = false;
  els.temporaryBadge.hidden = !temporary;
}

function onRunStarted(runId, sessionId) {
  state.run.runId = runId;
  if (state.sessionId !== sessionId) {
    state.sessionId = sessionId;
    showTemporary(false, els.temporary.checked);
    els.title.textContent = state.lastUser.length > 60 ? `${state.lastUser.slice(0, 60)}…` : state.lastUser;
    history.replaceState({ sessionId }, "", `/c/${sessionId}`);
    loadSessions();
  }
  setBusy(true);
}

function setBusy(busy) {
  els.send.hidden = busy;
  els.stop.hidden = !busy || !state.run?.runId;
  els.form.setAttribute("aria-busy", busy ? "true" : "false");
  document.querySelectorAll(".regenerate").forEach((b) => (b.disabled = busy));
}

// Reads a run's stream into `view` until [DONE]; reconnects with
// Last-Event-ID when the connection drops, so nothing is lost or repeated.
async function follow(view, response) {
  const run = state.run;
  for (let attempt = 0; ; attempt++) {
    try {
      for await (const event of sse(response, run.controller.signal)) {
        if (event.id) run.lastEventId = event.id;
        if (event.data === "[DONE]") return "done";
        apply(view, JSON.parse(event.data));
      }
    } catch (error) {
      if (run.controller.signal.aborted) return "left";
    }
    if (run.controller.signal.aborted || state.run !== run) return "left";
    if (!run.runId || attempt >= 20) {
      view.note("The connection was lost. Reload the page to see the answer.", "error");
      return "lost";
    }
    setStatus("Connection lost; reconnecting…");
    await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, 4000)));
    try {
      response = await fetch(`/api/runs/${run.runId}/stream`, {
        headers: run.lastEventId ? { "last-event-id": run.lastEventId } : {},
        signal: run.controller.signal,
      });
      if (response.status === 404 || response.status === 410) {
        await openSession(state.sessionId, { keepRun: false });
        return "reloaded";
      }
      if (!response.ok) throw new Error(String(response.status));
    } catch {
      response = new Response("");
    }
  }
}

async function runInto(view, response) {
  els.messages.append(view.root);
  view.root.classList.add("streaming");
  const outcome = await follow(view, response);
  view.finish();
  if (outcome === "done" || outcome === "lost") {
    state.run = null;
    setBusy(false);
    idleStatus();
    addRegenerate();
    loadSessions();
  }
}

async function send(text) {
  text = text.trim();
  if (!text || state.run) return;
  els.empty.hidden = true;
  els.messages.append(userView(text));
  state.lastUser = text;
  els.input.value = "";
  autosize();
  removeRegenerate();
  const view = new AssistantView();
  state.run = { runId: null, lastEventId: null, view, controller: new AbortController() };
  setBusy(true);
  setStatus(`Sending… (${modelLabel()})`);
  let response;
  try {
    response = await fetch("/chat/stream", {
      method: "POST",
      headers: { "content-type": "application/json", ...csrfHeaders() },
      body: JSON.stringify(
        state.sessionId
          ? { message: text, session_id: state.sessionId }
          : { message: text, temporary: els.temporary.checked },
      ),
      signal: state.run.controller.signal,
    });
  } catch (error) {
    response = null;
  }
  if (!response || !response.ok) {
    let message = "The message could not be sent; check the connection and try again.";
    try {
      message = (await response.json()).error.message;
    } catch {}
    view.note(message, "error");
    els.messages.append(view.root);
    state.run = null;
    setBusy(false);
    idleStatus();
    return;
  }
  await runInto(view, response);
}

async function stop() {
  const run = state.run;
  if (!run?.runId) return;
  els.stop.disabled = true;
  setStatus("Stopping…");
  try {
    await api(`/api/runs/${run.runId}/cancel`, { method: "POST" });
  } catch (error) {
    if (error.status !== 409) setStatus(`Could not stop: ${error.message}`);
  } finally {
    els.stop.disabled = false;
  }
}

function removeRegenerate() {
  document.querySelectorAll(".regenerate").forEach((b) => b.remove());
}

function addRegenerate() {
  removeRegenerate();
  const last = els.messages.querySelector(".message.assistant:last-of-type");
  if (!last || !state.lastUser) return;
  const button = el("button", { type: "button", class: "button regenerate", text: "Regenerate" });
  button.addEventListener("click", () => send(state.lastUser));
  last.append(button);
}

// ---------------------------------------------------------------- sessions

function historyView(message) {
  const view = new AssistantView();
  view.root.id = `m-${message.id}`;
  if (message.agent) view.root.dataset.agent = message.agent;
  for (const call of message.tool_calls || []) {
    const card = view.toolStart(call.call_id, call.name);
    try {
      card.input(JSON.parse(call.arguments));
    } catch {
      card.args.textContent = call.arguments;
    }
    if (call.status === "ok") {
      let value = call.result;
      try {
        value = JSON.parse(call.result);
      } catch {}
      card.output(value);
    } else if (call.status !== "running") {
      card.error(call.result || call.status);
    }
    if (call.duration_ms !== null && call.duration_ms !== undefined) card.timing(call.duration_ms);
  }
  if (message.content) {
    view.textStart("saved");
    view.texts.get("saved").text = message.content;
    renderMarkdown(view.texts.get("saved").node, message.content);
  }
  if (message.status === "cancelled") view.note("Stopped. The answer so far is kept.");
  if (message.status === "failed") view.note("This answer failed before it was complete.", "error");
  return view;
}

// "12,345 tokens · about $0.0123", from the session's usage; a figure
// not reported is not shown as 0.
function usageText(usage) {
  if (!usage || usage.input_tokens === null || usage.input_tokens === undefined) return "";
  const tokens = (usage.input_tokens + usage.output_tokens).toLocaleString("en");
  let text = `${tokens} tokens`;
  if (usage.runs_with_tokens < usage.runs) text += ` (${usage.runs_with_tokens} of ${usage.runs} answers counted)`;
  if (usage.cost_usd !== null && usage.cost_usd !== undefined) text += ` · about $${usage.cost_usd.toFixed(usage.cost_usd < 1 ? 4 : 2)}`;
  return text;
}

function showConversationBar(session, usage) {
  els.usage.hidden = !session;
  els.exports.hidden = !session;
  if (!session) return;
  els.usage.textContent = usageText(usage);
  els.usage.title = "Input and output tokens of this conversation's answers, and their estimated cost at list prices";
  const base = `/api/sessions/${encodeURIComponent(session.id)}/export`;
  els.exportMd.href = `${base}?format=markdown`;
  els.exportJson.href = `${base}?format=json`;
}

async function openSession(id, { keepRun = true, message = null } = {}) {
  if (state.run) state.run.controller.abort();
  state.run = null;
  setBusy(false);
  state.sessionId = id;
  els.messages.replaceChildren(els.empty);
  els.empty.hidden = !!id;
  els.title.textContent = "New chat";
  state.lastUser = null;
  showTemporary(!id, false);
  showConversationBar(null);
  highlightSession();
  if (!id) {
    idleStatus();
    return;
  }
  let data;
  try {
    data = await api(`/api/sessions/${encodeURIComponent(id)}`);
  } catch (error) {
    els.empty.hidden = false;
    setStatus(error.status === 404 ? "That conversation no longer exists." : `Could not load the conversation: ${error.message}`);
    return;
  }
  els.title.textContent = data.session.title || "Untitled";
  showTemporary(false, data.session.temporary);
  showConversationBar(data.session, data.usage);
  document.title = `${data.session.title} — MAS`;
  if (data.summary) {
    // What the model reads the older turns as (they are all still shown below).
    const note = el("details", { class: "earlier" }, el("summary", { text: `Earlier in this conversation (${data.summary.turns} turns, as the model now reads them)` }));
    const body = el("div", { class: "markdown" });
    renderMarkdown(body, data.summary.text);
    note.append(body);
    els.messages.append(note);
  }
  const messages = data.messages;
  const last = messages[messages.length - 1];
  const live = keepRun && last?.role === "assistant" && last.status === "streaming" && last.run_id;
  for (const message of live ? messages.slice(0, -1) : messages) {
    if (message.role === "user") {
      els.messages.append(userView(message.content, message.id));
      state.lastUser = message.content;
    } else {
      els.messages.append(historyView(message).root);
    }
  }
  const found = message && document.getElementById(`m-${message}`);
  if (found) {
    found.classList.add("found");
    found.scrollIntoView({ block: "center" });
  } else {
    els.messages.scrollTop = els.messages.scrollHeight;
  }
  if (!live) {
    idleStatus();
    addRegenerate();
    return;
  }
  // The answer is still being written: replay its run from the start (the
  // page has nothing of it yet), then follow it live.
  const view = new AssistantView();
  state.run = { runId: last.run_id, lastEventId: null, view, controller: new AbortController() };
  setBusy(true);
  setStatus(`Resuming the answer… (${modelLabel()})`);
  let response;
  try {
    response = await fetch(`/api/runs/${last.run_id}/stream`, { signal: state.run.controller.signal });
  } catch {
    response = new Response("");
  }
  if (response.status === 404 || response.status === 410) {
    state.run = null;
    setBusy(false);
    els.messages.append(historyView(last).root);
    idleStatus();
    return;
  }
  await runInto(view, response);
}

function highlightSession() {
  for (const item of els.sessions.querySelectorAll("li")) {
    const current = item.dataset.id === state.sessionId;
    item.classList.toggle("current", current);
    item.querySelector("a")?.setAttribute("aria-current", current ? "page" : "false");
  }
}

async function loadSessions() {
  let data;
  try {
    data = await api("/api/sessions?limit=100");
  } catch {
    return;
  }
  els.sessions.replaceChildren(
    ...data.sessions.map((s) => {
      const link = el("a", { href: `/c/${s.id}`, class: "session-link", text: s.title || "Untitled" });
      link.addEventListener("click", (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        history.pushState({ sessionId: s.id }, "", `/c/${s.id}`);
        closeSidebar();
        openSession(s.id);
      });
      const pin = el("button", {
        type: "button",
        class: "icon pin",
        "aria-pressed": String(s.pinned),
        "aria-label": `${s.pinned ? "Unpin" : "Pin"} “${s.title}”`,
        title: s.pinned ? "Unpin" : "Pin to the top",
        text: "📌",
      });
      const rename = el("button", { type: "button", class: "icon", "aria-label": `Rename “${s.title}”`, title: "Rename", text: "✎" });
      const remove = el("button", { type: "button", class: "icon", "aria-label": `Delete “${s.title}”`, title: "Delete", text: "✕" });
      const item = el("li", { "data-id": s.id, class: s.pinned ? "pinned" : null }, link, pin, rename, remove);
      pin.addEventListener("click", async () => {
        try {
          await api(`/api/sessions/${s.id}`, { method: "PATCH", body: JSON.stringify({ pinned: !s.pinned }) });
        } catch (error) {
          setStatus(`Could not pin: ${error.message}`);
        }
        loadSessions();
      });
      rename.addEventListener("click", () => startRename(item, s));
      remove.addEventListener("click", async () => {
        if (!confirm(`Delete “${s.title}” and all its messages?`)) return;
        try {
          await api(`/api/sessions/${s.id}`, { method: "DELETE" });
        } catch (error) {
          setStatus(`Could not delete: ${error.message}`);
          return;
        }
        if (state.sessionId === s.id) {
          history.pushState({}, "", "/");
          openSession(null);
        }
        loadSessions();
      });
      return item;
    }),
  );
  highlightSession();
}

function startRename(item, session) {
  const input = el("input", { type: "text", value: session.title, "aria-label": "New title", maxlength: "200" });
  const link = item.querySelector("a");
  link.hidden = true;
  item.prepend(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    input.remove();
    link.hidden = false;
    if (!save || !title || title === session.title) return;
    try {
      await api(`/api/sessions/${session.id}`, { method: "PATCH", body: JSON.stringify({ title }) });
      if (state.sessionId === session.id) els.title.textContent = title;
    } catch (error) {
      setStatus(`Could not rename: ${error.message}`);
    }
    loadSessions();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(true);
    if (event.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

// ------------------------------------------------------------------ search

// The hits of a search: each conversation with its matching messages, the
// matched words marked (text only: a snippet is never HTML).
function searchResults(query, sessions) {
  if (!sessions.length) return [el("li", { class: "none", text: `No conversation mentions “${query}”.` })];
  return sessions.map((s) => {
    const item = el("li", { "data-id": s.id }, el("div", { class: "result-title", text: s.title || "Untitled" }));
    for (const hit of s.hits) {
      const snippet = el("a", { class: "snippet", href: `/c/${s.id}#m-${hit.message_id}` });
      snippet.append(el("span", { class: "who", text: hit.role === "user" ? "You: " : "Answer: " }));
      for (const part of hit.snippet) snippet.append(part.hit ? el("mark", { text: part.text }) : document.createTextNode(part.text));
      snippet.addEventListener("click", (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        history.pushState({ sessionId: s.id }, "", `/c/${s.id}#m-${hit.message_id}`);
        closeSidebar();
        openSession(s.id, { message: hit.message_id });
      });
      item.append(snippet);
    }
    return item;
  });
}

let searching = null;
async function runSearch() {
  const query = els.query.value.trim();
  if (searching) searching.abort();
  if (!query) {
    els.results.hidden = true;
    els.sessions.hidden = false;
    return;
  }
  searching = new AbortController();
  let data;
  try {
    data = await api(`/api/sessions?limit=20&q=${encodeURIComponent(query)}`, { signal: searching.signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    els.results.replaceChildren(el("li", { class: "none", text: `Search failed: ${error.message}` }));
    els.results.hidden = false;
    return;
  }
  els.results.replaceChildren(...searchResults(query, data.sessions));
  els.results.hidden = false;
  els.sessions.hidden = true;
}

let searchTimer = null;
els.query.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 200);
});
els.search.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(searchTimer);
  runSearch();
});

// ------------------------------------------------------------------ layout

function autosize() {
  els.input.style.height = "auto";
  els.input.style.height = `${Math.min(els.input.scrollHeight, 240)}px`;
}

function closeSidebar() {
  document.body.classList.remove("sidebar-open");
  els.toggle.setAttribute("aria-expanded", "false");
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
    closeSidebar();
    els.toggle.focus();
  }
});
els.messages.addEventListener("click", closeSidebar);

els.toggle.addEventListener("click", () => {
  const open = document.body.classList.toggle("sidebar-open");
  els.toggle.setAttribute("aria-expanded", String(open));
});

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  send(els.input.value);
});

els.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!state.run) send(els.input.value);
  }
});
els.input.addEventListener("input", autosize);
els.stop.addEventListener("click", stop);

for (const button of document.querySelectorAll(".example")) {
  button.addEventListener("click", () => send(button.textContent));
}

document.getElementById("new-chat").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState({}, "", "/");
  closeSidebar();
  openSession(null);
  els.input.focus();
});

window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/c\/([^/]+)$/);
  openSession(match ? decodeURIComponent(match[1]) : null);
});

function showAccount() {
  if (!viewer.me?.signed_in) return;
  const out = el("button", { type: "button", class: "button", text: "Sign out" });
  out.addEventListener("click", async () => {
    try {
      await api("/logout", { method: "POST" });
    } finally {
      location.href = "/login";
    }
  });
  els.sidebar.append(el("div", { class: "account" }, el("span", { text: viewer.me.username }), out));
}

async function start() {
  try {
    [viewer.me, state.info] = await Promise.all([api("/api/auth/me"), api("/api/status")]);
  } catch (error) {
    if (error.status === 401) {
      location.href = "/login";
      return;
    }
    setStatus("The server cannot be reached.");
    return;
  }
  showAccount();
  idleStatus();
  loadSessions();
  const hash = location.hash.match(/^#m-(.+)$/);
  await openSession(state.sessionId, { message: hash ? decodeURIComponent(hash[1]) : null });
  els.input.focus();
}

start();
