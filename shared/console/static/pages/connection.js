// Admin > Connections > Add connection, and one connection: the steps Customer Insights'
// Snapchat connection takes (display name, who can use it, I agree, Connect, Authenticate
// with Snapchat, Add yourself as export user, Save), renaming, sharing and removing it.
import { ApiError, del, get, patch, post } from "../api.js";
import { add, badge, confirmDialog, field, fieldError, focusMessage, h, message, radioValue, radios, replace, time } from "../dom.js";
import { MISSING, USABLE_BY } from "../words.js";
import { statusBadge } from "./connections.js";

const PRIVACY = [
  "When you connect Snapchat, this app sends data about your customers outside Customer Insights and outside your Azure subscription, to Snap Inc.: the email addresses, phone numbers and mobile advertising ids of the segments you export, each hashed with SHA-256 before it leaves the app.",
  "The app sends this data at your instruction. You are responsible for having the consent needed to use it for advertising and for making sure Snap meets the privacy and security obligations you have. Snap's handling of the data is described in Snap's Business Services Terms and the Snap Audience Match terms you accepted in Ads Manager.",
  "An administrator can remove the connection at any time to stop sending data to Snapchat.",
];

const SIGN_IN = {
  complete: ["success", "Authenticated with Snapchat", "Next: add yourself as export user."],
  refused: ["error", "Snapchat sign-in was not completed", "Snapchat did not grant access (the sign-in was cancelled or refused). Try again, signed in as a Snapchat user with the Admin or Data Manager role on the ad account."],
  unavailable: ["error", "Snapchat could not be reached", "Snapchat's sign-in service did not answer. Try again in a few minutes."],
  invalid_state: ["error", "The sign-in link expired or was already used", "Select Authenticate with Snapchat again (a sign-in must finish within 10 minutes, by the administrator who started it)."],
  connection_deleted: ["error", "The connection was removed during the sign-in", ""],
};

function usableByChoice(selected) {
  return radios(
    "Choose who can use this connection",
    "usable_by",
    [
      { value: "admins", label: USABLE_BY.admins, help: "Only administrators can create and run exports with it." },
      {
        value: "admins_and_contributors",
        label: USABLE_BY.admins_and_contributors,
        help: "Contributors see its name and type, and can create and run exports that use it.",
      },
    ],
    selected,
  );
}

function showErrors(form, error, controls) {
  const bar = form.querySelector(".form-errors");
  replace(bar);
  for (const control of Object.values(controls)) fieldError(control, null);
  let first = null;
  for (const name of error.fields || []) {
    if (controls[name]) {
      fieldError(controls[name], error.message);
      first = first || controls[name];
    }
  }
  const banner = message("error", first ? "Check the highlighted field" : "Not saved", h("p", { text: error.message }));
  bar.append(banner);
  // Focus goes to what needs fixing (the submit button was where it was; after a refusal it
  // must not fall back to the page's body).
  if (first) first.focus();
  else focusMessage(banner);
}

