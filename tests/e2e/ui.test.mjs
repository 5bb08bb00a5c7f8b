// The web UI in a real browser: headless Debian Chromium driven by
// playwright-core, against the built chat-server binary on loopback ports.
// Two servers: one in offline mode (the offline planner and the real EMIS
// tools), one whose model is a local fake speaking OpenAI's streaming wire
// format, scripted by the question (slow answers, hostile Markdown); and,
// for one test, two replicas sharing PostgreSQL and Redis.
//
// Run: MAS_CHAT_BIN=target/debug/chat-server node --test tests/e2e/ui.test.mjs
// SCREENSHOTS=docs/screenshots also writes the README's screenshots.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.MAS_CHAT_BIN || "target/debug/chat-server";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOTS = process.env.SCREENSHOTS || "";

// ------------------------------------------------------------ fake model

const SLOW_WORDS = Array.from({ length: 60 }, (_, i) => `w${i}`);
const SLOW_TEXT = SLOW_WORDS.join(" ");
const HOSTILE = [
  "Here is a table:",
  "",
  "| a | b |",
  "|---|---|",
  "| 1 | 2 |",
  "",
  "<script>window.__xss = 'script'</script>",
  '<img src="x" onerror="window.__xss = \'img\'">',
  "[click me](javascript:window.__xss='link')",
  '<a href="javascript:window.__xss=\'raw\'">raw link</a>',
  '<iframe src="javascript:window.__xss=\'frame\'"></iframe>',
  "",
  "```js",
  "console.log('code')",
  "```",
].join("\n");

function chunk(delta, finish = null) {
  return `data: ${JSON.stringify({ id: "chatcmpl-e2e", object: "chat.completion.chunk", created: 1, model: "fake-e2e", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

function fakeModel() {
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const piece of req) body += piece;
    let question = "";
    try {
      const messages = JSON.parse(body).messages;
      question = messages.filter((m) => m.role === "user").pop()?.content ?? "";
    } catch {}
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    let words;
    let gap = 0;
    if (question.includes("slowly")) {
      words = SLOW_WORDS.map((w, i) => (i === 0 ? w : ` ${w}`));
      gap = 80;
    } else if (question.includes("hostile")) {
      words = HOSTILE.match(/[\s\S]{1,12}/g);
    } else {
      words = ["A short ", "answer."];
    }
    let closed = false;
    req.on("close", () => (closed = true));
    res.write(chunk({ role: "assistant", content: "" }));
    for (const word of words) {
      if (closed) return;
      if (gap) await new Promise((r) => setTimeout(r, gap));
      res.write(chunk({ content: word }));
    }
    res.write(chunk({}, "stop"));
    res.end("data: [DONE]\n\n");
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// --------------------------------------------------------------- servers

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startChat(name, env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mas-e2e-${name}-`));
  const ready = name === "secured" ? "/health" : "/ready";
  const port = await freePort();
  const child = spawn(BIN, ["serve"], {
    env: {
      PATH: process.env.PATH,
      CHAT_HOST: "127.0.0.1",
      CHAT_PORT: String(port),
      DATABASE_URL: `sqlite://${dir}/chat.db`,
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} chat-server exited: ${output}`);
    try {
      if ((await fetch(`${base}${ready}`)).ok) return { base, child, dir, output: () => output };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${name} chat-server did not become ready: ${output}`);
}

