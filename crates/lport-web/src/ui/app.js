// lport dashboard: the listener table, live over server-sent events, with a detail panel
// (holders, the `why` report on demand, kill after a confirmation that names the targets).
//
// The launch token comes in the URL lport printed. It is kept in this tab's sessionStorage
// (it survives a reload, never a cookie that other local servers would receive), removed
// from the address bar, and sent in the X-Lport-Token header on every API request; the
// event stream is read with fetch for the same reason (EventSource cannot send headers).

const token = (() => {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("lport_token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem("lport_token") || "";
})();

function api(path, init = {}) {
  return fetch(path, { ...init, headers: { ...(init.headers || {}), "X-Lport-Token": token } });
}

// Names come from other processes: control characters and bidi overrides are shown as
// escapes, so a process cannot make a confirmation read differently from what it does.
const clean = (v) => String(v ?? "").replace(
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
  (c) => {
    const n = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    if (n < 0x80) return "\\x" + n.toString(16).padStart(2, "0");
    return "\\u{" + n.toString(16) + "}";
  },
);

const rows = document.getElementById("rows");
const filter = document.getElementById("filter");
const status = document.getElementById("status");
const detail = document.getElementById("detail");
let doc = { sockets: [], processes: [] };
let sortKey = "port";
let sortDir = 1;
let known = new Set();
let selected = null;
// Services found by "why?" reports, by "proto|port": shown in the table from then on.
const services = new Map();

const procOf = (pid) => doc.processes.find((p) => p.pid === pid);

// "3 min ago"; the exact time is the cell's tooltip.
function ago(start) {
  if (!start) return "";
  const s = Math.max(0, (Date.now() - Date.parse(start)) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  const d = Math.floor(s / 86400);
  return `${d} day${d === 1 ? "" : "s"} ago`;
}

// A user's name: the process's, else the socket uid's from the server's table.
function userOf(p, s) {
  if (p && p.user) return p.user;
  const uid = p ? p.uid : s.uid;
  if (uid === null || uid === undefined) return "?";
  return (doc.user_names || {})[String(uid)] || String(uid);
}

// Who holds a socket, short (as the CLI's table says it); the whole note is in the panel.
function ownerShort(s) {
  const n = s.owner_note || "";
  if (s.state === "time-wait") return "- (time-wait)";
  if (n.includes("needs root")) return "? (hidden: needs root)";
  if (n.startsWith("its process exited")) return "- (exited)";
  return n ? "? (not visible)" : "-";
}

function view(s) {
  const p = s.owners.length ? procOf(s.owners[0].pid) : null;
  return {
    id: `${s.proto}|${s.local.addr}|${s.local.port}|${s.inode}`,
    port: s.local.port,
    addr: s.local.addr,
    proto: s.proto,
    exposure: s.exposure,
    process: p ? `${clean(p.name)} (${[...new Set(s.owners.map((o) => o.pid))].join(", ")})` : ownerShort(s),
    note: s.owner_note || "",
    user: clean(userOf(p, s)),
    where: p ? clean(p.container || p.unit || "") : "",
    service: services.get(`${s.proto}|${s.local.port}`) || "",
    ago: p ? ago(p.start_time) : "",
    started: p ? p.start_time : null,
    socket: s,
  };
}

function text(v) {
  return String(v ?? "");
}

let live = false;

function render() {
  const q = filter.value.trim().toLowerCase();
  const list = doc.sockets.map(view).filter((v) =>
    !q || [v.port, v.addr, v.process, v.user, v.where, v.exposure].some((f) => text(f).toLowerCase().includes(q)));
  list.sort((a, b) => {
    const x = a[sortKey];
    const y = b[sortKey];
    return (x > y ? 1 : x < y ? -1 : 0) * sortDir;
  });
  rows.replaceChildren(...list.map((v) => {
    const tr = document.createElement("tr");
    const isNew = known.size && !known.has(v.id);
    const isSelected = selected && selected.id === v.id;
    tr.className = "row" + (isNew ? " new" : "") + (isSelected ? " selected" : "");
    tr.dataset.port = v.port;
    const cells = [
      ["port", v.port], ["addr", v.addr], ["proto", v.proto], ["exposure", v.exposure],
      ["process", v.process, v.note], ["user", v.user], ["where", v.where],
      ["service", v.service], ["started", v.ago, v.started || ""],
    ];
    for (const [k, value, tip] of cells) {
      const td = document.createElement("td");
      td.textContent = text(value);
      td.title = text(tip || value);
      if (k === "exposure") td.className = `exp-${v.exposure}`;
      if (["process", "user", "where", "service"].includes(k)) td.classList.add("clip");
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => { show(v); render(); });
    return tr;
  }));
  known = new Set(doc.sockets.map((s) => view(s).id));
  // The count is of what the filter shows.
  const total = doc.sockets.length;
  if (live) {
    status.textContent = q
      ? `live — ${list.length} of ${total} listeners match`
      : `live — ${total} listener${total === 1 ? "" : "s"}`;
  }
}

function show(v) {
  selected = v;
  const s = v.socket;
  const holders = [...new Set(s.owners.map((o) => o.pid))].map((pid) => procOf(pid)).filter(Boolean);
  detail.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = `${s.proto} ${hostPort(s.local.addr, s.local.port)}`;
  detail.appendChild(h);
  const ul = document.createElement("ul");
  for (const p of holders) {
    const li = document.createElement("li");
    const when = p.start_time ? `${ago(p.start_time)} (${p.start_time})` : "?";
    li.textContent = `pid ${p.pid} ${clean(p.name)} — user ${clean(userOf(p, s))}, started ${when} — ${clean(p.cmdline.join(" "))}`;
    ul.appendChild(li);
  }
  if (holders.length && s.owner_note) {
    const li = document.createElement("li");
    li.textContent = clean(s.owner_note);
    ul.appendChild(li);
  }
  if (!holders.length) {
    const li = document.createElement("li");
    li.textContent = clean(s.owner_note || "no visible owner");
    ul.appendChild(li);
  }
  detail.appendChild(ul);
  const actions = document.createElement("p");
  if (s.proto === "tcp") {
    const open = document.createElement("a");
    const host = s.local.addr.includes(":") ? "[::1]" : "127.0.0.1";
    open.href = `http://${host}:${s.local.port}/`;
    open.target = "_blank";
    open.rel = "noopener";
    open.textContent = "open in the browser";
    actions.appendChild(open);
    actions.appendChild(document.createTextNode(" "));
  }
  const why = document.createElement("button");
  why.textContent = "why?";
  why.id = "why";
  why.addEventListener("click", () => explain(s));
  actions.appendChild(why);
  if (holders.length) {
    const kill = document.createElement("button");
    kill.textContent = "kill";
    kill.className = "kill";
    kill.id = "kill";
    kill.addEventListener("click", () => stop(s, holders));
    actions.appendChild(document.createTextNode(" "));
    actions.appendChild(kill);
  }
  detail.appendChild(actions);
  const out = document.createElement("pre");
  out.id = "out";
  detail.appendChild(out);
  const conns = document.createElement("div");
  conns.id = "connections";
  detail.appendChild(conns);
  connections(s, conns);
  if (s.proto === "tcp") {
    const past = document.createElement("div");
    past.id = "history";
    detail.appendChild(past);
    portHistory(s.local.port, past);
  }
}

function when(ms) {
  return ms == null ? "now" : new Date(ms).toISOString().replace(".000Z", "Z");
}

function endingText(e) {
  if (!e) return "";
  const from = e.sender ? ` from ${e.sender}` : "";
  if (e.kind === "exited") return `exited${e.code != null ? " with status " + e.code : ""}${e.signal ? " after signal " + e.signal + from : ""}`;
  if (e.kind === "killed") return `killed by signal ${e.signal}${from}`;
  if (e.kind === "oom-killed") return "killed by the OOM killer";
  return "its process is gone";
}

// What listened on the port before, how it ended, and who kept trying (lport record).
async function portHistory(port, el) {
  const r = await api(`/api/history?port=${port}`);
  if (!r.ok) return;
  const j = await r.json();
  const h = document.createElement("h3");
  h.textContent = `history of port ${port}`;
  const ul = document.createElement("ul");
  for (const l of j.listeners) {
    const li = document.createElement("li");
    const end = endingText(l.ending);
    li.textContent = `${clean(l.name)} (pid ${l.pid}) on ${hostPort(l.addr, l.port)}, ${when(l.opened_ms)} .. ${when(l.closed_ms)}${end ? " — " + end : ""}`;
    ul.appendChild(li);
  }
  for (const a of j.attempts) {
    const li = document.createElement("li");
    li.textContent = `${clean(a.name)} tried ${a.count} time(s), ${a.outcome} (last ${when(a.last_ms)})`;
    ul.appendChild(li);
  }
  if (!ul.children.length) {
    const li = document.createElement("li");
    li.textContent = `nothing recorded (lport record keeps it, in ${j.db})`;
    ul.appendChild(li);
  }
  el.replaceChildren(h, ul);
}

// Every socket on the port in any state: accepted connections, clients, TIME_WAIT.
async function connections(s, el) {
  const r = await api(`/api/who?port=${s.local.port}&proto=${s.proto}`);
  const j = await r.json();
  const others = j.sockets.filter((x) => x.state !== "listen" && x.state !== "unconn");
  const h = document.createElement("h3");
  h.textContent = `connections on port ${s.local.port}: ${others.length}`;
  const ul = document.createElement("ul");
  for (const c of others.slice(0, 50)) {
    const li = document.createElement("li");
    const pids = [...new Set(c.owners.map((o) => o.pid))].join(", ");
    li.textContent = `${c.state} ${hostPort(c.local.addr, c.local.port)} ↔ ${c.remote ? hostPort(c.remote.addr, c.remote.port) : "*"}${pids ? " (pid " + pids + ")" : ""}`;
    ul.appendChild(li);
  }
  el.replaceChildren(h, ul);
}

// A `why` report as text: verdict, service, then each cause with its evidence and fix.
function reportText(j) {
  const tried = (j.attempts || []).map((a) => `${hostPort(a.addr, a.port)} ${a.outcome}`);
  const lines = [`verdict: ${j.verdict}${tried.length ? " (" + tried.join(", ") + ")" : ""}`];
  if (j.service) {
    lines.push(`service: ${j.service.name}${j.service.product ? " (" + clean(j.service.product) + ")" : ""}`);
  }
  for (const c of j.causes || []) {
    lines.push("", `${c.severity} ${c.id}: ${clean(c.summary)}`);
    for (const e of c.evidence || []) lines.push(`  - ${clean(e)}`);
    lines.push(`  fix: ${clean(c.fix)}`);
  }
  return lines.join("\n");
}

async function explain(s) {
  const out = document.getElementById("out");
  out.textContent = "diagnosing…";
  const host = s.local.addr.includes(":") ? "::1" : "127.0.0.1";
  const r = await api(`/api/why?host=${encodeURIComponent(host)}&port=${s.local.port}&proto=${s.proto}`);
  const j = await r.json();
  if (j.service) {
    services.set(`${s.proto}|${s.local.port}`, `${j.service.name}${j.service.product ? " (" + j.service.product + ")" : ""}`);
    render();
  }
  out.textContent = reportText(j);
}

// The box: any target on this machine, listening or not (the article's question).
document.getElementById("diagnose").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const typed = document.getElementById("target").value.trim();
  if (!typed) return;
  selected = null;
  render();
  detail.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = `why ${typed}`;
  const out = document.createElement("pre");
  out.id = "out";
  out.textContent = "diagnosing…";
  detail.append(h, out);
  const r = await api(`/api/why?target=${encodeURIComponent(typed)}`);
  out.textContent = r.ok ? reportText(await r.json()) : await r.text();
});

