// The example dashboard: everything Proxmox-specific goes through the wasm client.
import init, { ProxmoxClient } from "./pkg/proxmox_wasm.js";

const $ = (sel) => document.querySelector(sel);
let client = null;

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value ?? "";
  if (cls) el.className = cls;
  return el;
}

function describe(err) {
  // ProxmoxError: status, statusText and per-parameter errors from the server.
  let msg = err.message ?? String(err);
  if (err.errors && Object.keys(err.errors).length) {
    msg += "\n" + Object.entries(err.errors).map(([k, v]) => `  ${k}: ${v}`).join("\n");
  }
  return msg;
}

async function refresh() {
  $("#guests-error").textContent = "";
  try {
    const resources = await client.get("cluster/resources");
    const nodes = resources.filter((r) => r.type === "node");
    const guests = resources
      .filter((r) => r.type === "qemu" || r.type === "lxc")
      .sort((a, b) => a.vmid - b.vmid);
    const select = $("#console-node");
    if (!select.options.length) select.append(...nodes.map((n) => text("option", n.node)));
    const nbody = $("#nodes tbody");
    nbody.replaceChildren(...nodes.map((n) => {
      const tr = document.createElement("tr");
      tr.append(text("td", n.node), text("td", n.status, n.status === "online" ? "running" : "stopped"),
        text("td", `${((n.cpu ?? 0) * 100).toFixed(1)} %`),
        text("td", n.maxmem ? `${((n.mem / n.maxmem) * 100).toFixed(0)} %` : "–"));
      return tr;
    }));
    const gbody = $("#guests tbody");
    gbody.replaceChildren(...guests.map((g) => {
      const tr = document.createElement("tr");
      tr.dataset.vmid = g.vmid;
      tr.dataset.status = g.status;
      const actions = document.createElement("td");
      const start = text("button", "Start", "start");
      start.disabled = g.status === "running";
      start.onclick = () => power(g, "start");
      const stop = text("button", "Stop", "stop");
      stop.disabled = g.status !== "running";
      stop.onclick = () => power(g, "stop");
      actions.append(start, " ", stop);
      tr.append(text("td", g.vmid), text("td", g.name), text("td", g.type), text("td", g.node),
        text("td", g.status, g.status), actions);
      return tr;
    }));
    $("#nodes-box").hidden = false;
    $("#guests-box").hidden = false;
    $("#console-box").hidden = false;
  } catch (err) {
    $("#guests-error").textContent = describe(err);
  }
}

async function power(guest, action) {
  $("#task-box").hidden = false;
  $("#task-title").textContent = `${action} ${guest.type}/${guest.vmid}`;
  const status = $("#task-status");
  const log = $("#task-log");
  status.className = "";
  status.textContent = "starting…";
  log.textContent = "";
  for (const b of document.querySelectorAll("#guests button")) b.disabled = true;
  try {
    const upid = await client.post(["nodes", guest.node, guest.type, guest.vmid, "status", action]);
    status.textContent = "running";
    status.dataset.upid = upid;
    const result = await client.followTaskLog(upid, (lines) => {
      for (const l of lines) log.textContent += l.t + "\n";
      log.scrollTop = log.scrollHeight;
    }, { intervalMs: 250 });
    status.textContent = result.success
      ? (result.outcome === "warnings" ? `finished with ${result.warnings} warnings` : "finished: OK")
      : `failed: ${result.message ?? result.outcome}`;
    status.className = result.success ? "ok" : "failed";
  } catch (err) {
    status.textContent = "error: " + describe(err);
    status.className = "failed";
  }
  await refresh();
}

// The change feed: each change is listed (newest first) and the tables are redrawn once
// per batch of changes.
let watch = null;
let redraw = null;

function describeChange(c) {
  switch (c.change) {
    case "added": return `+ ${c.id} (${c.status ?? "–"} on ${c.node ?? "–"})`;
    case "removed": return `− ${c.id}`;
    case "migrated": return `${c.id} migrated ${c.from} → ${c.to}`;
    case "lock": return c.to ? `${c.id} locked (${c.to})` : `${c.id} unlocked (was ${c.from})`;
    case "ha_state": return `${c.id} HA ${c.from ?? "–"} → ${c.to ?? "–"}`;
    default: return `${c.id} ${c.from ?? "–"} → ${c.to ?? "–"}`;
  }
}

function watchChanges() {
  watch?.stop();
  $("#changes-box").hidden = false;
  watch = client.watchResources(2000, (c) => {
    const li = text("li", `${new Date().toLocaleTimeString()} ${describeChange(c)}`, c.change);
    li.dataset.change = c.change;
    li.dataset.id = c.id;
    $("#changes").prepend(li);
    $("#changes-error").textContent = "";
    clearTimeout(redraw);
    redraw = setTimeout(refresh, 50);
  }, (err) => { $("#changes-error").textContent = describe(err); });
}

// The node shell: a <pre> and an input line (not a terminal emulator: escape sequences are
// dropped, backspaces applied).
let shell = null;
let decoder = null;

function show(bytes) {
  const t = decoder.decode(bytes, { stream: true })
    .replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\r/g, "");
  const out = $("#console-out");
  let s = out.textContent;
  for (const ch of t) s = ch === "\b" ? s.slice(0, -1) : s + ch;
  out.textContent = s.slice(-50000);
  out.scrollTop = out.scrollHeight;
}

function consoleState(open, note) {
  $("#console-open").disabled = open;
  $("#console-close").disabled = !open;
  $("#console-in").disabled = !open;
  $("#console-state").textContent = note;
  $("#console-box").dataset.state = open ? "open" : "closed";
}

$("#console-open").addEventListener("click", async () => {
  $("#console-error").textContent = "";
  $("#console-open").disabled = true;
  try {
    shell = await client.console({ node: $("#console-node").value, cols: 100, rows: 30 });
  } catch (err) {
    $("#console-error").textContent = describe(err);
    $("#console-open").disabled = false;
    return;
  }
  decoder = new TextDecoder();
  $("#console-out").textContent = "";
  shell.onOutput(show);
  shell.onClose((info) => {
    shell = null;
    if (info.error) $("#console-error").textContent = describe(info.error);
    consoleState(false, info.error ? "failed" : `closed${info.code ? ` (${info.code})` : ""}`);
  });
  consoleState(true, "open");
  $("#console-in").focus();
});
$("#console-close").addEventListener("click", () => shell?.close());
$("#console-in").addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter" || !shell) return;
  try {
    shell.send(ev.target.value + "\n");
  } catch (err) {
    $("#console-error").textContent = describe(err);
  }
  ev.target.value = "";
});

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    const prefix = $("#path-prefix").value.trim();
    const user = $("#username").value.trim();
    client = new ProxmoxClient({
      ...(user
        ? { username: user, password: $("#password").value }
        : { tokenId: $("#token-id").value.trim(), tokenSecret: $("#token-secret").value }),
      ...(prefix ? { pathPrefix: prefix } : {}),
    });
    if (user && (await client.login()).status !== "ok") {
      throw new Error("this example has no second-factor prompt");
    }
    await client.get("version");
    $("#login-box").hidden = true;
    await refresh();
    watchChanges();
  } catch (err) {
    client = null;
    $("#login-error").textContent = describe(err);
  }
});
$("#refresh").addEventListener("click", refresh);

await init();
document.body.dataset.ready = "1";
