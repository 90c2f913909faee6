// The cyray dashboard page: fetches the JSON API (/api/...) every 2 s and renders it.
// Every value from the cluster goes into the page as text (textContent), never as HTML.
"use strict";

const REFRESH_MS = 2000;
const TIMELINE_EVERY = 5;  // the timeline (every finished task) only every 5th refresh
let refreshes = 0;
const expandedTasks = new Set();  // "task_id:attempt" of the rows showing their details
const logState = { node: "", file: "" };

// ---- helpers ------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  if (!response.ok) {
    const text = await response.text();
    const error = new Error(`${path}: ${response.status} ${text.slice(0, 300)}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

const short = (id) => (id ? String(id).slice(0, 12) : "");
const stateCell = (state) => el("td", { class: `state state-${state}` }, state || "");

function fmtBytes(n) {
  if (n === null || n === undefined || n < 0) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
}

const fmtTime = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "");

function fmtAmount(name, value) {
  return name === "memory" || name === "object_store_memory" ? fmtBytes(value)
    : String(Math.round(value * 100) / 100);
}

function bar(label, used, total, text) {
  const share = total > 0 ? Math.min(1, Math.max(0, used / total)) : 0;
  return el("div", { class: "bar-row" },
    el("span", { class: "bar-label", title: label }, label),
    el("span", { class: share > 0.85 ? "bar high" : "bar", title: `${Math.round(share * 100)}%` },
      el("span", { style: `width: ${(share * 100).toFixed(1)}%` })),
    el("span", { class: "bar-text" }, text));
}

function resourceBars(total, available) {
  const names = Object.keys(total || {}).filter((n) => !n.startsWith("node:")).sort();
  return names.map((name) => {
    const used = total[name] - ((available || {})[name] ?? 0);
    return bar(name, used, total[name], `${fmtAmount(name, used)} / ${fmtAmount(name, total[name])}`);
  });
}

function fillTable(id, rows, emptyText, columns) {
  const body = document.querySelector(`#${id} tbody`);
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "muted" }, emptyText)));
  } else {
    body.replaceChildren(...rows);
  }
}

// ---- sections -----------------------------------------------------------------------

async function loadCluster() {
  const data = await getJSON("/api/cluster");
  document.getElementById("cluster-address").textContent = `GCS ${data.gcs_address}`;
  const alive = data.nodes.filter((n) => n.state === "ALIVE").length;
  document.getElementById("cluster-totals").replaceChildren(
    el("div", {}, el("b", {}, `${alive} alive node(s)`), ` of ${data.nodes.length}`),
    el("div", {}, ...resourceBars(data.resources_total, data.resources_available)));
  fillTable("nodes-table", data.nodes.map((node) => {
    const store = node.object_store;
    return el("tr", { "data-node-id": node.node_id },
      el("td", { class: "mono", title: node.node_id }, short(node.node_id),
        node.is_head_node ? " (head)" : ""),
      el("td", {}, node.node_ip, node.node_name && node.node_name !== node.node_ip
        ? ` ${node.node_name}` : ""),
      stateCell(node.state),
      el("td", {}, ...resourceBars(node.resources_total, node.resources_available)),
      el("td", {}, store ? bar("store", store.used_bytes, store.capacity_bytes,
        `${fmtBytes(store.used_bytes)} / ${fmtBytes(store.capacity_bytes)}`) : "",
      store ? `${store.num_objects} object(s), ${fmtBytes(store.spilled_bytes)} spilled` : ""),
      el("td", {}, node.num_workers ?? "", node.num_drivers ? ` + ${node.num_drivers} driver(s)` : ""),
      el("td", {}, node.num_queued_leases ?? ""));
  }), "no nodes", 7);
  document.getElementById("store-usage").replaceChildren(...data.nodes
    .filter((n) => n.object_store)
    .map((n) => bar(`store ${short(n.node_id)}`, n.object_store.used_bytes,
      n.object_store.capacity_bytes,
      `${fmtBytes(n.object_store.used_bytes)} / ${fmtBytes(n.object_store.capacity_bytes)}`)));
  updateLogNodes(data.nodes.filter((n) => n.state === "ALIVE"));
}

async function loadJobs() {
  const data = await getJSON("/api/jobs");
  document.getElementById("jobs-count").textContent = `${data.total}`;
  const now = Date.now();
  fillTable("jobs-table", data.result.map((job) => el("tr", {},
    el("td", { class: "mono" }, job.job_id), stateCell(job.status),
    el("td", { class: "mono" }, job.entrypoint || ""),
    el("td", {}, job.driver_info ? `pid ${job.driver_info.pid} on ${job.driver_info.node_ip_address}` : ""),
    el("td", {}, fmtTime(job.start_time)),
    el("td", {}, job.start_time ? fmtDuration((job.end_time || now) - job.start_time) : ""))),
  "no jobs", 6);
}