async function stop(s, holders) {
  const who = holders.map((p) => `pid ${p.pid} (${clean(p.name)}, ${clean(p.user ?? p.uid ?? "?")})`).join(", ");
  if (!confirm(`Send SIGTERM to ${who}, which hold${holders.length === 1 ? "s" : ""} ${s.proto} port ${s.local.port}?`)) return;
  const out = document.getElementById("out");
  out.textContent = "stopping…";
  const r = await api("/api/kill", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ proto: s.proto, port: s.local.port, pids: holders.map((p) => p.pid) }),
  });
  const j = await r.json();
  out.textContent = j.message || JSON.stringify(j);
}

for (const th of document.querySelectorAll("th")) {
  th.addEventListener("click", () => {
    sortDir = sortKey === th.dataset.key ? -sortDir : 1;
    sortKey = th.dataset.key;
    render();
  });
}
filter.addEventListener("input", render);

async function load() {
  const r = await api("/api/listeners");
  if (r.status === 401) {
    status.textContent = "unauthorized: open the URL lport ui printed (it carries the token)";
    return false;
  }
  doc = await r.json();
  render();
  return true;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// One server-sent event block: `event:` and `data:` lines.
// An address and port as clients write them: `[::1]:8124`, `127.0.0.1:8124`.
function hostPort(addr, port) {
  return `${addr.includes(":") ? "[" + addr + "]" : addr}:${port}`;
}

function onEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (name !== "listeners" || !data.length) return;
  doc = JSON.parse(data.join("\n"));
  live = true;
  render();
}

// The event stream over fetch, so it carries the token header; reconnects on its own.
async function stream() {
  for (;;) {
    try {
      const r = await api("/api/events");
      if (r.ok && r.body) {
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n/g, "\n");
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            onEvent(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } else if (r.status === 401) {
        status.textContent = "unauthorized: open the URL lport ui printed (it carries the token)";
        return;
      }
    } catch (e) {
      // The server went away or restarted: try again below.
    }
    status.textContent = "reconnecting…";
    await sleep(1000);
  }
}

load().then((ok) => { if (ok) stream(); });
