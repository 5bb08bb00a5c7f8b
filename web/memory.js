// The Memory page: the user's profile and memories, over the same API any
// client uses (GET|PUT /api/profile; GET|POST|PATCH|DELETE /api/memory,
// GET /api/memory/export). Memory text is the user's (or a model's): it is
// only ever set as text content.

import { api, el, whoAmI } from "./shared.js";

const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);

const RETENTION = { session: "This conversation", short: "Short term", long: "Long term", pinned: "Pinned" };
const ORIGIN = { told: "you wrote it", tool: "saved by the assistant", extracted: "learnt from a conversation" };

// ------------------------------------------------------------------ profile

async function loadProfile() {
  const profile = await api("/api/profile");
  const form = $("profile");
  for (const name of ["display_name", "role", "country", "county", "language", "detail"]) {
    form.elements[name].value = profile[name] ?? "";
  }
  form.elements.memory_enabled.checked = profile.memory_enabled;
}

$("profile").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const value = (name) => form.elements[name].value.trim() || null;
  const profile = {
    display_name: value("display_name"),
    role: value("role"),
    country: value("country"),
    county: value("county"),
    language: value("language"),
    detail: value("detail"),
    memory_enabled: form.elements.memory_enabled.checked,
  };
  try {
    await api("/api/profile", { method: "PUT", body: JSON.stringify(profile) });
    await loadProfile();
    status("Profile saved.");
  } catch (error) {
    status(`The profile was not saved: ${error.message}`);
  }
});

// ----------------------------------------------------------------- memories

function when(ms) {
  return new Date(ms).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function source(memory) {
  const from = el("span", { class: "source", text: `${ORIGIN[memory.origin] ?? memory.origin}, ${when(memory.created_at)}` });
  if (memory.source?.session_id) {
    from.append(" · ", el("a", { href: `/c/${memory.source.session_id}`, text: "open the conversation" }));
  }
  if (memory.source?.tool_call_id) from.append(" · from a tool result");
  return from;
}

function memoryItem(memory) {
  const text = el("p", { class: "memory-text", text: memory.text });
  const retention = el("select", { "aria-label": "Keep it" });
  for (const [value, label] of Object.entries(RETENTION)) {
    if (value === "session" && memory.retention !== "session") continue;
    retention.append(el("option", { value, text: label, selected: value === memory.retention }));
  }
  const edit = el("button", { type: "button", class: "button", text: "Edit" });
  const pin = el("button", { type: "button", class: "button", text: memory.retention === "pinned" ? "Unpin" : "Pin" });
  const remove = el("button", { type: "button", class: "button danger", text: "Delete" });
  const item = el(
    "li",
    { class: "memory", "data-id": memory.id },
    text,
    el("div", { class: "memory-meta" }, el("span", { class: "badge", text: memory.kind }), source(memory)),
    el("div", { class: "memory-actions" }, retention, pin, edit, remove),
  );
  const change = async (patch, done) => {
    try {
      await api(`/api/memory/${encodeURIComponent(memory.id)}`, { method: "PATCH", body: JSON.stringify(patch) });
      status(done);
      await loadMemories();
    } catch (error) {
      status(`Not changed: ${error.message}`);
    }
  };
  retention.addEventListener("change", () => change({ retention: retention.value }, "Kept as asked."));
  pin.addEventListener("click", () =>
    change({ retention: memory.retention === "pinned" ? "long" : "pinned" }, memory.retention === "pinned" ? "Unpinned." : "Pinned."),
  );
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete “${memory.text}”?`)) return;
    try {
      await api(`/api/memory/${encodeURIComponent(memory.id)}`, { method: "DELETE" });
      status("Deleted.");
      await loadMemories();
    } catch (error) {
      status(`Not deleted: ${error.message}`);
    }
  });
  edit.addEventListener("click", () => {
    const box = el("textarea", { class: "memory-edit", maxlength: "2000", "aria-label": "The memory" });
    box.value = memory.text;
    const save = el("button", { type: "button", class: "button primary", text: "Save" });
    const cancel = el("button", { type: "button", class: "button", text: "Cancel" });
    const editor = el("div", { class: "memory-editor" }, box, save, cancel);
    text.replaceWith(editor);
    box.focus();
    cancel.addEventListener("click", () => editor.replaceWith(text));
    save.addEventListener("click", () => change({ text: box.value }, "Saved."));
  });
  return item;
}

let searching = 0;

async function loadMemories() {
  const query = $("memory-search").value.trim();
  const ticket = ++searching;
  const data = await api(`/api/memory?limit=200${query ? `&q=${encodeURIComponent(query)}` : ""}`);
  if (ticket !== searching) return;
  $("memories").replaceChildren(...data.memories.map(memoryItem));
  const shown = data.memories.length;
  $("memory-count").textContent = query
    ? `${data.total} ${data.total === 1 ? "memory matches" : "memories match"} “${query}”.`
    : data.total === 0
      ? "Nothing is remembered yet."
      : `${data.total} ${data.total === 1 ? "memory" : "memories"}${shown < data.total ? ` (${shown} shown)` : ""}.`;
  if (!data.enabled) status("Memory is turned off on this server: nothing new is remembered.");
}

$("memory-search").addEventListener("input", () => loadMemories().catch((e) => status(e.message)));

$("add-memory").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("new-memory").value.trim();
  if (!text) return;
  try {
    await api("/api/memory", { method: "POST", body: JSON.stringify({ text, retention: $("new-retention").value }) });
    $("new-memory").value = "";
    status("Remembered.");
    await loadMemories();
  } catch (error) {
    status(`Not remembered: ${error.message}`);
  }
});

$("delete-all").addEventListener("click", async () => {
  if (!confirm("Delete everything MAS remembers about you?")) return;
  try {
    const { deleted } = await api("/api/memory", { method: "DELETE" });
    status(`Deleted ${deleted} ${deleted === 1 ? "memory" : "memories"}.`);
    await loadMemories();
  } catch (error) {
    status(`Not deleted: ${error.message}`);
  }
});

async function start() {
  try {
    await whoAmI();
    await Promise.all([loadProfile(), loadMemories()]);
    status("");
  } catch (error) {
    if (error.status === 403) status("This sign-in cannot manage memory.");
    else if (error.status !== 401) status(`The server cannot be reached: ${error.message}`);
  }
}

start();
