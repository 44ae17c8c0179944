// One run: live progress while it works (polling GET /api/runs/{id}/progress), then what it
// read, rejected (per field and reason), added and removed, the audience Snapchat shows after
// it, warnings and errors in plain words, and the controls the caller's role allows.
import { ApiError, get } from "../api.js";
import { add, badge, confirmDialog, h, message, n, replace, table, time } from "../dom.js";
import { INVALID_REASONS, RUN_ERRORS, STEPS, TARGETABLE, TRIGGERS, changeWords, schemaName } from "../words.js";
import { optionsText, startRun } from "./export.js";
import { runBadge } from "./exports.js";

const POLL_MS = 1500;
const TERMINAL = new Set(["succeeded", "failed", "skipped"]);

function sum(values) {
  return Object.values(values || {}).reduce((a, b) => a + (typeof b === "number" ? b : 0), 0);
}

function meter(label, progress, unit) {
  if (!progress) return null;
  const id = `meter-${label.replace(/\W+/g, "-").toLowerCase()}`;
  return h(
    "div",
    { class: "meter" },
    h("label", { for: id }, h("span", { text: label }), h("span", { text: `${n(progress.done)} of ${n(progress.total)} ${unit}` })),
    h("progress", { id, max: Math.max(progress.total, 1), value: progress.done }),
  );
}

function stepsList(progress, run) {
  const clears = run.options.full_refresh === "clear_first" || progress.step === "clear";
  // A dry run stops after comparing: it neither empties the audience nor sends anything.
  const shown = STEPS.filter(([key]) => (key !== "clear" || clears) && !(run.options.dry_run && ["clear", "upload"].includes(key)));
  const order = shown.map(([key]) => key);
  let at = order.indexOf(progress.step);
  if (progress.status === "succeeded" || progress.status === "skipped") at = order.length;
  return h(
    "ol",
    { class: "steps", "aria-label": "Steps of the run" },
    shown.map(([key, label], index) => {
      const state = index < at ? "done" : index === at && !TERMINAL.has(progress.status) ? "current" : null;
      return h(
        "li",
        { class: state, "aria-current": state === "current" ? "step" : null },
        label,
        h("span", { class: "sr-only", text: state === "done" ? " (done)" : state === "current" ? " (in progress)" : "" }),
      );
    }),
  );
}

function progressView(progress, run) {
  return [
    stepsList(progress, run),
    meter("Files read", progress.parts_read, "parts"),
    meter("Compared with the audience", progress.partitions_diffed, "partitions"),
    meter("Sent to Snapchat", progress.batches_sent, "requests"),
  ];
}

function statusLine(progress) {
  if (TERMINAL.has(progress.status)) return `The run ${progress.status}.`;
  const step = STEPS.find(([key]) => key === progress.step);
  const parts = [`${progress.status === "queued" ? "Queued" : "Running"}: ${step ? step[1] : progress.step}`];
  const current = { read: progress.parts_read, diff: progress.partitions_diffed, upload: progress.batches_sent }[progress.step];
  if (current) parts.push(`${current.done} of ${current.total}`);
  return `${parts.join(", ")}.`;
}

function errorView(ctx, run, exportId) {
  if (!run.error) return null;
  const [title, advice] = RUN_ERRORS[run.error.code] || ["The run failed", ""];
  const blocked = run.error.code === "mass_removal_blocked";
  const counts = run.counts || {};
  const numbers = blocked
    ? table(
        "What the run would have removed",
        [{ label: "Identifier type" }, { label: "Held before", num: true }, { label: "Would remove", num: true }, { label: "Would add", num: true }],
        Object.keys({ ...(counts.previous_snapshot || {}), ...(counts.removes || {}) }).map((schema) => [
          schemaName(schema),
          n((counts.previous_snapshot || {})[schema] || 0),
          n((counts.removes || {})[schema] || 0),
          n((counts.adds || {})[schema] || 0),
        ]),
      )
    : null;
  let allow = null;
  if (blocked && ctx.can.edit) {
    const notice = h("div", { "aria-live": "polite" });
    allow = h(
      "div",
      {},
      notice,
      h("button", {
        type: "button",
        class: "danger",
        text: "Allow mass removal and run again",
        on: {
          click: async () => {
            const ok = await confirmDialog(
              "Allow mass removal",
              [h("p", { text: "The new run removes these people from the Snapchat audience. Do this only when the export is right and they really left the segments." }), numbers ? numbers.cloneNode(true) : null],
              "Run allowing mass removal",
              { danger: true },
            );
            if (ok) await startRun(ctx, exportId, { ...run.options, allow_mass_removal: true, dry_run: false }, notice);
          },
        },
      }),
    );
  }
  return message(
    "error",
    title,
    advice ? h("p", { text: advice }) : null,
    h("p", { class: "hint" }, "Details: ", h("span", { text: run.error.message })),
    numbers,
    allow,
  );
}

