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

function uptime(start) {
  if (!start) return "";
  const s = Math.max(0, (Date.now() - Date.parse(start)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function view(s) {
  const p = s.owners.length ? procOf(s.owners[0].pid) : null;
  return {
    id: `${s.proto}|${s.local.addr}|${s.local.port}|${s.inode}`,
    port: s.local.port,
    addr: s.local.addr,
    proto: s.proto,
    exposure: s.exposure,
    process: p ? `${clean(p.name)} (${[...new Set(s.owners.map((o) => o.pid))].join(", ")})` : (s.owner_note || "?"),
    user: p ? (p.user || String(p.uid ?? "?")) : String(s.uid ?? "?"),
    where: p ? (p.container || p.unit || "") : "",
    service: services.get(`${s.proto}|${s.local.port}`) || "",
    uptime: p ? uptime(p.start_time) : "",
    started: p ? p.start_time : null,
    socket: s,
  };
}

function text(v) {
  return String(v ?? "");
}

function render() {
  const q = filter.value.trim().toLowerCase();
  const list = doc.sockets.map(view).filter((v) =>
    !q || [v.port, v.addr, v.process, v.user, v.where, v.exposure].some((f) => text(f).toLowerCase().includes(q)));
  list.sort((a, b) => {
    const x = sortKey === "uptime" ? a.started : a[sortKey];
    const y = sortKey === "uptime" ? b.started : b[sortKey];
    return (x > y ? 1 : x < y ? -1 : 0) * sortDir;
  });
  rows.replaceChildren(...list.map((v) => {
    const tr = document.createElement("tr");
    tr.className = "row" + (known.size && !known.has(v.id) ? " new" : "");
    tr.dataset.port = v.port;
    for (const k of ["port", "addr", "proto", "exposure", "process", "user", "where", "service", "uptime"]) {
      const td = document.createElement("td");
      td.textContent = text(v[k]);
      if (k === "exposure") td.className = `exp-${v.exposure}`;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => show(v));
    return tr;
  }));
  known = new Set(doc.sockets.map((s) => view(s).id));
}

function show(v) {
  selected = v;
  const s = v.socket;
  const holders = [...new Set(s.owners.map((o) => o.pid))].map((pid) => procOf(pid)).filter(Boolean);
  detail.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = `${s.proto} ${s.local.addr}:${s.local.port}`;
  detail.appendChild(h);
  const ul = document.createElement("ul");
  for (const p of holders) {
    const li = document.createElement("li");
    li.textContent = `pid ${p.pid} ${clean(p.name)} — user ${clean(p.user ?? p.uid ?? "?")}, started ${p.start_time ?? "?"} — ${clean(p.cmdline.join(" "))}`;
    ul.appendChild(li);
  }
  if (!holders.length) {
    const li = document.createElement("li");
    li.textContent = s.owner_note || "no visible owner";
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
  detail.className = "open";
  connections(s, conns);
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
    li.textContent = `${c.state} ${c.local.addr}:${c.local.port} ↔ ${c.remote ? c.remote.addr + ":" + c.remote.port : "*"}${pids ? " (pid " + pids + ")" : ""}`;
    ul.appendChild(li);
  }
  el.replaceChildren(h, ul);
}

async function explain(s) {
  const out = document.getElementById("out");
  out.textContent = "diagnosing…";
  const host = s.local.addr.includes(":") ? "::1" : "127.0.0.1";
  const r = await api(`/api/why?host=${encodeURIComponent(host)}&port=${s.local.port}&proto=${s.proto}`);
  const j = await r.json();
  const lines = [`verdict: ${j.verdict}`];
  if (j.service) {
    const name = `${j.service.name}${j.service.product ? " (" + j.service.product + ")" : ""}`;
    lines.push(`service: ${name}`);
    services.set(`${s.proto}|${s.local.port}`, name);
    render();
  }
  for (const c of j.causes || []) lines.push(`${c.severity} ${c.id}: ${c.summary}\n  fix: ${c.fix}`);
  out.textContent = lines.join("\n");
}

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
function onEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (name !== "listeners" || !data.length) return;
  doc = JSON.parse(data.join("\n"));
  status.textContent = `live — ${doc.sockets.length} listeners`;
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
