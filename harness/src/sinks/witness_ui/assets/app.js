// s301 witness console: the state and the live screen by long poll. No
// library, nothing loaded from the network.
"use strict";
const $ = (s) => document.querySelector(s);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? "")));
  return e;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const live = { frames: 0, session: 0, since: 0, started: performance.now() };
window.s301 = live;

// --- The live screen ------------------------------------------------------
async function frames() {
  const canvas = $("#screen");
  const ctx = canvas.getContext("2d");
  for (;;) {
    try {
      const r = await fetch(`/api/frame?session=${live.session}&since=${live.since}`, { cache: "no-store" });
      if (r.status === 200) {
        const [x, y] = r.headers.get("x-frame-rect").split(",").map(Number);
        const [w, h] = r.headers.get("x-frame-size").split(",").map(Number);
        const bmp = await createImageBitmap(await r.blob());
        if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
        ctx.drawImage(bmp, x, y);
        bmp.close();
        live.session = Number(r.headers.get("x-frame-session"));
        live.since = Number(r.headers.get("x-frame-version"));
        live.frames += 1;
      } else if (r.status !== 204) {
        await sleep(500);
      }
    } catch (e) {
      await sleep(1000);
    }
  }
}

// --- The state ------------------------------------------------------------
const rendered = {};
function verdictCell(c) {
  if (c.running) return el("td", { class: "v-running" }, "実行中 / running");
  if (!c.verdict) return el("td", {}, "—");
  return el("td", { class: `v-${c.verdict}` }, c.verdict);
}

function render(s) {
  $("#run").textContent = `run ${s.run.id || "…"} | scenario ${s.run.scenario || "…"}` +
    (s.who ? ` | 回答者 / answering: ${s.who}` : "") + ` | ${s.run.dir}` +
    (s.run.recorded ? ` | 記録済み / recorded: ${s.run.recorded}` : (s.run.finished ? " | 確認項目終了 / checks finished" : ""));
  const label = $("#console-label");
  const others = s.consoles.filter((c) => c.label !== s.shown).map((c) => c.label);
  // An exclusivity check (EX-*) tries a second console: a refused one never
  // gets a picture, so say it is being tried.
  const ex = s.checks.filter((c) => c.running && c.id.startsWith("EX-")).map((c) => c.id);
  if (!others.length && ex.length) others.push(`(${ex.join(", ")})`);
  if (s.shown) {
    label.textContent = `指令台 ${s.shown} の画面 / the screen console ${s.shown} receives` +
      (others.length ? ` — 二台目の指令台が接続中: ${others.join(", ")} / second console connecting: ${others.join(", ")}` : "");
    label.className = others.length ? "second" : "";
  } else {
    label.textContent = "接続している指令台はありません / no console open";
    label.className = "";
  }
  const tbody = $("#checks tbody");
  tbody.replaceChildren(...s.checks.map((c) =>
    el("tr", { class: c.running ? "running" : "", id: `check-${c.id}` },
      el("td", {}, c.id), el("td", {}, c.condition), el("td", { title: c.detail }, c.title), verdictCell(c))));
  const doing = s.checks.filter((c) => c.running);
  $("#doing").replaceChildren(...doing.map((c) =>
    el("div", {}, el("b", {}, `${c.id}: `), c.requirement_ja, el("br"), el("span", { class: "en" }, c.requirement_en))));
  if (!doing.length) $("#doing").textContent = s.run.finished ? "確認項目は終わりました / the checks have finished" : "—";
  $("#transcript").textContent = s.transcript.join("\n");
  const list = $("#qlist");
  for (const q of s.questions) {
    const key = `${q.status}|${JSON.stringify(q.evidence)}|${JSON.stringify(q.kept)}`;
    let card = document.getElementById(`q-${q.id}`);
    if (card && rendered[q.id] === key) continue;
    rendered[q.id] = key;
    const fresh = question(q);
    // Keep what the witness was typing across a redraw.
    const typed = card && card.querySelector("textarea");
    const area = fresh.querySelector("textarea");
    if (typed && area) area.value = typed.value;
    if (card) card.replaceWith(fresh); else list.append(fresh);
  }
}

function marked(src, mark) {
  const img = el("img", { src: `/${src}`, alt: src });
  const wrap = el("span", { class: "imgwrap" }, img);
  if (mark) {
    img.addEventListener("load", () => {
      const [x, y, w, h] = mark;
      const W = img.naturalWidth, H = img.naturalHeight;
      const m = el("div", { class: "mark" });
      m.style.left = `${(100 * x) / W}%`; m.style.top = `${(100 * y) / H}%`;
      m.style.width = `${Math.max((100 * w) / W, 0.5)}%`; m.style.height = `${Math.max((100 * h) / H, 0.5)}%`;
      wrap.append(m);
    });
  }
  return el("figure", {}, wrap, el("figcaption", {}, src.split("/").pop()));
}

