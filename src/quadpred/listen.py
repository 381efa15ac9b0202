"""The listening page of a predict folder: ``index.html``, one self-contained local page.

Per file: an audio player (the audio is referenced by its path relative to the page, never
copied), the per-second quadrant probabilities and the arousal and valence lines against time
with a cursor that follows playback (click the plot to seek), the top quadrant per second in
colour, and the song's path through Russell's arousal-valence plane. Above them a sortable
summary table. No network, no CDN: the data, script and style are inline, so the page works
opened from disk. Files are drawn only when scrolled into view, so a batch of 1,000 stays fast.
"""

from __future__ import annotations

import csv
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .files import write_text_atomic
from .labels import QUADRANT_COLOURS, QUADRANT_MEANINGS, QUADRANTS

PAGE_NAME = "index.html"


def page_entry(result: dict[str, Any], page_folder: Path) -> dict[str, Any]:
    """What the page draws of one file, from its predict JSON (:meth:`Prediction.to_json`):
    times (steps,), quadrant probabilities (steps, 4), P(arousal positive) and P(valence
    positive) (steps,), rounded to 3 decimals, and the audio's path relative to the page."""
    labels = result["labels"]
    quadrant = [[round(row[labels["quadrant"].index(q)], 3) for q in QUADRANTS]
                for row in result["probabilities"]["quadrant"]]
    positive = {task: [round(row[labels[task].index("positive")], 3) for row in result["probabilities"][task]]
                for task in ("arousal", "valence")}
    source = Path(result["file"])
    audio = os.path.relpath(source.resolve(), page_folder.resolve()) if source.is_absolute() or source.exists() \
        else str(source)
    return {"name": source.name, "audio": Path(audio).as_posix(), "duration": result["duration"],
            "top": result["top_quadrant"], "means": [round(result["means"]["quadrant"][q], 3) for q in QUADRANTS],
            "arousal_mean": round(result["means"]["arousal"]["positive"], 3),
            "valence_mean": round(result["means"]["valence"]["positive"], 3),
            "time": [round((s + e) / 2, 3) for s, e in zip(result["start"], result["end"])],
            "quadrant": quadrant, **positive, "model": result["model"]}


def summarised_results(summary: Path) -> list[dict[str, Any]]:
    """The predict JSONs of every file that summary.csv lists as done (this call's and earlier ones),
    in its order; a file whose JSON is gone is left out."""
    results = []
    with summary.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            marker = Path(row.get("outputs", "").removesuffix(".*") + ".json")
            if row.get("status") == "ok" and marker.is_file():
                results.append(json.loads(marker.read_text(encoding="utf-8")))
    return results


