// One export: its settings, the Snapchat audience and its size over time, the run history,
// and the commands its caller's role allows (Run now, Dry run, Full refresh, Edit, Delete).
import { ApiError, del, get, post, withQuery } from "../api.js";
import { audienceChart } from "../chart.js";
import { add, badge, confirmDialog, h, message, n, radioValue, radios, replace, table, time } from "../dom.js";
import { FIELDS, SCHEDULES, SYNC_MODES, TARGETABLE, TRIGGERS, changeWords } from "../words.js";
import { connectionsById, exportStatus, runBadge } from "./exports.js";

function sum(values) {
  return Object.values(values || {}).reduce((a, b) => a + (typeof b === "number" ? b : 0), 0);
}

export function optionsText(options) {
  const parts = [];
  if (options.dry_run) parts.push("Dry run");
  if (options.full_refresh === "clear_first") parts.push("Full refresh, audience emptied first");
  else if (options.full_refresh) parts.push("Full refresh");
  if (options.allow_mass_removal) parts.push("Mass removal allowed");
  return parts.join(", ");
}

/** Start a run of ``exportId`` with ``options`` and open its page; errors into ``notice``. */
export async function startRun(ctx, exportId, options, notice) {
  try {
    const started = await post(`/api/exports/${exportId}/runs`, options);
    ctx.go(`/api/console/runs/${started.run_id}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    replace(
      notice,
      message(
        "error",
        "The run did not start",
        h("p", { text: error.message }),
        error.runId ? h("p", {}, h("a", { href: `/api/console/runs/${error.runId}`, text: "Open the run in progress" })) : null,
      ),
    );
    notice.scrollIntoView({ block: "nearest" });
  }
}

async function fullRefresh(ctx, exp, notice) {
  const choice = radios(
    "How",
    "full_refresh",
    [
      {
        value: "resend",
        label: "Resend everyone",
        help: "Sends every person of the segments again and removes those the audience should no longer hold. The audience is never empty.",
      },
      {
        value: "clear_first",
        label: "Empty the audience first",
        help: "Snapchat removes every member of the audience (also people this app did not add), then the run adds the segments' people again.",
      },
    ],
    "resend",
  );
  const warning = message(
    "warning",
    "With Empty the audience first, the audience is empty for a while",
    h("p", { text: "Ads that target it stop delivering until Snapchat has processed the new upload, which can take hours." }),
  );
  const box = h("div", {}, h("p", { text: `Full refresh of ${exp.display_name}:` }), choice, warning);
  if (!(await confirmDialog("Full refresh", box, "Start full refresh"))) return;
  const how = radioValue(box, "full_refresh");
  await startRun(ctx, exp.id, { full_refresh: how === "clear_first" ? "clear_first" : true }, notice);
}

async function remove(ctx, exp) {
  const body = [
    h("p", {}, "Delete the export ", h("strong", { text: exp.display_name }), "?"),
    h("p", { text: "Its settings and the record of what it sent are deleted; its runs stay readable by their links. The Snapchat audience is kept as it is: delete it in Snapchat Ads Manager if you no longer need it." }),
  ];
  if (!(await confirmDialog("Delete export", body, "Delete", { danger: true }))) return;
  try {
    await del(`/api/exports/${exp.id}`);
    ctx.flash("success", `Export ${exp.display_name} deleted`, "");
    ctx.go("/api/console/exports");
  } catch (error) {
    ctx.main.prepend(message("error", "Not deleted", h("p", { text: error.message })));
  }
}

function historyRows(runs) {
  return runs.map((r) => {
    const counts = r.counts || {};
    const size = r.audience && r.audience.approximate_number_users;
    // Adds and removes a run did not send (dry run, failed, stopped by a rail) say so.
    const words = changeWords(r);
    const change = (value) => (words.unsent ? [n(value), h("span", { class: "field-help block", text: words.unsent })] : n(value));
    return [
      h("a", { href: `/api/console/runs/${r.id}` }, time(r.created_at)),
      [TRIGGERS[r.trigger] || r.trigger, optionsText(r.options || {}) ? h("span", { class: "field-help block", text: optionsText(r.options || {}) }) : null],
      runBadge(r.status),
      n(counts.rows),
      change(sum(counts.adds)),
      change(sum(counts.removes)),
      typeof size === "number" ? n(size) : "–",
    ];
  });
}

const HISTORY_COLUMNS = [
  { label: "Started" },
  { label: "Trigger" },
  { label: "Status" },
  { label: "Rows", num: true },
  { label: "Adds", num: true },
  { label: "Removes", num: true },
  { label: "Audience size", num: true },
];

export async function render(ctx) {
  const [id] = ctx.params;
  const [exp, connections, history] = await Promise.all([
    get(`/api/exports/${id}`),
    connectionsById(ctx),
    get(withQuery(`/api/exports/${id}/runs`, { limit: 50 })),
  ]);
  ctx.title(exp.display_name);
  const notice = h("div", { "aria-live": "polite" });
  const bar = h("div", { class: "command-bar", role: "toolbar", "aria-label": "Export actions" });
  // A contributor manages only exports of connections shared with contributors (the only
  // connections the API lists to them); the server enforces it either way.
  const mayManage = ctx.can.admin || (ctx.can.edit && Boolean(connections[exp.connection_id]));
  if (mayManage) {
    const run = (options) => () => startRun(ctx, exp.id, options, notice);
    // An inactive export cannot run until it has a connection again: Edit comes first.
    if (exp.status === "active") {
      bar.append(
        h("button", { type: "button", class: "primary", text: "Run now", on: { click: run({}) } }),
        h("button", { type: "button", class: "subtle", text: "Dry run", title: "Count what a run would send; send nothing", on: { click: run({ dry_run: true }) } }),
        h("button", { type: "button", class: "subtle", text: "Full refresh…", on: { click: () => fullRefresh(ctx, exp, notice) } }),
      );
    }
    bar.append(
      h("a", { class: exp.status === "active" ? "button subtle" : "button primary", href: `/api/console/exports/${exp.id}/edit`, text: "Edit" }),
      h("button", { type: "button", class: "subtle", text: "Delete", on: { click: () => remove(ctx, exp) } }),
    );
  }
  bar.append(h("a", { class: "button subtle", href: `/api/console/exports/${exp.id}`, text: "Refresh" }));

  const connection = connections[exp.connection_id];
  const audience = exp.audience;
  const [targetable, targetableKind] = audience ? TARGETABLE[audience.targetable_status] || [audience.targetable_status, null] : [null, null];
  const matching = Object.entries(exp.data_matching)
    .filter(([, column]) => column)
    .map(([key, column]) => h("div", {}, `${FIELDS[key] || key}: `, h("code", { text: column })));
  const source = exp.source
    ? h("span", {}, h("code", { text: exp.source.container }), " / ", h("code", { text: exp.source.prefix || "(root)" }))
    : h("span", { text: "The app settings' folder (EXPORTS_CONTAINER / EXPORTS_PREFIX)" });

  add(ctx.main, 
    h("p", { class: "breadcrumb" }, h("a", { href: "/api/console/exports", text: "Exports" }), ` / ${exp.display_name}`),
    h("h1", { text: exp.display_name }),
    bar,
    notice,
    ctx.can.edit && !mayManage
      ? message("info", "Only administrators can run or change this export", h("p", { text: "Its connection is usable by administrators only." }))
      : null,
    exp.status === "inactive"
      ? message("warning", "This export is inactive", h("p", { text: `${exp.inactive_reason || "Its connection was removed"}. Edit it and choose another connection to run it again.` }))
      : null,
    exp.validation && exp.validation.status === "incomplete"
      ? message("warning", "Not everything was checked when it was saved", h("ul", {}, exp.validation.warnings.map((w) => h("li", { text: w }))))
      : null,
    exp.active_run_id ? message("info", "A run is in progress", h("p", {}, h("a", { href: `/api/console/runs/${exp.active_run_id}`, text: "Follow it" }))) : null,
    h(
      "div",
      { class: "cards" },
      h("div", { class: "card" }, h("span", { class: "label", text: "Status" }), h("span", { class: "value" }, exportStatus(exp))),
      h(
        "div",
        { class: "card" },
        h("span", { class: "label", text: "Last run" }),
        h("span", { class: "value" }, exp.last_run ? h("a", { href: `/api/console/runs/${exp.last_run.run_id}` }, runBadge(exp.last_run.status)) : badge("Never run")),
        exp.last_run ? h("span", { class: "label" }, time(exp.last_run.ended_at)) : null,
      ),
      h(
        "div",
        { class: "card" },
        h("span", { class: "label", text: "Audience size" }),
        h("span", { class: "value", text: audience ? n(audience.approximate_number_users) : "–" }),
        targetable ? badge(targetable, targetableKind) : null,
      ),
    ),
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Audience size over time" }),
      audienceChart(history.runs),
    ),
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Settings" }),
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Connection" }),
        h("dd", { text: connection ? connection.display_name : exp.status === "inactive" ? "No connection" : "Not visible to you" }),
        h("dt", { text: "Snapchat audience" }),
        h("dd", {}, audience ? `${audience.name || ""} ` : "", exp.audience_id ? h("code", { text: exp.audience_id }) : exp.create_audience ? `New audience "${exp.create_audience.name}", created at the first run` : "–"),
        h("dt", { text: "Export folder" }),
        h("dd", {}, source),
        h("dt", { text: "Segments" }),
        h("dd", {}, exp.segments.map((segment) => h("div", { text: segment }))),
        h("dt", { text: "Data matching" }),
        h("dd", {}, matching),
        h("dt", { text: "Schedule" }),
        h("dd", { text: SCHEDULES[exp.schedule] || exp.schedule }),
        h("dt", { text: "Sync mode" }),
        h("dd", { text: SYNC_MODES[exp.sync_mode] || exp.sync_mode }),
        h("dt", { text: "Created" }),
        h("dd", {}, exp.created.name || exp.created.id, " on ", time(exp.created.at)),
      ),
    ),
  );
  const historySection = h("div", { class: "section" }, h("h2", { text: "Run history" }));
  add(ctx.main, historySection);
  if (!history.runs.length) {
    historySection.append(h("p", { class: "hint", text: mayManage && exp.status === "active" ? "No run yet. Select Run now to run the export." : "No run yet." }));
    return;
  }
  const body = table("Runs, newest first", HISTORY_COLUMNS, historyRows(history.runs), { captionHidden: true });
  historySection.append(body);
  let cursor = history.next_cursor;
  if (cursor) {
    const more = h("button", { type: "button", text: "Show older runs" });
    more.addEventListener("click", async () => {
      more.disabled = true;
      const page = await get(withQuery(`/api/exports/${id}/runs`, { limit: 50, cursor }));
      const tbody = body.querySelector("tbody");
      for (const cells of historyRows(page.runs)) {
        tbody.append(h("tr", {}, cells.map((cell, i) => h("td", { class: HISTORY_COLUMNS[i].num ? "num" : null }, cell))));
      }
      cursor = page.next_cursor;
      more.disabled = false;
      more.hidden = !cursor;
    });
    historySection.append(h("div", { class: "button-row" }, more));
  }
}