async function renderNew(ctx) {
  ctx.title("Add connection");
  if (!ctx.can.admin) {
    add(ctx.main, message("error", "Only administrators add connections", null));
    return;
  }
  const name = h("input", { type: "text", name: "display_name", autocomplete: "off", maxlength: 256 });
  const agree = h("input", { type: "checkbox", id: "privacy-agree", name: "privacy_consent" });
  const privacyId = "privacy-text";
  agree.setAttribute("aria-describedby", privacyId);
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "form-errors", "aria-live": "assertive" }),
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Snapchat" }),
      field("Display name", name, {
        required: true,
        help: "A name that says what the connection is for, e.g. \"Snapchat – EMEA ad account\". Exports show it.",
      }),
      usableByChoice("admins"),
    ),
    h(
      "div",
      { class: "section" },
      h("h2", { id: "privacy-heading", text: "Data privacy and compliance" }),
      h("div", { class: "consent", id: privacyId, tabindex: "0", role: "region", "aria-labelledby": "privacy-heading" }, PRIVACY.map((text) => h("p", { text }))),
      h("div", { class: "choice" }, agree, h("label", { for: "privacy-agree", text: "I agree" })),
      h("p", { class: "field-error", id: "privacy-agree-error", hidden: true }),
    ),
    h(
      "div",
      { class: "button-row" },
      h("button", { type: "submit", class: "primary", text: "Connect" }),
      h("a", { class: "button", href: "/api/console/connections", text: "Cancel" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(name, null);
    fieldError(agree, null);
    let ok = true;
    if (!name.value.trim()) {
      fieldError(name, "Give the connection a display name.");
      ok = false;
    }
    if (!agree.checked) {
      fieldError(agree, "Select I agree to connect: the connection sends data to Snapchat.");
      ok = false;
    }
    if (!ok) {
      (name.value.trim() ? agree : name).focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const created = await post("/api/connections", {
        display_name: name.value.trim(),
        usable_by: radioValue(form, "usable_by"),
        privacy_consent: true,
      });
      ctx.flash("success", "Connected", "Next: authenticate with Snapchat, then add yourself as export user.");
      ctx.go(`/api/console/connections/${created.id}`);
    } catch (error) {
      button.disabled = false;
      if (!(error instanceof ApiError)) throw error;
      showErrors(form, error, { display_name: name, usable_by: form.querySelector("input[name=usable_by]"), privacy_consent: agree });
    }
  });
  add(ctx.main, 
    h("p", { class: "breadcrumb" }, h("a", { href: "/api/console/connections", text: "Connections" }), " / Add connection"),
    h("h1", { text: "Add connection" }),
    h("p", { class: "hint", text: "Connect this app to Snapchat Ads. After Connect, authenticate with Snapchat and add yourself as export user; then exports can use the connection." }),
    form,
  );
  name.focus();
}

function step(done, number, title, detail, action) {
  return h(
    "li",
    { class: done ? "done" : null },
    h("span", { class: "mark", "aria-hidden": "true", text: done ? "✓" : String(number) }),
    h("span", {}, h("span", { class: "title" }, title, h("span", { class: "sr-only", text: done ? " (done)" : " (to do)" })), h("span", { class: "hint" }, detail)),
    action || h("span"),
  );
}

function who(actor) {
  if (!actor) return "";
  return [actor.name || actor.id, " on ", time(actor.at)];
}

