// The service's pages: they read the JSON API (the link's cookie goes with every request) and update
// themselves by polling it. Text from the server is always set as text, never as HTML.
"use strict";

async function api(path, options) {
  const response = await fetch(path, Object.assign({credentials: "same-origin"}, options || {}));
  const body = await response.json().catch(() => ({error: "The server answered something unexpected (" + response.status + ")."}));
  if (!response.ok) throw new Error(body.error || ("Error " + response.status));
  return body;
}

function say(text, good) {
  const box = document.getElementById("message");
  box.hidden = !text;
  box.textContent = text || "";
  box.className = "message " + (good ? "good" : "bad");
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function link(td, href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  td.appendChild(a);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString([], {dateStyle: "medium", timeStyle: "short"}) : "";
}

function scoreText(s) {
  return s.score === null ? "" : s.score + " / " + s.max_score;
}

// ------------------------------------------------------------ the student's page

const pending = s => s.status === "queued" || s.status === "running";
let shownReport = null;

async function refreshStudent() {
  const data = await api("/api/submissions");
  const body = document.querySelector("#history tbody");
  body.replaceChildren();
  for (const s of data.submissions) {
    const row = body.insertRow();
    cell(row, String(s.id));
    cell(row, when(s.submitted_at) + " · " + s.filename);
    cell(row, s.status === "graded" ? "graded" : s.stage, "status " + s.status);
    cell(row, scoreText(s));
    const td = cell(row, "");
    if (s.report_url) link(td, s.report_url, "report");
  }
  const latest = data.submissions[0];
  const line = document.getElementById("latest");
  if (latest) {
    line.textContent = "";
    const status = document.createElement("span");
    status.className = "status " + latest.status;
    status.id = "latest-status";
    status.dataset.status = latest.status;
    status.textContent = {queued: "Queued", running: "Being graded", graded: "Graded", error: "Not graded"}[latest.status];
    line.append(status, " · #" + latest.id + " " + latest.filename + ": " +
                (latest.status === "graded" ? scoreText(latest) + " points" : latest.stage) +
                (latest.reason ? " (" + latest.reason + ")" : ""));
  }
  const frame = document.getElementById("report");
  if (latest && latest.report_url && shownReport !== latest.report_url) {
    shownReport = latest.report_url;
    frame.src = latest.report_url;
    frame.hidden = false;
  }
  return data.submissions.some(pending);
}

let polling = null;
function poll(refresh, every) {
  clearTimeout(polling);
  const again = async () => {
    let busy = false;
    try { busy = await refresh(); } catch (e) { say(e.message); }
    polling = setTimeout(again, busy ? every : every * 5);
  };
  again();
}

async function upload(file) {
  const limit = Number(document.getElementById("student").dataset.maxMb);
  if (file.size > limit * 2 ** 20) {
    say(file.name + " is larger than " + limit + " MB, far larger than a notebook. Clear the outputs in Jupyter " +
        "(Edit → Clear All Outputs), save, and upload it again.");
    return;
  }
  const form = new FormData();
  form.append("notebook", file, file.name);
  say("Sending " + file.name + "…", true);
  try {
    const answer = await api("/api/submissions", {method: "POST", body: form});
    say(file.name + " was handed in (#" + answer.id + "). The grader starts on it as soon as it is free.", true);
    poll(refreshStudent, 1000);
  } catch (e) {
    say(e.message);
  }
}

function startStudent() {
  const input = document.getElementById("notebook");
  const drop = document.getElementById("upload");
  input.addEventListener("change", () => { if (input.files[0]) upload(input.files[0]); input.value = ""; });
  drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", e => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });
  document.getElementById("report").addEventListener("load", e => {  // as tall as the report: one scroll bar
    const doc = e.target.contentDocument;
    if (doc && doc.documentElement) e.target.style.height = (doc.documentElement.scrollHeight + 20) + "px";
  });
  poll(refreshStudent, 1000);
}

// ------------------------------------------------------------ the instructor's page

function resultText(r) {
  if (r.status === "not graded yet") return "—";
  return r.status === "graded" ? r.score + " / " + r.max_score : "not graded: " + r.reason;
}

async function regrade(path) {
  try {
    const answer = await api(path, {method: "POST"});
    say(answer.queued + " submission" + (answer.queued === 1 ? "" : "s") + " queued to be graded again.", true);
    poll(refreshClass, 2000);
  } catch (e) {
    say(e.message);
  }
}

async function refreshClass() {
  const data = await api("/api/class");
  document.getElementById("counts").textContent = data.graded + " graded, " + data.errors +
    " could not be graded" + (data.mean === null ? "" : ", class average " + data.mean + "%");
  const pending = data.lti_pending;
  document.getElementById("lti-pending").textContent = pending.length === 0 ? "" :
    pending.length + " score" + (pending.length === 1 ? "" : "s") + " not yet taken by the LMS's gradebook " +
    "(tried again by itself): " + pending.map(p => p.student + (p.last_error ? " (" + p.last_error + ")" : "")).join(", ");
  const body = document.querySelector("#class tbody");
  body.replaceChildren();
  for (const s of data.students) {
    const row = body.insertRow();
    cell(row, (s.name || s.student) + (s.name ? " (" + s.student + ")" : ""));
    const latest = cell(row, resultText(s.latest) + " ");
    if (s.latest_submission) link(latest, "/reports/" + s.latest_submission + "?for=instructor", "report");
    const best = cell(row, resultText(s.best) + " ");
    if (s.best_submission) link(best, "/reports/" + s.best_submission + "?for=instructor", "report");
    cell(row, s.waiting ? String(s.waiting) : "");
    const action = cell(row, "");
    if (s.latest_submission) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small";
      button.textContent = "Re-grade";
      button.addEventListener("click", () => regrade("/api/submissions/" + s.latest_submission + "/regrade"));
      action.appendChild(button);
    }
  }
  return data.students.some(s => s.waiting);
}

function startInstructor() {
  document.getElementById("regrade-all").addEventListener("click", () => regrade("/api/class/regrade"));
  poll(refreshClass, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("student")) startStudent();
  if (document.getElementById("instructor")) startInstructor();
});
