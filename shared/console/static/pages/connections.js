// Admin > Connections: the Snapchat connections (Customer Insights' Settings > Connections).
// Administrators see every connection and add, open and remove them; contributors see the
// ones shared with them, by name and type only.
import { get } from "../api.js";
import { add, badge, h, message, table, time } from "../dom.js";
import { MISSING, USABLE_BY } from "../words.js";

export function statusBadge(connection) {
  if (!connection.status) return badge("Shared with you", null);
  if (connection.status === "ready") return badge("Ready", "success");
  const missing = (connection.missing || []).map((m) => MISSING[m] || m);
  return badge(`Needs ${missing.join(" and ")}`, "warning");
}

export async function render(ctx) {
  ctx.title("Connections");
  const { connections } = await get("/api/connections");
  add(ctx.main, 
    h("h1", { text: "Connections" }),
    h(
      "div",
      { class: "command-bar", role: "toolbar", "aria-label": "Connection actions" },
      ctx.can.admin ? h("a", { class: "button primary", href: "/api/console/connections/new", text: "Add connection" }) : null,
    ),
    ctx.can.admin
      ? h("p", { class: "hint", text: "A connection is a Snapchat sign-in that exports use to send audiences. Only administrators set connections up; they may let contributors use one for their exports." })
      : h("p", { class: "hint", text: "Connections that administrators shared with contributors. Only administrators can view or change them." }),
  );
  if (!connections.length) {
    add(ctx.main, 
      h(
        "div",
        { class: "empty" },
        h("p", { text: "No connection yet." }),
        ctx.can.admin
          ? h("p", {}, h("a", { href: "/api/console/connections/new", text: "Add a Snapchat connection" }), " to start.")
          : h("p", { text: "Ask an administrator to add a Snapchat connection and let contributors use it." }),
      ),
    );
    return;
  }
  if (!ctx.can.admin) {
    add(ctx.main, 
      table(
        "Connections shared with contributors",
        [{ label: "Name" }, { label: "Type" }],
        connections.map((c) => [c.display_name, "Snapchat"]),
        { captionHidden: true },
      ),
    );
    return;
  }
  add(ctx.main, 
    table(
      "Snapchat connections",
      [{ label: "Name" }, { label: "Type" }, { label: "Who can use it" }, { label: "Status" }, { label: "Snapchat user" }, { label: "Created" }],
      connections.map((c) => [
        h("a", { href: `/api/console/connections/${c.id}`, text: c.display_name }),
        "Snapchat",
        USABLE_BY[c.usable_by] || c.usable_by,
        statusBadge(c),
        (c.snapchat_member && c.snapchat_member.display_name) || (c.signed_in ? "Signed in" : "–"),
        h("span", {}, time(c.created && c.created.at), c.created && c.created.name ? ` by ${c.created.name}` : ""),
      ]),
      { captionHidden: true },
    ),
  );
  if (connections.some((c) => c.status !== "ready")) {
    add(ctx.main, message("info", null, h("p", { text: "Open a connection that is not ready to finish setting it up." })));
  }
}