async function renderExisting(ctx, id) {
  const connection = await get(`/api/connections/${id}`);
  ctx.title(connection.display_name);
  const crumbs = h("p", { class: "breadcrumb" }, h("a", { href: "/api/console/connections", text: "Connections" }), ` / ${connection.display_name}`);
  if (!ctx.can.admin) {
    add(ctx.main, 
      crumbs,
      h("h1", { text: connection.display_name }),
      h("p", {}, "Type: Snapchat. ", badge("Shared with contributors", null)),
      message("info", null, h("p", { text: "Only administrators can view or change a connection. You can use it for exports." })),
    );
    return;
  }
  let outcome = SIGN_IN[ctx.query.get("signin")];
  if (ctx.query.get("signin") === "complete" && connection.export_user) {
    outcome = ["success", "Authenticated with Snapchat", "The connection is ready: exports can use it now."];
  }
  // Shown once: a reload of the page does not say it again.
  if (ctx.query.has("signin")) history.replaceState(null, "", location.pathname);
  const member = connection.snapchat_member && connection.snapchat_member.display_name;
  const returnTo = `/api/console/connections/${connection.id}`;
  const signInHref = `/api/connections/${connection.id}/authorize?return_to=${encodeURIComponent(returnTo)}`;
  const exportUserButton = h("button", {
    type: "button",
    class: connection.signed_in && !connection.export_user ? "primary" : null,
    text: connection.export_user ? "Replace with yourself" : "Add yourself as export user",
  });
  exportUserButton.addEventListener("click", async () => {
    exportUserButton.disabled = true;
    try {
      const saved = await post(`/api/connections/${connection.id}/export-user`);
      ctx.flash(
        "success",
        "You are the export user",
        saved.signed_in ? "The connection is ready: exports can use it now." : "Next: authenticate with Snapchat; then exports can use the connection.",
      );
      ctx.go(returnTo);
    } catch (error) {
      exportUserButton.disabled = false;
      actions.prepend(message("error", "Not added", h("p", { text: error.message })));
    }
  });
  const steps = h(
    "ol",
    { class: "checklist", "aria-label": "Setup steps" },
    step(Boolean(connection.privacy_consent), 1, "Data privacy and compliance", [" Agreed by ", who(connection.privacy_consent)]),
    step(
      Boolean(connection.signed_in),
      2,
      "Authenticate with Snapchat",
      connection.signed_in
        ? [" Signed in", member ? ` as Snapchat user ${member}` : "", " by ", who(connection.signed_in)]
        : " Sign in to Snapchat as a user with the Admin or Data Manager role on your ad account. You come back here when done.",
      h("a", {
        class: connection.signed_in ? "button" : "button primary",
        href: signInHref,
        text: connection.signed_in ? "Authenticate again" : "Authenticate with Snapchat",
      }),
    ),
    step(
      Boolean(connection.export_user),
      3,
      "Add yourself as export user",
      connection.export_user ? [" Export user: ", who(connection.export_user)] : " Exports run on behalf of the export user.",
      exportUserButton,
    ),
  );
  const name = h("input", { type: "text", name: "display_name", value: connection.display_name, autocomplete: "off", maxlength: 256 });
  const actions = h("div", { class: "form-errors", "aria-live": "assertive" });
  const form = h(
    "form",
    { novalidate: true },
    actions,
    h("div", { class: "section" }, h("h2", { text: "Details" }), field("Display name", name, { required: true }), usableByChoice(connection.usable_by)),
    h(
      "div",
      { class: "button-row" },
      h("button", { type: "submit", class: "primary", text: "Save" }),
      h("button", { type: "button", class: "danger", text: "Remove", on: { click: () => remove(ctx, connection) } }),
      h("a", { class: "button", href: "/api/console/connections", text: "Cancel" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(name, null);
    if (!name.value.trim()) {
      fieldError(name, "Give the connection a display name.");
      name.focus();
      return;
    }
    const changes = {};
    if (name.value.trim() !== connection.display_name) changes.display_name = name.value.trim();
    const usable = radioValue(form, "usable_by");
    if (usable !== connection.usable_by) changes.usable_by = usable;
    try {
      const saved = Object.keys(changes).length ? await patch(`/api/connections/${connection.id}`, changes) : connection;
      const left = (saved.missing || []).map((m) => MISSING[m] || m);
      ctx.flash(
        left.length ? "warning" : "success",
        `Connection ${saved.display_name} saved`,
        left.length ? `It still needs ${left.join(" and ")} before exports can use it.` : "It is ready: exports can use it.",
      );
      ctx.go("/api/console/connections");
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      showErrors(form, error, { display_name: name });
    }
  });
  add(ctx.main, 
    crumbs,
    h("h1", { text: connection.display_name }),
    h("p", {}, "Snapchat connection ", statusBadge(connection)),
    outcome ? message(outcome[0], outcome[1], outcome[2] ? h("p", { text: outcome[2] }) : null) : null,
    h("div", { class: "section" }, h("h2", { text: "Set up" }), steps),
    form,
  );
}

async function remove(ctx, connection) {
  const { exports } = await get("/api/exports");
  const using = exports.filter((e) => e.connection_id === connection.id);
  const body = [
    h("p", {}, "Remove the connection ", h("strong", { text: connection.display_name }), "?"),
    using.length
      ? h(
          "div",
          {},
          h("p", {
            text:
              using.length === 1
                ? "1 export uses it. It becomes inactive: it is kept with its settings, but does not run until you edit it and choose another connection."
                : `${using.length} exports use it. They become inactive: they are kept with their settings, but do not run until you edit them and choose another connection.`,
          }),
          h("ul", {}, using.map((e) => h("li", { text: e.display_name }))),
        )
      : h("p", { text: "No export uses it." }),
    h("p", { text: "Its stored Snapchat sign-in (the refresh token in the token vault) is deleted. The Snapchat audiences themselves are not changed." }),
  ];
  if (!(await confirmDialog("Remove connection", body, "Remove", { danger: true }))) return;
  try {
    const answer = await del(`/api/connections/${connection.id}`);
    const count = answer.exports_deactivated.length;
    ctx.flash("success", `Connection ${connection.display_name} removed`, count ? `${count} export${count === 1 ? " is" : "s are"} now inactive.` : "");
    ctx.go("/api/console/connections");
  } catch (error) {
    ctx.main.prepend(message("error", "Not removed", h("p", { text: error.message })));
  }
}

export async function render(ctx) {
  const [id] = ctx.params;
  if (id) await renderExisting(ctx, id);
  else await renderNew(ctx);
}
