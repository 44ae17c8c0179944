// Data > Exports: every export with its status, last run and audience size; Add export and
// Run all scheduled for those whose role allows them.
import { ApiError, get, post } from "../api.js";
import { add, badge, h, message, n, table, time } from "../dom.js";
import { RUN_STATUS, SCHEDULES, TARGETABLE, say } from "../words.js";

/** The connections the caller may read, by id (viewers read none). */
export async function connectionsById(ctx) {
  if (!ctx.can.edit) return {};
  const { connections } = await get("/api/connections");
  return Object.fromEntries(connections.map((c) => [c.id, c]));
}

export function runBadge(status) {
  const [text, kind] = RUN_STATUS[status] || [status, null];
  return badge(text, kind);
}

export function exportStatus(exp) {
  if (exp.status === "inactive") return badge("Inactive", "warning");
  if (exp.active_run_id) return badge("Running", "brand");
  return badge("Active", "success");
}

export function audienceCell(exp) {
  const audience = exp.audience;
  if (!audience) return exp.audience_id ? h("span", { class: "hint", text: "Not read yet" }) : h("span", { class: "hint", text: "Created at the first run" });
  const [targetable, kind] = TARGETABLE[audience.targetable_status] || [audience.targetable_status, null];
  return h("span", {}, h("span", { class: "nowrap", text: `${n(audience.approximate_number_users)} users` }), " ", targetable ? badge(targetable, kind) : null);
}

export async function render(ctx) {
  ctx.title("Exports");
  const [{ exports }, connections] = await Promise.all([get("/api/exports"), connectionsById(ctx)]);
  const notice = h("div", { "aria-live": "polite" });
  const bar = h("div", { class: "command-bar", role: "toolbar", "aria-label": "Export actions" });
  if (ctx.can.edit) {
    bar.append(h("a", { class: "button primary", href: "/api/console/exports/new", text: "Add export" }));
  }
  if (ctx.can.edit && exports.length) {
    const runAll = h("button", {
      type: "button",
      class: "subtle",
      text: "Run all scheduled",
      title: "Run now every active export scheduled with every refresh that you may run",
    });
    runAll.addEventListener("click", async () => {
      runAll.disabled = true;
      try {
        const answer = await post("/api/runs", { all: true });
        const started = answer.runs.filter((r) => r.run_id && !r.error);
        const refused = answer.runs.filter((r) => r.error);
        const names = Object.fromEntries(exports.map((e) => [e.id, e.display_name]));
        notice.replaceChildren(
          message(
            refused.length ? "warning" : "success",
            `${started.length} run${started.length === 1 ? "" : "s"} started`,
            h("p", { text: "Run all scheduled runs the active exports scheduled with every refresh that you may run." }),
            started.length
              ? h("ul", {}, started.map((r) => h("li", {}, h("a", { href: `/api/console/runs/${r.run_id}`, text: names[r.export_id] || r.export_id }))))
              : null,
            refused.length ? h("ul", {}, refused.map((r) => h("li", { text: r.error.message }))) : null,
          ),
        );
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        notice.replaceChildren(message("error", "Not started", h("p", { text: error.message })));
      } finally {
        runAll.disabled = false;
      }
    });
    bar.append(runAll);
  }
  bar.append(h("a", { class: "button subtle", href: "/api/console/exports", text: "Refresh" }));
  add(ctx.main, 
    h("h1", { text: "Exports" }),
    bar,
    notice,
    h("p", { class: "hint", text: "Each export sends segments of unified customer profiles from a Customer Insights export folder to one Snapchat audience. Saving an export does not run it." }),
  );
  if (!exports.length) {
    const hasConnection = Object.values(connections).some((c) => !c.status || c.status === "ready");
    add(ctx.main, 
      h(
        "div",
        { class: "empty" },
        h("p", { text: "No export yet." }),
        ctx.can.edit
          ? hasConnection
            ? h("p", {}, h("a", { href: "/api/console/exports/new", text: "Add an export" }), " to send a segment to Snapchat.")
            : ctx.can.admin
              ? h("p", {}, "First ", h("a", { href: "/api/console/connections/new", text: "add a Snapchat connection" }), ", then add an export.")
              : h("p", { text: "An administrator must first add a Snapchat connection and let contributors use it." })
          : h("p", { text: "Administrators and contributors add exports." }),
      ),
    );
    return;
  }
  add(ctx.main, 
    table(
      "Exports",
      [
        { label: "Name" },
        { label: "Connection" },
        { label: "Schedule" },
        { label: "Status" },
        { label: "Last run" },
        { label: "Audience size" },
      ],
      exports.map((e) => {
        const connection = connections[e.connection_id];
        const last = e.last_run;
        return [
          h("a", { href: `/api/console/exports/${e.id}`, text: e.display_name }),
          connection ? connection.display_name : e.status === "inactive" ? "No connection" : "–",
          SCHEDULES[e.schedule] || e.schedule,
          exportStatus(e),
          last ? h("span", {}, runBadge(last.status), " ", time(last.ended_at || last.started_at || last.created_at)) : h("span", { class: "hint", text: "Never run" }),
          audienceCell(e),
        ];
      }),
      { captionHidden: true },
    ),
  );
}

export { say };