async function loadActors() {
  const data = await getJSON("/api/actors");
  document.getElementById("actors-count").textContent = `${data.total}`;
  fillTable("actors-table", data.result.map((actor) => el("tr", {},
    el("td", { class: "mono", title: actor.actor_id }, short(actor.actor_id)),
    el("td", {}, actor.class_name), el("td", {}, actor.name || ""), stateCell(actor.state),
    el("td", {}, actor.pid ?? ""), el("td", { class: "mono" }, short(actor.node_id)),
    el("td", {}, actor.num_restarts ?? ""),
    el("td", {}, actor.death_cause
      ? el("pre", { class: "traceback" }, `${actor.death_cause.error_type}: ${actor.death_cause.message}`)
      : ""))), "no actors", 8);
}

function taskDuration(task, now) {
  if (task.start_time_ms) return fmtDuration((task.end_time_ms || now) - task.start_time_ms);
  return "";
}

function taskDetail(task) {
  const lines = [`task ${task.task_id} attempt ${task.attempt_number}`,
    `function ${task.func_or_class_name}`,
    task.actor_id ? `actor ${task.actor_id}` : null,
    `job ${task.job_id}, worker ${task.worker_id || "-"}`,
    `created ${fmtTime(task.creation_time_ms)}, started ${fmtTime(task.start_time_ms)}, ` +
      `ended ${fmtTime(task.end_time_ms)}`,
    "states: " + (task.events || []).map((e) => e.state).join(" → ")].filter(Boolean);
  return el("tr", { class: "detail" }, el("td", { colspan: 8 },
    el("pre", {}, lines.join("\n")),
    task.error_message ? el("pre", { class: "traceback" }, task.error_message) : null));
}

async function loadTasks() {
  const state = document.getElementById("task-state").value;
  const limit = document.getElementById("task-limit").value;
  const query = `limit=${encodeURIComponent(limit)}` + (state ? `&state=${encodeURIComponent(state)}` : "");
  const data = await getJSON(`/api/tasks?${query}`);
  document.getElementById("tasks-count").textContent =
    `${data.result.length} shown of ${data.total}`;
  document.getElementById("tasks-summary").replaceChildren(...Object.entries(data.state_counts).sort()
    .map(([s, n]) => el("span", { class: `chip state-${s}` }, `${s}: ${n}`)));
  const now = Date.now();
  const rows = [];
  for (const task of data.result) {
    const key = `${task.task_id}:${task.attempt_number}`;
    const row = el("tr", { class: "clickable", "data-task-id": task.task_id },
      el("td", { title: task.func_or_class_name }, task.name), stateCell(task.state),
      el("td", {}, task.type), el("td", {}, taskDuration(task, now)),
      el("td", { class: "mono" }, short(task.node_id)), el("td", {}, task.worker_pid ?? ""),
      el("td", {}, task.attempt_number), el("td", { class: "state-FAILED" }, task.error_type || ""));
    row.addEventListener("click", () => {
      if (expandedTasks.has(key)) expandedTasks.delete(key); else expandedTasks.add(key);
      loadTasks().catch(showError);
    });
    rows.push(row);
    if (expandedTasks.has(key)) rows.push(taskDetail(task));
  }
  fillTable("tasks-table", rows, "no tasks (yet: task events reach the GCS about 1 s after they happen)", 8);
}

async function loadObjects() {
  const data = await getJSON("/api/objects?limit=500");
  const size = data.result.reduce((sum, o) => sum + Math.max(0, o.object_size), 0);
  document.getElementById("objects-count").textContent =
    `${data.total} reference(s); the ${data.result.length} largest shown hold ${fmtBytes(size)}`;
  fillTable("objects-table", data.result.map((o) => el("tr", {},
    el("td", { class: "mono", title: o.object_id }, short(o.object_id)),
    el("td", {}, o.object_size >= 0 ? fmtBytes(o.object_size) : "?"),
    el("td", {}, o.reference_type), stateCell(o.task_status),
    el("td", { class: "mono" }, o.call_site), el("td", {}, `${o.type} pid ${o.pid}`),
    el("td", {}, o.ip))), "no object references", 7);
}