/// A TCP proxy in front of a server whose connections can all be cut at
/// once: a dropped connection, as a flaky network or a proxy restart makes.
async function cuttableProxy(target) {
  const sockets = new Set();
  const proxy = { target };
  const server = net.createServer((client) => {
    const upstream = net.connect(new URL(proxy.target).port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return Object.assign(proxy, {
    base: `http://127.0.0.1:${server.address().port}`,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => server.close(),
  });
}

let browser, fake, offline, online, secured;

before(async () => {
  assert.ok(fs.existsSync(BIN), `the chat-server binary is missing at ${BIN} (build it first)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM} (apt-get install chromium)`);
  fake = await fakeModel();
  [offline, online] = await Promise.all([
    startChat("offline", { CONTEXT_SUMMARY_TURNS: "3" }),
    startChat("online", {
      OPENAI_BASE_URL: `http://127.0.0.1:${fake.address().port}/v1`,
      OPENAI_API_KEY: "sk-e2e",
      LLM_PROVIDER: "openai",
      OPENAI_MODEL: "fake-e2e",
    }),
  ]);
  // A server that requires sign-in, with one user created by the CLI.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mas-e2e-users-"));
  const database = `sqlite://${dir}/chat.db`;
  const addUser = (name, role) =>
    new Promise((resolve, reject) => {
      const add = spawn(BIN, ["user", "add", name, "--role", role], {
        env: { PATH: process.env.PATH, DATABASE_URL: database, LOG_LEVEL: "warn" },
      });
      let err = "";
      add.stderr.on("data", (d) => (err += d));
      add.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`user add failed: ${err}`))));
      add.stdin.end("a long enough password\n");
    });
  await addUser("root", "admin");
  await addUser("amina", "user");
  secured = await startChat("secured", {
    DATABASE_URL: database,
    AUTH_REQUIRED: "true",
    SECRET_KEY: "an end-to-end test secret that is long enough",
  });
  secured.users = dir;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  for (const server of [offline, online, secured]) {
    server?.child.kill("SIGTERM");
    if (server) fs.rmSync(server.dir, { recursive: true, force: true });
    if (server?.users) fs.rmSync(server.users, { recursive: true, force: true });
  }
  fake?.close();
});

/// A page that fails the test on any script error or dialog it did not expect.
async function open(base, url = "/", options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  return openIn(context, base, url);
}

async function openIn(context, base, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && page.errors.push(m.text()));
  page.on("dialog", (d) => {
    if (d.type() === "confirm") return d.accept();
    page.errors.push(`unexpected ${d.type()}: ${d.message()}`);
    return d.dismiss();
  });
  await page.goto(base + url);
  await page.waitForFunction(() => !document.getElementById("status").textContent.includes("Connecting"));
  return page;
}

async function ask(page, text) {
  await page.fill("#composer-input", text);
  await page.keyboard.press("Enter");
}

const lastAnswer = (page) => page.locator(".message.assistant").last();
const answerText = (page) => lastAnswer(page).locator(".markdown").allInnerTexts().then((t) => t.join("\n"));
// The page shows an answer and nothing is streaming any more.
const finished = (page) =>
  page.waitForFunction(
    () =>
      document.querySelector(".message.assistant") &&
      !document.querySelector(".message.assistant.streaming") &&
      !document.getElementById("send").hidden,
    null,
    { timeout: 30000 },
  );

async function session(base, page) {
  const id = new URL(page.url()).pathname.split("/").pop();
  return (await fetch(`${base}/api/sessions/${id}`)).json();
}

function words(text) {
  return text.split(/\s+/).filter(Boolean);
}

// ------------------------------------------------------------------ tests