function evidence(ev) {
  const box = el("div", { class: "evidence" });
  if (!ev) return box;
  if (ev.images.length) box.append(el("div", { class: "imgs" }, ...ev.images.map((i) => marked(i, ev.mark))));
  if (ev.mark) box.append(el("p", {}, `変化した領域 / changed region: ${ev.mark[2]}x${ev.mark[3]} @ (${ev.mark[0]}, ${ev.mark[1]})`));
  if (ev.timeline.length) {
    box.append(el("h4", {}, "指令台の経過 / consoles' timeline"),
      el("table", { class: "timeline" }, el("tr", {}, el("th", {}, "ms"), el("th", {}, "指令台 / console"), el("th", {}, "出来事 / event")),
        ...ev.timeline.map((t) => el("tr", {}, el("td", {}, t.ms.toFixed(1)), el("td", {}, t.console), el("td", {}, t.event)))));
  }
  if (ev.report) {
    const r = ev.report;
    box.append(el("h4", {}, `通報データ / pushed report ${r.report_id}`),
      el("table", { class: "report" },
        el("tr", {}, el("th", {}, "場所 / location"), el("td", {}, r.location)),
        el("tr", {}, el("th", {}, "種別 / category"), el("td", {}, r.category)),
        el("tr", {}, el("th", {}, "概要 / summary"), el("td", {}, r.summary)),
        el("tr", {}, el("th", {}, "メッセージ / messages"), el("td", {}, ...r.messages.map(([f, t]) => el("div", {}, `[${f}] ${t}`))))));
  }
  if (ev.exchanges.length) {
    box.append(el("h4", {}, "要求と応答 / requests and answers"),
      el("table", { class: "exchanges" }, el("tr", {}, el("th", {}, "要求 / request"), el("th", {}, "応答 / status"), el("th", {}, "内容 / body")),
        ...ev.exchanges.map((x) => el("tr", {}, el("td", {}, x.request), el("td", {}, x.status), el("td", {}, el("code", {}, x.body))))));
  }
  return box;
}

const STATUS = {
  waiting: "確認項目の終了待ち / waiting for its check",
  open: "回答待ち / waiting for the answer",
  answered: "回答済み（記録待ち） / answered, to be recorded",
  closed: "記録済み / recorded",
};

function question(q) {
  const card = el("div", { class: `q ${q.status}`, id: `q-${q.id}`, "data-status": q.status },
    el("span", { class: "status" }, STATUS[q.status] || q.status),
    el("h3", {}, `${q.id}（条件 ${q.condition}${q.check ? ", " + q.check : ""}）`),
    el("div", {}, q.question_ja), el("div", { class: "en" }, q.question_en));
  if (q.status === "waiting") return card;
  card.append(evidence(q.evidence));
  const done = q.kept || q.given;
  if (done) {
    card.append(el("p", { class: "kept" }, `回答 / answer: ${done.answer}${done.comment ? " — " + done.comment : ""}` +
      (q.kept && q.kept.via ? ` (${q.kept.via}${q.kept.who ? ", " + q.kept.who : ""})` : "")));
    return card;
  }
  const comment = el("textarea", { id: `comment-${q.id}`, placeholder: "コメント（任意） / comment (optional)", maxlength: "1000" });
  const err = el("div", { class: "err", id: `err-${q.id}` });
  const btn = (a, ja) => {
    const b = el("button", { id: `answer-${q.id}-${a.replace("/", "")}`, type: "button" }, `${ja} / ${a}`);
    b.addEventListener("click", async () => {
      err.textContent = "";
      try {
        const r = await fetch("/api/answer", { method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ id: q.id, answer: a, comment: comment.value }) });
        if (!r.ok) err.textContent = (await r.json()).error || `HTTP ${r.status}`;
      } catch (e) { err.textContent = `送信できません / cannot send: ${e}`; }
    });
    return b;
  };
  card.append(el("div", { class: "answer" }, comment, btn("pass", "合格"), btn("fail", "不合格"), btn("n/a", "該当なし"), err));
  return card;
}

async function state() {
  let since = 0;
  for (;;) {
    try {
      const r = await fetch(`/api/state?since=${since}`, { cache: "no-store" });
      const s = await r.json();
      since = s.version;
      render(s);
    } catch (e) {
      await sleep(1000);
    }
  }
}

setInterval(() => {
  const secs = (performance.now() - live.started) / 1000;
  $("#rate").textContent = `${live.frames} frames, ${(live.frames / Math.max(secs, 1)).toFixed(1)}/s`;
}, 1000);
frames();
state();