async function loadTimeline() {
  // One bar per task attempt (the phases within a run, if any, are left to the trace).
  let events = (await getJSON("/api/timeline")).filter((e) => e.args && e.args.state);
  document.getElementById("timeline-count").textContent = `${events.length} finished call(s)`;
  const box = document.getElementById("timeline");
  if (!events.length) { box.replaceChildren(el("div", { class: "muted" }, "nothing ran yet")); return; }
  events = events.slice(-2000);
  const t0 = Math.min(...events.map((e) => e.ts));
  const t1 = Math.max(...events.map((e) => e.ts + e.dur));
  const span = Math.max(1, t1 - t0);
  const lanes = new Map();
  for (const e of events) {
    const lane = `${e.pid} ${e.tid}`;
    if (!lanes.has(lane)) lanes.set(lane, []);
    lanes.get(lane).push(e);
  }
  const rows = [...lanes.keys()].sort().map((lane) => el("div", { class: "lane" },
    el("span", { class: "lane-label", title: lane }, lane),
    el("div", { class: "track" }, ...lanes.get(lane).map((e) => el("div", {
      class: e.args.state,
      style: `left: ${((e.ts - t0) / span * 100).toFixed(3)}%; width: ${(e.dur / span * 100).toFixed(3)}%`,
      title: `${e.name} (${e.args.state}) ${fmtDuration(Math.round(e.dur / 1000))}`,
    })))));
  box.replaceChildren(...rows, el("div", { class: "axis" },
    el("span", {}, fmtTime(t0 / 1000)), el("span", {}, fmtDuration(Math.round(span / 1000))),
    el("span", {}, fmtTime(t1 / 1000))));
}

// ---- logs ---------------------------------------------------------------------------

function updateLogNodes(nodes) {
  const select = document.getElementById("log-node");
  const ids = nodes.map((n) => n.node_id);
  const have = [...select.options].map((o) => o.value);
  if (ids.join() === have.join()) return;
  select.replaceChildren(...nodes.map((n) => el("option", { value: n.node_id },
    `${short(n.node_id)} ${n.node_ip}${n.is_head_node ? " (head)" : ""}`)));
  if (ids.includes(logState.node)) select.value = logState.node;
  if (select.value !== logState.node) { logState.node = select.value; loadLogFiles().catch(showError); }
}

async function loadLogFiles() {
  if (!logState.node) return;
  const data = await getJSON(`/api/logs?node_id=${encodeURIComponent(logState.node)}`);
  const items = [];
  for (const [group, files] of Object.entries(data.result)) {
    items.push(el("li", { class: "group" }, group));
    for (const name of files) {
      items.push(el("li", { class: name === logState.file ? "selected" : "",
        onclick: () => { logState.file = name; loadLogFiles().catch(showError); loadLogFile().catch(showError); },
      }, name));
    }
  }
  document.getElementById("log-files").replaceChildren(...items);
}

async function loadLogFile() {
  if (!logState.node || !logState.file) return;
  const tail = document.getElementById("log-tail").value || "500";
  const data = await getJSON(`/api/logs/file?node_id=${encodeURIComponent(logState.node)}` +
    `&filename=${encodeURIComponent(logState.file)}&tail=${encodeURIComponent(tail)}`);
  document.getElementById("log-name").textContent = `${data.filename} (${data.lines.length} lines)`;
  const view = document.getElementById("log-view");
  const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
  view.textContent = data.lines.join("\n");
  if (atBottom) view.scrollTop = view.scrollHeight;
}

// ---- the refresh loop ---------------------------------------------------------------

function showError(error) {
  const banner = document.getElementById("banner");
  banner.hidden = false;
  banner.textContent = error.status === 401
    ? "This dashboard needs the cluster token: open it once as /?token=<token>."
    : String(error.message || error);
}

async function refresh() {
  if (!document.getElementById("pause").checked) {
    const loaders = [loadCluster, loadJobs, loadActors, loadTasks, loadObjects];
    if (refreshes++ % TIMELINE_EVERY === 0) loaders.push(loadTimeline);
    if (document.getElementById("log-follow").checked) loaders.push(loadLogFile);
    const results = await Promise.allSettled(loaders.map((load) => load()));
    const failed = results.filter((r) => r.status === "rejected");
    const status = document.getElementById("status");
    if (failed.length) {
      showError(failed[0].reason);
      status.className = "status error";
      status.textContent = `update failed at ${new Date().toLocaleTimeString()}`;
    } else {
      document.getElementById("banner").hidden = true;
      status.className = "status";
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    }
  }
  setTimeout(refresh, REFRESH_MS);
}

document.getElementById("task-state").addEventListener("change", () => loadTasks().catch(showError));
document.getElementById("task-limit").addEventListener("change", () => loadTasks().catch(showError));
document.getElementById("log-node").addEventListener("change", (event) => {
  logState.node = event.target.value;
  logState.file = "";
  loadLogFiles().catch(showError);
});
document.getElementById("log-tail").addEventListener("change", () => loadLogFile().catch(showError));
refresh();