test("a question streams an answer with a tool card, offline", async () => {
  const page = await open(offline.base);
  assert.match(await page.textContent("#status"), /Offline mode: no LLM is configured.*GOOGLE_API_KEY/);
  await ask(page, "Find Moi Girls in Nairobi");
  const card = page.locator(".tool").first();
  await card.waitFor();
  assert.match(await card.locator(".tool-name").textContent(), /search_schools/);
  await finished(page);
  assert.equal(await card.locator(".badge").textContent(), "ok");
  assert.match(await card.locator(".duration").textContent(), /\d+ ms/);
  await card.locator("summary").click();
  const links = card.locator("table.schools a[href^='https://www.openstreetmap.org/']");
  assert.ok((await links.count()) >= 1, "a link per school");
  assert.match(await card.locator("table.schools").innerText(), /KE-23718/);
  assert.match(await answerText(page), /Moi Girls/);
  assert.match(await lastAnswer(page).locator(".handoff").first().textContent(), /is answering/);
  assert.match(page.url(), /\/c\/[0-9a-f-]{36}$/, "the address is the conversation's deep link");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("text arrives token by token, and Stop keeps the partial answer", async () => {
  const page = await open(online.base);
  assert.match(await page.textContent("#status"), /openai · fake-e2e/);
  await ask(page, "Count slowly please");
  await page.waitForFunction(() => document.querySelector(".message.assistant .markdown")?.textContent.includes("w3"));
  const early = words(await answerText(page)).length;
  await page.waitForFunction(() => document.querySelector(".message.assistant .markdown")?.textContent.includes("w8"));
  const later = words(await answerText(page)).length;
  assert.ok(later > early, `the answer grows while it streams (${early} then ${later} words)`);
  assert.equal(await page.isDisabled("#composer-input"), false, "the composer stays usable while an answer streams");
  await page.click("#stop");
  await page.waitForSelector("text=Stopped. The answer so far is kept.");
  await finished(page);
  const shown = words(await answerText(page));
  assert.ok(shown.length > 0 && shown.length < SLOW_WORDS.length, `partial answer (${shown.length} words)`);
  assert.deepEqual(shown, SLOW_WORDS.slice(0, shown.length), "in order, nothing repeated");
  const saved = (await session(online.base, page)).messages[1];
  assert.equal(saved.status, "cancelled");
  assert.deepEqual(words(saved.content), shown, "the saved partial answer is what was shown");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("reloading, reopening and a dropped connection resume the answer without loss or repeats", async () => {
  const proxy = await cuttableProxy(online.base);
  const page = await open(proxy.base);
  await ask(page, "Count slowly once more");
  await page.waitForFunction(() => document.querySelector(".message.assistant .markdown")?.textContent.includes("w5"));
  await page.reload();
  await page.waitForFunction(() => document.querySelector(".message.assistant.streaming"));
  await page.waitForFunction(() => document.querySelector(".message.assistant .markdown")?.textContent.includes("w20"));
  // A dropped connection: the page reconnects with Last-Event-ID.
  const resumed = [];
  page.on("request", (r) => r.headers()["last-event-id"] && resumed.push(r.headers()["last-event-id"]));
  proxy.cut();
  await page.waitForFunction(() => document.querySelector(".message.assistant .markdown")?.textContent.includes("w30"));
  assert.ok(resumed.length >= 1, "the stream was resumed with Last-Event-ID");
  assert.match(resumed[0], /^\d+\.\d+$/);
  // Closing the tab and opening the conversation again.
  const url = page.url();
  await page.close();
  const again = await page.context().newPage();
  again.errors = [];
  again.on("pageerror", (e) => again.errors.push(String(e)));
  await again.goto(url);
  await finished(again);
  assert.deepEqual(words(await answerText(again)), SLOW_WORDS, "every word once, in order");
  const saved = (await session(online.base, again)).messages;
  assert.equal(saved.length, 2);
  assert.equal(saved[1].status, "complete");
  assert.equal(saved[1].content, SLOW_TEXT);
  assert.deepEqual(again.errors, []);
  await again.context().close();
  proxy.close();
});

test("hostile Markdown from the model renders inert", async () => {
  const page = await open(online.base);
  await ask(page, "Answer with hostile markup");
  await finished(page);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await page.evaluate(() => window.__xss), undefined, "no injected script ran");
  const markdown = lastAnswer(page).locator(".markdown");
  assert.equal(await markdown.locator("script, iframe").count(), 0);
  assert.equal(await markdown.locator("[onerror]").count(), 0);
  assert.equal(await markdown.locator("a[href^='javascript:']").count(), 0);
  assert.equal(await markdown.locator("table").count(), 1, "ordinary Markdown still renders");
  assert.equal(await markdown.locator("pre button.copy").count(), 1, "code blocks get a copy button");
  // The CSP forbids inline script even if something slipped through.
  const response = await fetch(online.base + "/");
  assert.match(response.headers.get("content-security-policy"), /script-src 'self'/);
  // Chromium reports the CSP refusing the handler while the sanitiser parses
  // the markup in an inert document, and the hostile <img src="x"> 404s.
  const expected = /Content Security Policy|status of 404/;
  assert.deepEqual(page.errors.filter((e) => !expected.test(e)), []);
  await page.context().close();
});

test("an old conversation opens from the sidebar, renames, regenerates and deletes", async () => {
  const created = await fetch(`${offline.base}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: "Which counties have the most schools?" }),
  });
  assert.equal(created.status, 200);
  const page = await open(offline.base);
  const first = page.locator("#sessions li a").first();
  await first.waitFor();
  const title = await first.textContent();
  await first.click();
  await page.waitForSelector(".message.user");
  assert.equal(await page.textContent("#title"), title);
  assert.match(page.url(), /\/c\//);
  await page.locator("#sessions li.current button[title='Rename']").click();
  await page.fill("#sessions li.current input", "Renamed from the browser");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#sessions a:text('Renamed from the browser')");
  const id = new URL(page.url()).pathname.split("/").pop();
  const saved = await (await fetch(`${offline.base}/api/sessions/${id}`)).json();
  assert.equal(saved.session.title, "Renamed from the browser");
  // Regenerate asks the last question again, in the same conversation.
  const before = await page.locator(".message.user").count();
  await page.click(".regenerate");
  await page.waitForFunction((n) => document.querySelectorAll(".message.user").length === n + 1, before);
  await finished(page);
  const questions = await page.locator(".message.user").allInnerTexts();
  assert.equal(questions.at(-1), questions.at(-2));
  // Delete (the confirm dialog is accepted): gone from the sidebar and the server.
  await page.locator("#sessions li.current button[title='Delete']").click();
  await page.waitForFunction((gone) => !document.querySelector(`#sessions li[data-id="${gone}"]`), id);
  assert.equal(new URL(page.url()).pathname, "/");
  assert.equal((await fetch(`${offline.base}/api/sessions/${id}`)).status, 404);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("a long conversation shows its stored summary as a collapsed note above the turns", async () => {
  let sessionId = null;
  for (const county of ["Lamu", "Kwale", "Kilifi", "Mombasa"]) {
    const r = await fetch(`${offline.base}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: `How many schools are in ${county} county?`, ...(sessionId ? { session_id: sessionId } : {}) }),
    });
    assert.equal(r.status, 200);
    sessionId = (await r.json()).session_id;
  }
  let summary = null;
  for (let i = 0; i < 50 && !summary; i++) {
    summary = (await (await fetch(`${offline.base}/api/sessions/${sessionId}`)).json()).summary;
    if (!summary) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(summary, "the background job stored a summary");
  const page = await open(offline.base, `/c/${sessionId}`);
  const note = page.locator("details.earlier");
  await note.waitFor();
  assert.match(await note.locator("summary").innerText(), /Earlier in this conversation/);
  assert.equal(await note.getAttribute("open"), null, "collapsed");
  await note.locator("summary").click();
  assert.match(await note.locator(".markdown").innerText(), /Asked: How many schools are in Lamu county\?/);
  assert.equal(await page.locator(".message.user").count(), 4, "every turn is still shown");
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the sidebar search finds a word of an old answer, marks it and opens the conversation at it; pins and exports", async () => {
  // Three conversations; the first one's answer names Lamu's schools.
  const chat = async (message) => {
    const r = await fetch(`${offline.base}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message }),
    });
    assert.equal(r.status, 200);
    return r.json();
  };
  const lamu = await chat("How many schools are in Lamu county?");
  await chat("How many schools are in Kwale county?");
  await chat("Find Moi Girls in Nairobi");
  const page = await open(offline.base);
  await page.fill("#session-query", "lamu");
  const hit = page.locator(`#search-results li[data-id="${lamu.session_id}"] a.snippet`).first();
  await hit.waitFor();
  assert.ok(await page.locator("#sessions").isHidden(), "the results replace the list");
  const marks = await page.locator(`#search-results li[data-id="${lamu.session_id}"] mark`).allInnerTexts();
  assert.ok(marks.length > 0 && marks.every((m) => m.toLowerCase() === "lamu"), JSON.stringify(marks));
  const messageId = (await hit.getAttribute("href")).split("#m-")[1];
  await hit.click();
  await page.waitForSelector(`#m-${messageId}.found`);
  assert.match(page.url(), new RegExp(`/c/${lamu.session_id}#m-${messageId}$`));
  // The conversation's usage and its exports.
  await page.waitForSelector("#exports:not([hidden])");
  const markdown = await (await fetch(new URL(await page.getAttribute("#export-md", "href"), offline.base))).text();
  assert.match(markdown, /How many schools are in Lamu county\?/);
  const json = await (await fetch(new URL(await page.getAttribute("#export-json", "href"), offline.base))).json();
  assert.equal(json.session.id, lamu.session_id);
  // Cleared, the list is back; pinning puts a conversation first.
  await page.fill("#session-query", "");
  await page.waitForSelector("#sessions:not([hidden])");
  await page.locator(`#sessions li[data-id="${lamu.session_id}"] button.pin`).click();
  await page.waitForFunction((id) => document.querySelector("#sessions li")?.dataset.id === id, lamu.session_id);
  assert.ok(await page.locator(`#sessions li[data-id="${lamu.session_id}"].pinned`).isVisible());
  const listed = await (await fetch(`${offline.base}/api/sessions`)).json();
  assert.equal(listed.sessions[0].id, lamu.session_id);
  assert.equal(listed.sessions[0].pinned, true);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("the Memory page adds, edits, searches, exports and deletes; answers say which memories they used", async () => {
  const memories = async () => (await (await fetch(`${offline.base}/api/memory`)).json()).memories;
  const page = await open(offline.base, "/memory");
  await page.waitForFunction(() => document.getElementById("memory-count").textContent !== "");
  await page.fill("#new-memory", "My school is in Lamu, near the girls school");
  await page.selectOption("#new-retention", "pinned");
  await page.click("#add-memory button[type=submit]");
  const item = page.locator("li.memory").first();
  await item.waitFor();
  assert.match(await item.locator(".memory-text").innerText(), /near the girls school/);
  assert.match(await item.locator(".source").innerText(), /you wrote it/);
  // Edit in place.
  await item.locator("button:text('Edit')").click();
  await item.locator("textarea").fill("My school is in Lamu, near the boys school");
  await item.locator("button:text('Save')").click();
  await page.waitForSelector("li.memory .memory-text:text('near the boys school')");
  const kept = await memories();
  assert.deepEqual(kept.map((m) => [m.text, m.retention]), [["My school is in Lamu, near the boys school", "pinned"]]);
  // Search.
  await page.fill("#memory-search", "boys");
  await page.waitForFunction(() => document.getElementById("memory-count").textContent.includes("matches"));
  assert.equal(await page.locator("li.memory").count(), 1);
  await page.fill("#memory-search", "giraffes");
  await page.waitForFunction(() => document.querySelectorAll("li.memory").length === 0);
  await page.fill("#memory-search", "");
  await page.waitForFunction(() => document.querySelectorAll("li.memory").length === 1);
  // Export downloads everything kept, as JSON.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const exported = JSON.parse(fs.readFileSync(await download.path(), "utf8"));
  assert.deepEqual(exported.memories.map((m) => m.text), ["My school is in Lamu, near the boys school"]);
  // The profile is saved and checked.
  await page.fill("#profile input[name=county]", "Atlantis");
  await page.click("#profile button[type=submit]");
  await page.waitForSelector("#status:text-matches('not saved.*county', 'i')");
  await page.fill("#profile input[name=county]", "lamu");
  await page.click("#profile button[type=submit]");
  await page.waitForSelector("#status:text('Profile saved.')");
  assert.equal(await page.inputValue("#profile input[name=county]"), "Lamu", "spelt as the data spells it");
  if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, "memory-desktop-light.png"), fullPage: true });

  // An answer says which memories it was given, expandable.
  const chat = await openIn(page.context(), offline.base, "/");
  await ask(chat, "How many schools are in my county near the boys school?");
  await finished(chat);
  const used = lastAnswer(chat).locator(".memory-used");
  assert.equal(await used.locator("summary").innerText(), "Using 1 memory");
  await used.locator("summary").click();
  assert.match(await used.locator("li").innerText(), /near the boys school/);
  assert.match(await lastAnswer(chat).locator(".tool-args").first().innerText(), /county: Lamu/, "my county is the profile's");
  assert.match(await answerText(chat), /\d+ schools in all/);
  // A temporary chat reads and writes nothing.
  await chat.click("#new-chat");
  await chat.check("#temporary");
  await ask(chat, "Remember that I like tea near the boys school");
  await finished(chat);
  assert.equal(await lastAnswer(chat).locator(".memory-used").count(), 0, "nothing read");
  assert.equal(await chat.isVisible("#temporary-badge"), true);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await memories()).length, 1, "nothing written");
  assert.deepEqual(chat.errors, []);

  // Delete one, then all.
  await page.reload();
  await page.locator("li.memory button:text('Delete')").first().click();
  await page.waitForFunction(() => document.querySelectorAll("li.memory").length === 0);
  assert.deepEqual(await memories(), []);
  await fetch(`${offline.base}/api/memory`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: "one more" }) });
  await page.reload();
  await page.locator("li.memory").first().waitFor();
  await page.click("#delete-all");
  await page.waitForSelector("#status:text('Deleted 1 memory.')");
  assert.deepEqual(await memories(), []);
  await fetch(`${offline.base}/api/profile`, { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
  // Chromium logs the refused profile (Atlantis) as a failed load; nothing else may be.
  assert.deepEqual(page.errors.filter((e) => !/status of 400/.test(e)), []);
  await page.context().close();
});