function countsView(run) {
  const counts = run.counts || {};
  if (counts.rows === undefined) return null;
  const identifiers = counts.identifiers || {};
  const adds = counts.adds || {};
  const removes = counts.removes || {};
  // Every identifier type is counted; one with nothing valid, added or removed was not mapped
  // (or matched nothing): shown only for email, which every export maps.
  const schemas = [...new Set([...Object.keys(identifiers), ...Object.keys(adds), ...Object.keys(removes)])].filter(
    (schema) => schema === "EMAIL_SHA256" || identifiers[schema] || adds[schema] || removes[schema],
  );
  const invalidRows = [];
  for (const [column, reasons] of Object.entries(counts.invalid || {})) {
    for (const [reason, count] of Object.entries(reasons)) invalidRows.push([h("code", { text: column }), INVALID_REASONS[reason] || reason, n(count)]);
  }
  const missingRows = Object.entries(counts.missing || {}).map(([column, count]) => [h("code", { text: column }), n(count)]);
  const prehashedRows = Object.entries(counts.prehashed || {}).map(([column, count]) => [h("code", { text: column }), n(count)]);
  const words = changeWords(run);
  return [
    h(
      "div",
      { class: "cards" },
      h("div", { class: "card" }, h("span", { class: "value", text: n(counts.rows) }), h("span", { class: "label", text: "Rows read" })),
      h("div", { class: "card" }, h("span", { class: "value", text: n(counts.profiles_with_identifier) }), h("span", { class: "label", text: "Profiles with an identifier" })),
      h("div", { class: "card" }, h("span", { class: "value", text: n(sum(adds)) }), h("span", { class: "label", text: words.add })),
      h("div", { class: "card" }, h("span", { class: "value", text: n(sum(removes)) }), h("span", { class: "label", text: words.remove })),
    ),
    schemas.length
      ? table(
          "Identifiers by type",
          [{ label: "Identifier type" }, { label: "Valid (distinct)", num: true }, { label: words.add, num: true }, { label: words.remove, num: true }],
          schemas.map((schema) => [schemaName(schema), n(identifiers[schema] || 0), n(adds[schema] || 0), n(removes[schema] || 0)]),
        )
      : null,
    h("h3", { text: "Values not sent" }),
    invalidRows.length
      ? table("Invalid values, by field and reason", [{ label: "Field" }, { label: "Reason" }, { label: "Values", num: true }], invalidRows)
      : h("p", { class: "hint", text: "No invalid value." }),
    missingRows.length ? table("Empty cells, by field", [{ label: "Field" }, { label: "Empty cells", num: true }], missingRows) : null,
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: "Duplicates dropped" }),
      h("dd", { text: n(counts.duplicates || 0) }),
      h("dt", { text: "Dropped by an erasure" }),
      h("dd", { text: n(counts.erased || 0) }),
    ),
    prehashedRows.length ? [h("h3", { text: "Already hashed values (sent as they are)" }), table("Already hashed values, by field", [{ label: "Field" }, { label: "Values", num: true }], prehashedRows)] : null,
  ];
}

function audienceView(run) {
  const audience = run.audience;
  if (!audience) return null;
  const [targetable, kind] = TARGETABLE[audience.targetable_status] || [audience.targetable_status, null];
  return h(
    "dl",
    { class: "facts" },
    h("dt", { text: "Audience" }),
    h("dd", {}, audience.name || "", " ", audience.id ? h("code", { text: audience.id }) : null),
    h("dt", { text: "Size (matched users)" }),
    h("dd", { text: n(audience.approximate_number_users) }),
    h("dt", { text: "Targetable" }),
    h("dd", {}, targetable ? badge(targetable, kind) : "–"),
    h("dt", { text: "Upload" }),
    h("dd", { text: audience.upload_status || "–" }),
  );
}

function sourceView(run) {
  if (!run.source || !run.source.length) return null;
  return table(
    "What was read",
    [{ label: "Segment" }, { label: "Exported by Customer Insights" }, { label: "Files", num: true }, { label: "Bytes", num: true }],
    run.source.map((s) => [s.segment, time(s.exported_at), n(s.files), n(s.bytes)]),
  );
}

