// Audience size over time: an inline SVG of Snapchat's approximate_number_users read back after
// each run (a line), with the identifiers each run added (green, up) and removed (red, down),
// so a drop is seen at a glance. The same numbers are in a table beside it for screen readers.
import { h, n, table, time, when } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, String(value));
  for (const child of children) element.append(child);
  return element;
}

function sum(values) {
  return Object.values(values || {}).reduce((a, b) => a + (typeof b === "number" ? b : 0), 0);
}

/** The points of a run history (newest first): runs that read an audience size back. */
export function points(runs) {
  return runs
    .filter((r) => r.status === "succeeded" && r.audience && typeof r.audience.approximate_number_users === "number" && !(r.counts && r.counts.dry_run))
    .map((r) => ({
      runId: r.id,
      at: r.ended_at || r.created_at,
      size: r.audience.approximate_number_users,
      adds: sum(r.counts && r.counts.adds),
      removes: sum(r.counts && r.counts.removes),
    }))
    .reverse();
}

function ticks(max) {
  if (max <= 0) return [0];
  const step = 10 ** Math.floor(Math.log10(max));
  const unit = max / step > 5 ? step * 2 : max / step > 2 ? step : step / 2;
  const result = [];
  for (let value = 0; ; value += unit) {
    result.push(value);
    if (value >= max) return result;
  }
}

/** The chart (figure with an SVG and a data table) for a run history, or a note when empty. */
export function audienceChart(runs) {
  const data = points(runs);
  if (!data.length) {
    return h("p", { class: "hint", text: "No audience size yet: it is read back from Snapchat after each successful run." });
  }
  const width = 720;
  const height = 240;
  const left = 64;
  const right = 16;
  const top = 16;
  const bottom = 40;
  const max = Math.max(1, ...data.map((d) => Math.max(d.size, d.adds, d.removes)));
  const scaleTop = ticks(max).at(-1) || max;
  const y = (value) => top + (height - top - bottom) * (1 - value / scaleTop);
  const slot = (width - left - right) / data.length;
  const x = (index) => left + slot * (index + 0.5);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-title chart-desc" });
  const first = data[0];
  const last = data.at(-1);
  svg.append(
    s("title", { id: "chart-title" }, "Audience size over time"),
    s("desc", { id: "chart-desc" }, `${data.length} runs; from ${n(first.size)} users on ${when(first.at)} to ${n(last.size)} users on ${when(last.at)}.`),
  );
  for (const value of ticks(max)) {
    svg.append(
      s("line", { class: "grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }),
      s("text", { x: left - 8, y: y(value) + 4, "text-anchor": "end" }, n(Math.round(value))),
    );
  }
  svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  const bar = Math.max(2, Math.min(14, slot / 4));
  data.forEach((d, i) => {
    if (d.adds) svg.append(s("rect", { class: "adds", x: x(i) - bar - 1, width: bar, y: y(d.adds), height: y(0) - y(d.adds) }));
    if (d.removes) svg.append(s("rect", { class: "removes", x: x(i) + 1, width: bar, y: y(d.removes), height: y(0) - y(d.removes) }));
  });
  const path = data.map((d, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(d.size).toFixed(1)}`).join(" ");
  svg.append(s("path", { class: "size-line", d: path }));
  data.forEach((d, i) => {
    svg.append(s("circle", { class: "size-dot", cx: x(i), cy: y(d.size), r: 3.5 }, s("title", {}, `${when(d.at)}: ${n(d.size)} users`)));
  });
  const labelEvery = Math.ceil(data.length / 6);
  const days = new Set(data.map((d) => new Date(d.at).toDateString()));
  const label = (date) =>
    days.size === 1
      ? date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  data.forEach((d, i) => {
    if (i % labelEvery === 0 || i === data.length - 1) {
      const date = new Date(d.at);
      const text = Number.isNaN(date.getTime()) ? "" : label(date);
      svg.append(s("text", { x: x(i), y: height - bottom + 18, "text-anchor": "middle" }, text));
    }
  });
  return h(
    "figure",
    { class: "chart" },
    svg,
    h(
      "figcaption",
      { class: "legend" },
      h("span", {}, h("span", { class: "swatch size-swatch", "aria-hidden": "true" }), "Audience size (matched users)"),
      h("span", {}, h("span", { class: "swatch adds-swatch", "aria-hidden": "true" }), "Added"),
      h("span", {}, h("span", { class: "swatch removes-swatch", "aria-hidden": "true" }), "Removed"),
    ),
    h(
      "details",
      {},
      h("summary", { text: "The numbers" }),
      table(
        "Audience size after each run",
        [{ label: "Run ended" }, { label: "Audience size", num: true }, { label: "Added", num: true }, { label: "Removed", num: true }],
        data
          .slice()
          .reverse()
          .map((d) => [h("a", { href: `/api/console/runs/${d.runId}` }, time(d.at)), n(d.size), n(d.adds), n(d.removes)]),
      ),
    ),
  );
}