test("phone and desktop layouts, light and dark", async () => {
  for (const [name, viewport] of [
    ["phone", { width: 390, height: 844 }],
    ["desktop", { width: 1280, height: 800 }],
  ]) {
    for (const colorScheme of ["light", "dark"]) {
      const page = await open(offline.base, "/", { viewport, colorScheme, isMobile: name === "phone", hasTouch: name === "phone" });
      await ask(page, "How many schools are in Lamu county?");
      await finished(page);
      const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name} ${colorScheme}: no sideways scrolling (${overflow}px)`);
      const sidebarVisible = await page.evaluate(() => {
        const r = document.getElementById("sidebar").getBoundingClientRect();
        return r.right > 0;
      });
      assert.equal(sidebarVisible, name === "desktop", `${name}: sidebar ${name === "desktop" ? "shown" : "tucked away"}`);
      if (name === "phone") {
        await page.click("#toggle-sidebar");
        await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().left >= 0);
        assert.equal(await page.getAttribute("#toggle-sidebar", "aria-expanded"), "true");
        await page.keyboard.press("Escape");
        await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().right <= 0);
      }
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(background === "rgb(255, 255, 255)", colorScheme === "light", `${colorScheme} theme`);
      if (SCREENSHOTS) {
        fs.mkdirSync(SCREENSHOTS, { recursive: true });
        await page.screenshot({ path: path.join(SCREENSHOTS, `chat-${name}-${colorScheme}.png`) });
      }
      assert.deepEqual(page.errors, []);
      await page.context().close();
    }
  }
});

test("the keyboard alone can use the page", async () => {
  const page = await open(offline.base);
  assert.equal(await page.evaluate(() => document.activeElement.id), "composer-input", "the message box has focus on load");
  await page.keyboard.type("How many schools are in");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("Lamu county?");
  assert.equal(await page.inputValue("#composer-input"), "How many schools are in\nLamu county?", "Shift+Enter adds a line");
  await page.keyboard.press("Enter");
  await finished(page);
  assert.match(await page.locator(".message.user").last().innerText(), /Lamu county/);
  // Backwards from the message box: every stop shows where focus is.
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press("Shift+Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none", "focus is visible");
  }
  // The skip link appears when focused and jumps to the message box.
  await page.focus("a.skip");
  assert.ok((await page.locator("a.skip").boundingBox()).x >= 0, "the skip link shows on focus");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "composer-input");
  for (const selector of ["#send", "#stop", "#toggle-sidebar", "#new-chat", "#composer-input"]) {
    const name = await page.evaluate((s) => {
      const e = document.querySelector(s);
      return e.getAttribute("aria-label") || e.labels?.[0]?.textContent || e.textContent;
    }, selector);
    assert.ok(name && name.trim(), `${selector} has an accessible name`);
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test("signing in, chatting and signing out when the server requires it", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  await page.goto(secured.base + "/");
  assert.equal(new URL(page.url()).pathname, "/login", "strangers are sent to sign in");
  await page.fill("#username", "amina");
  await page.fill("#password", "wrong password here");
  await page.click("button[type=submit]");
  await page.waitForSelector("text=Wrong username or password.");
  await page.fill("#username", "amina");
  await page.fill("#password", "a long enough password");
  await page.click("button[type=submit]");
  await page.waitForURL(secured.base + "/");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "mas_session");
  assert.ok(session?.httpOnly, "the sign-in cookie is HttpOnly");
  assert.equal(session.sameSite, "Lax");
  assert.equal(await page.evaluate(() => document.cookie.includes("mas_session")), false, "scripts cannot read it");
  await page.waitForFunction(() => !document.getElementById("status").textContent.includes("Connecting"));
  await ask(page, "How many schools are in Lamu county?");
  await finished(page);
  assert.match(await answerText(page), /schools/);
  await page.click("text=Sign out");
  await page.waitForURL(secured.base + "/login");
  await page.goto(secured.base + "/");
  assert.equal(new URL(page.url()).pathname, "/login", "signed out for good");
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a replica that dies mid-answer: the other takes the run over and the page shows the answer once", async () => {
  // Two replicas on one PostgreSQL database and one Redis, behind a proxy
  // that can be pointed at the survivor (as a load balancer would).
  const database = process.env.TEST_DATABASE_URL;
  assert.ok(database, "TEST_DATABASE_URL is needed (tests/run.sh starts PostgreSQL)");
  const url = new URL(database);
  url.pathname = "/mas_e2e_replicas";
  await new Promise((resolve, reject) => {
    const psql = spawn("psql", ["-X", "-q", database, "-c", "DROP DATABASE IF EXISTS mas_e2e_replicas", "-c", "CREATE DATABASE mas_e2e_replicas"]);
    psql.on("exit", (code) => (code === 0 ? resolve() : reject(new Error("psql failed"))));
  });
  const redisPort = await freePort();
  const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", ""], { stdio: "ignore" });
  const env = {
    DATABASE_URL: url.toString(),
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    OPENAI_BASE_URL: `http://127.0.0.1:${fake.address().port}/v1`,
    OPENAI_API_KEY: "sk-e2e",
    LLM_PROVIDER: "openai",
    OPENAI_MODEL: "fake-e2e",
  };
  const listening = () =>
    new Promise((resolve) => {
      const socket = net.connect(redisPort, "127.0.0.1", () => (socket.end(), resolve(true)));
      socket.on("error", () => resolve(false));
    });
  for (let i = 0; i < 100 && !(await listening()); i++) await new Promise((r) => setTimeout(r, 100));
  const [first, second] = [await startChat("replica-a", env), await startChat("replica-b", env)];
  const proxy = await cuttableProxy(first.base);
  try {
    const page = await open(proxy.base);
    await ask(page, "Count slowly, replica");
    await page.waitForFunction(() => document.querySelector(".message.assistant .markdown")?.textContent.includes("w5"));
    first.child.kill("SIGKILL");
    proxy.target = second.base;
    proxy.cut();
    // The survivor claims the run when its lease lapses, discards the
    // interrupted step and answers it again; the page drops what it had shown.
    await page.waitForFunction(
      (last) => document.querySelector(".message.assistant .markdown")?.textContent.includes(last),
      SLOW_WORDS.at(-1),
      { timeout: 40000 },
    );
    await finished(page);
    assert.deepEqual(words(await answerText(page)), SLOW_WORDS, "every word once, in order");
    const saved = (await session(second.base, page)).messages;
    assert.equal(saved[1].status, "complete");
    assert.equal(saved[1].content, SLOW_TEXT);
    // The cut connection is logged by the browser; nothing else may be.
    assert.deepEqual(page.errors.filter((e) => !/ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e)), []);
    await page.context().close();
  } finally {
    proxy.close();
    for (const server of [first, second]) {
      server.child.kill("SIGKILL");
      fs.rmSync(server.dir, { recursive: true, force: true });
    }
    redis.kill();
  }
});