export async function render(ctx) {
  const [id] = ctx.params;
  let run = await get(`/api/runs/${id}`);
  let exp = null;
  try {
    exp = await get(`/api/exports/${run.export_id}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  const name = exp ? exp.display_name : "a deleted export";
  ctx.title(`Run of ${name}`);
  const live = h("p", { class: "sr-only", role: "status", "aria-live": "polite" });
  const header = h("div", { class: "run-header" });
  const progressBox = h("div", { class: "section" });
  const body = h("div");
  const bar = h("div", { class: "command-bar", role: "toolbar", "aria-label": "Run actions" });
  const notice = h("div", { "aria-live": "polite" });
  if (exp) {
    bar.append(h("a", { class: "button subtle", href: `/api/console/exports/${exp.id}`, text: "Open the export" }));
    if (ctx.can.edit) {
      bar.append(h("button", { type: "button", class: "subtle", text: "Run now", on: { click: () => startRun(ctx, exp.id, {}, notice) } }));
    }
  }
  add(ctx.main, 
    h("p", { class: "breadcrumb" }, h("a", { href: "/api/console/exports", text: "Exports" }), " / ", exp ? h("a", { href: `/api/console/exports/${exp.id}`, text: exp.display_name }) : name, " / Run"),
    h("h1", { text: `Run of ${name}` }),
    bar,
    notice,
    live,
    header,
    progressBox,
    body,
  );

  function paintHeader() {
    replace(
      header,
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Status" }),
        h("dd", { class: "run-status" }, runBadge(run.status)),
        h("dt", { text: "Trigger" }),
        h("dd", {}, TRIGGERS[run.trigger] || run.trigger, optionsText(run.options) ? ` (${optionsText(run.options)})` : ""),
        h("dt", { text: "Started" }),
        h("dd", {}, time(run.started_at || run.created_at)),
        h("dt", { text: "Ended" }),
        h("dd", {}, time(run.ended_at)),
      ),
    );
  }

  function paintBody() {
    const counts = run.counts || {};
    replace(
      body,
      errorView(ctx, run, run.export_id),
      run.status === "skipped" ? message("info", "Skipped", h("p", { text: "The newest export of the segments was already sent by an earlier run: nothing to do. Run now always runs." })) : null,
      counts.unchanged_source ? message("info", "Nothing changed", h("p", { text: "The export's files are the same as the last successful run's: nothing was sent." })) : null,
      counts.dry_run || run.options.dry_run ? message("info", "Dry run", h("p", { text: "Counts of what a run would send. Nothing was sent to Snapchat." })) : null,
      run.warnings && run.warnings.length ? message("warning", "Warnings", h("ul", {}, run.warnings.map((w) => h("li", { text: w })))) : null,
      run.last_retryable_error && !TERMINAL.has(run.status)
        ? message("warning", "Retrying", h("p", { text: `A step failed and is retried: ${run.last_retryable_error}` }))
        : null,
      run.audience ? h("div", { class: "section" }, h("h2", { text: "Snapchat audience" }), audienceView(run)) : null,
      counts.rows !== undefined ? h("div", { class: "section" }, h("h2", { text: "Counts" }), countsView(run)) : null,
      run.source && run.source.length ? h("div", { class: "section" }, h("h2", { text: "Source" }), sourceView(run)) : null,
    );
  }

  let lastLine = "";
  function paintProgress(progress) {
    replace(progressBox, h("h2", { text: "Progress" }), progressView(progress, run));
    const line = statusLine(progress);
    if (line !== lastLine) {
      live.textContent = line;
      lastLine = line;
    }
  }

  paintHeader();
  paintBody();
  let progress = await get(`/api/runs/${id}/progress`);
  paintProgress(progress);
  follow().catch((error) => notice.replaceChildren(message("error", "Progress stopped updating", h("p", { text: String(error.message || error) }))));

  async function follow() {
    while (!TERMINAL.has(progress.status)) {
      await poll();
    }
  }

  let failures = 0;
  async function poll() {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    let next;
    try {
      next = await get(`/api/runs/${id}/progress`);
    } catch (error) {
      failures += 1;
      if (!(error instanceof ApiError) || error.status === 401 || failures >= 20) throw error;
      return; // a passing failure: try again at the next tick
    }
    failures = 0;
    progress = next;
    if (TERMINAL.has(progress.status) || progress.phase !== run.phase || progress.status !== run.status) {
      run = await get(`/api/runs/${id}`);
      paintHeader();
      paintBody();
    }
    paintProgress(progress);
  }
}