def write_page(folder: Path, results: Sequence[dict[str, Any]], *, title: str = "quadpred: emotion over time") -> Path:
    """``folder/index.html`` for ``results`` (predict JSONs); returns its path."""
    entries = [page_entry(r, folder) for r in results]
    data = json.dumps({"files": entries, "quadrants": list(QUADRANTS), "colours": QUADRANT_COLOURS,
                       "meanings": QUADRANT_MEANINGS}, separators=(",", ":"))
    # inside <script>, "</" would end the element early
    page = _TEMPLATE.replace("@TITLE@", html.escape(title)).replace("@DATA@", data.replace("</", "<\\/"))
    path = folder / PAGE_NAME
    write_text_atomic(path, page)
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>@TITLE@</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2em; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { cursor: pointer; user-select: none; background: #f4f4f4; }
th.sorted::after { content: attr(data-arrow); }
td a { color: inherit; }
section.file { min-height: 290px; border-top: 1px solid #ccc; padding-top: .6em; }
.row { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.timeline { position: relative; cursor: crosshair; }
.cursor { position: absolute; top: 0; bottom: 0; width: 2px; background: #000; left: 0; pointer-events: none; }
.legend span { display: inline-block; margin-right: 1em; }
.swatch { display: inline-block; width: .9em; height: .9em; vertical-align: -1px; margin-right: .3em; }
audio { width: 640px; max-width: 100%; }
</style></head>
<body>
<h1>@TITLE@</h1>
<p class="legend" id="legend"></p>
<p>Click a column to sort; click a name to go to its file. On each plot: quadrant probabilities per
second (stacked), the top quadrant in the strip above, P(arousal positive) as a black line and
P(valence positive) as a dashed line; click the plot to play from there. Right: the path through
Russell's plane (valence across, arousal up), light to dark over time from the circle to the square;
during playback a dot marks the current second.</p>
<table id="summary"><thead><tr></tr></thead><tbody></tbody></table>
<div id="files"></div>
<script type="application/json" id="data">@DATA@</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const Q = DATA.quadrants, COL = DATA.colours;
const W = 640, H = 216, AXIS = 16, STRIP = 14, R = 200;

document.getElementById("legend").innerHTML = Q.map(q =>
  `<span><i class="swatch" style="background:${COL[q]}"></i>${q} ${DATA.meanings[q] || ""}</span>`).join("");

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}

// --- summary table, sortable -------------------------------------------------------------
// [heading, value, decimals (null: text)]
const COLUMNS = [["file", f => f.name, null], ["duration (s)", f => f.duration, 1], ["top", f => f.top, null],
  ...Q.map((q, i) => [`P(${q})`, f => f.means[i], 3]), ["P(arousal +)", f => f.arousal_mean, 3],
  ["P(valence +)", f => f.valence_mean, 3]];
const head = document.querySelector("#summary thead tr"), body = document.querySelector("#summary tbody");
let order = DATA.files.map((_, i) => i), sortedBy = -1, ascending = true;
COLUMNS.forEach(([name], c) => {
  const th = document.createElement("th");
  th.textContent = name;
  th.addEventListener("click", () => sortBy(c));
  head.appendChild(th);
});
function renderTable() {
  body.innerHTML = order.map(i => {
    const f = DATA.files[i];
    return "<tr>" + COLUMNS.map(([, get, decimals], c) => c === 0 ? `<td><a href="#file-${i}">${escapeHtml(f.name)}</a></td>`
      : `<td>${escapeHtml(decimals === null ? get(f) : get(f).toFixed(decimals))}</td>`).join("") + "</tr>";
  }).join("");
}
function sortBy(c) {
  ascending = sortedBy === c ? !ascending : true;
  sortedBy = c;
  const get = COLUMNS[c][1];
  order.sort((a, b) => { const x = get(DATA.files[a]), y = get(DATA.files[b]);
    return (x < y ? -1 : x > y ? 1 : a - b) * (ascending ? 1 : -1); });
  head.querySelectorAll("th").forEach((th, k) => { th.classList.toggle("sorted", k === c);
    th.dataset.arrow = ascending ? " \\u25b2" : " \\u25bc"; });
  renderTable();
}
renderTable();

// --- one section per file, drawn when it scrolls into view -----------------------------------
const container = document.getElementById("files");
DATA.files.forEach((f, i) => {
  const section = document.createElement("section");
  section.className = "file";
  section.id = `file-${i}`;
  section.dataset.index = i;
  section.innerHTML = `<h3>${escapeHtml(f.name)} — top ${f.top} (${escapeHtml(DATA.meanings[f.top] || "")})</h3>`;
  container.appendChild(section);
});
const observer = new IntersectionObserver(entries => entries.forEach(entry => {
  if (entry.isIntersecting && !entry.target.dataset.drawn) draw(entry.target);
}), {rootMargin: "400px"});
container.querySelectorAll("section.file").forEach(s => observer.observe(s));

function span(f) { const t = f.time, step = t.length > 1 ? t[1] - t[0] : 1;
  return [Math.max(0, t[0] - step / 2), Math.max(f.duration, t[t.length - 1] + step / 2)]; }

function drawTimeline(canvas, f) {
  const g = canvas.getContext("2d"), [t0, t1] = span(f), n = f.time.length;
  const x = t => (t - t0) / (t1 - t0) * W, y = p => STRIP + (1 - p) * (H - AXIS - STRIP);
  const step = n > 1 ? f.time[1] - f.time[0] : t1 - t0;
  g.clearRect(0, 0, W, H);
  for (let k = 0; k < n; k++) {          // stacked quadrant probabilities and the top-quadrant strip
    // whole pixels shared by neighbouring seconds: no gap and no overlap (a darker seam)
    const left = Math.round(x(f.time[k] - step / 2)), width = Math.round(x(f.time[k] + step / 2)) - left;
    let base = 0, best = 0;
    f.quadrant[k].forEach((p, q) => {
      g.fillStyle = COL[Q[q]];
      g.globalAlpha = 0.55;
      g.fillRect(left, y(base + p), width, y(base) - y(base + p));
      base += p;
      if (p > f.quadrant[k][best]) best = q;
    });
    g.globalAlpha = 1;
    g.fillStyle = COL[Q[best]];
    g.fillRect(left, 0, width, STRIP - 2);
  }
  for (const [series, dash] of [[f.arousal, []], [f.valence, [5, 4]]]) {
    g.beginPath(); g.setLineDash(dash); g.strokeStyle = "#000"; g.lineWidth = 1.5;
    series.forEach((p, k) => k ? g.lineTo(x(f.time[k]), y(p)) : g.moveTo(x(f.time[k]), y(p)));
    g.stroke();
  }
  g.setLineDash([]);
  const tick = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find(s => (t1 - t0) / s <= 12) || 1200;
  g.fillStyle = "#333"; g.strokeStyle = "#333"; g.font = "11px system-ui"; g.textAlign = "center";
  for (let t = Math.ceil(t0 / tick) * tick; t <= t1; t += tick) {
    g.beginPath(); g.moveTo(x(t), H - AXIS); g.lineTo(x(t), H - AXIS + 4); g.stroke();
    g.fillText(t >= 60 ? `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}` : `${t} s`,
               Math.min(W - 14, Math.max(14, x(t))), H - 2);
  }
}

function drawPlane(canvas, f, upTo) {
  const g = canvas.getContext("2d"), m = 18, s = R - 2 * m;
  const px = v => m + (v + 1) / 2 * s, py = a => m + (1 - (a + 1) / 2) * s;
  g.clearRect(0, 0, R, R);
  [["Q1", 1, 0], ["Q2", 0, 0], ["Q3", 0, 1], ["Q4", 1, 1]].forEach(([q, col, row]) => {
    g.fillStyle = COL[q]; g.globalAlpha = 0.12; g.fillRect(m + col * s / 2, m + row * s / 2, s / 2, s / 2);
    g.globalAlpha = 1; g.fillStyle = "#333"; g.font = "11px system-ui";
    g.textAlign = col ? "right" : "left";
    g.fillText(`${q} ${(DATA.meanings[q] || "").split("/")[0]}`, col ? R - m - 3 : m + 3, row ? R - m - 4 : m + 12);
  });
  g.strokeStyle = "#999"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(px(0), m); g.lineTo(px(0), R - m); g.moveTo(m, py(0)); g.lineTo(R - m, py(0)); g.stroke();
  g.fillStyle = "#555"; g.textAlign = "center"; g.fillText("valence", R / 2, R - 3);
  g.save(); g.translate(9, R / 2); g.rotate(-Math.PI / 2); g.fillText("arousal", 0, 0); g.restore();
  const n = f.time.length;
  for (let k = 1; k < n; k++) {
    const shade = Math.round(200 - 180 * k / Math.max(n - 1, 1));
    g.strokeStyle = `rgb(${shade},${shade},${shade})`; g.lineWidth = 1.5;
    g.beginPath();
    g.moveTo(px(2 * f.valence[k - 1] - 1), py(2 * f.arousal[k - 1] - 1));
    g.lineTo(px(2 * f.valence[k] - 1), py(2 * f.arousal[k] - 1));
    g.stroke();
  }
  if (n) {                                 // start (circle) and end (square) of the path
    g.fillStyle = "#bbb"; g.beginPath();
    g.arc(px(2 * f.valence[0] - 1), py(2 * f.arousal[0] - 1), 3.5, 0, 2 * Math.PI); g.fill();
    g.fillStyle = "#000"; g.fillRect(px(2 * f.valence[n - 1] - 1) - 3, py(2 * f.arousal[n - 1] - 1) - 3, 6, 6);
  }
  if (upTo !== null && n) {
    g.fillStyle = "#000"; g.beginPath();
    g.arc(px(2 * f.valence[upTo] - 1), py(2 * f.arousal[upTo] - 1), 5, 0, 2 * Math.PI); g.fill();
  }
}

function draw(section) {
  const i = Number(section.dataset.index), f = DATA.files[i];
  section.dataset.drawn = "1";
  const row = document.createElement("div");
  row.className = "row";
  row.innerHTML = `<div><div class="timeline"><canvas class="plot" width="${W}" height="${H}"></canvas>` +
    `<div class="cursor"></div></div><br><audio controls preload="none"></audio></div>` +
    `<canvas class="plane" width="${R}" height="${R}"></canvas>`;
  section.appendChild(row);
  const audio = row.querySelector("audio"), plot = row.querySelector("canvas.plot"),
    plane = row.querySelector("canvas.plane"), cursor = row.querySelector(".cursor");
  audio.src = encodeURI(f.audio);
  drawTimeline(plot, f);
  drawPlane(plane, f, null);
  const [t0, t1] = span(f);
  let shown = -1;
  function follow() {
    const t = audio.currentTime;
    cursor.style.left = `${Math.min(W, Math.max(0, (t - t0) / (t1 - t0) * W))}px`;
    let k = 0;
    while (k + 1 < f.time.length && f.time[k + 1] <= t) k++;
    if (k !== shown) { shown = k; drawPlane(plane, f, k); }
    if (!audio.paused) requestAnimationFrame(follow);
  }
  audio.addEventListener("play", follow);
  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  plot.addEventListener("click", event => {
    const box = plot.getBoundingClientRect();
    audio.currentTime = t0 + (event.clientX - box.left) / box.width * (t1 - t0);
    follow();
  });
}
</script>
</body></html>
"""
