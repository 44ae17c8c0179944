// Data > Exports > Add export (and Edit): Customer Insights' "Set up export" pane for
// Snapchat, with everything picked from lists read live: the connections the caller may use,
// the connection's ad accounts and customer-list audiences (from Snap), the export folders of
// the container, their segments and the segments' fields (from model.json). Saving checks the
// export (the API reads what a run reads) and never runs it.
import { ApiError, get, patch, post, withQuery } from "../api.js";
import { add, field, fieldError, focusMessage, h, message, n, radioValue, radios, replace, uid } from "../dom.js";
import { MISSING, SCHEDULES, SYNC_MODES, TARGETABLE } from "../words.js";

const LIFETIME = 9999;
/** What each data-matching field matches, in a sentence. */
const MATCHED = { email: "emails", phone: "phone numbers", mobile_ad_id: "mobile ad ids" };

function option(value, text, props = {}) {
  return h("option", { value, ...props }, text);
}

function select(name, placeholder) {
  const element = h("select", { name });
  if (placeholder !== undefined) element.append(option("", placeholder));
  return element;
}

function fill(element, options, selected, placeholder) {
  replace(element, placeholder !== undefined ? option("", placeholder) : null, options);
  element.value = selected !== undefined && selected !== null ? selected : "";
  if (element.selectedIndex < 0) element.value = "";
}

/** A polite live region for what a section is loading, or why it could not. */
function status() {
  return h("div", { class: "section-status", "aria-live": "polite" });
}

function say(region, kind, title, text) {
  replace(region, kind ? message(kind, title, text ? h("p", { text }) : null) : null);
}

export async function render(ctx) {
  const [exportId] = ctx.params;
  const editing = Boolean(exportId);
  ctx.title(editing ? "Edit export" : "Add export");
  if (!ctx.can.edit) {
    add(ctx.main, message("error", "Viewers cannot add or change exports", null));
    return;
  }
  const [current, { connections }, { exports }] = await Promise.all([
    editing ? get(`/api/exports/${exportId}`) : Promise.resolve(null),
    get("/api/connections"),
    get("/api/exports"),
  ]);

  // -- controls -------------------------------------------------------------------------------
  const form = h("form", { novalidate: true });
  const errors = h("div", { class: "form-errors", "aria-live": "assertive" });
  const connection = select("connection_id", "Choose a connection");
  const displayName = h("input", { type: "text", name: "display_name", autocomplete: "off", maxlength: 256 });
  const adAccount = select("ad_account", "Choose an ad account");
  const audience = select("audience_id", "Choose an audience");
  const newName = h("input", { type: "text", name: "audience_name", autocomplete: "off", maxlength: 375 });
  const retention = h("input", { type: "number", name: "retention_in_days", min: 1, max: LIFETIME, step: 1, value: LIFETIME });
  const description = h("input", { type: "text", name: "audience_description", autocomplete: "off", maxlength: 1000 });
  const container = h("input", { type: "text", name: "container", autocomplete: "off", maxlength: 63 });
  const folder = select("folder", "Choose an export folder");
  const folderTyped = h("input", { type: "text", name: "folder_typed", autocomplete: "off", placeholder: "CustomerInsights_<instance id>/<export name>" });
  const segmentsBox = h("div", { class: "segment-list" });
  const email = select("email", "Choose the email field");
  const phone = select("phone", "None");
  const maid = select("mobile_ad_id", "None");
  const snapStatus = status();
  const folderStatus = status();
  const segmentStatus = status();

  const usable = connections.filter((c) => !c.status || c.status === "ready");
  fill(
    connection,
    connections.map((c) =>
      option(c.id, c.status && c.status !== "ready" ? `${c.display_name} (not ready: needs ${(c.missing || []).map((m) => MISSING[m] || m).join(", ")})` : c.display_name, {
        disabled: Boolean(c.status && c.status !== "ready"),
      }),
    ),
    current ? current.connection_id : usable.length === 1 ? usable[0].id : "",
    "Choose a connection",
  );

  // -- Snapchat: ad account and audience ---------------------------------------------------------
  const audienceMode = radios(
    "Snapchat audience",
    "audience_mode",
    [
      { value: "existing", label: "Use an existing audience", help: "A customer list audience in Snapchat Ads Manager." },
      { value: "new", label: "Create a new audience", help: "The app creates a customer list audience at the first run." },
    ],
    current && !current.audience_id && current.create_audience ? "new" : "existing",
    { required: true },
  );
  const existingBox = h("div", { class: "audience-existing" }, field("Audience", audience, { required: true, help: "Customer list audiences of the ad account, as Snapchat shows them now (matched users, targetable status)." }));
  const newBox = h(
    "div",
    { class: "audience-new" },
    field("Audience name", newName, { required: true, help: "As it appears in Snapchat Ads Manager (up to 375 characters)." }),
    field("Retention in days", retention, { help: `How long Snapchat keeps a person in the audience; ${LIFETIME} means for as long as the audience exists.` }),
    field("Description (optional)", description),
  );
  const syncAudienceMode = () => {
    const mode = radioValue(form, "audience_mode");
    existingBox.hidden = mode !== "existing";
    newBox.hidden = mode !== "new";
  };
  if (current && current.create_audience) {
    newName.value = current.create_audience.name;
    retention.value = current.create_audience.retention_in_days;
    description.value = current.create_audience.description || "";
  }

  const inUse = {};
  for (const other of exports) {
    if (other.audience_id && (!current || other.id !== current.id)) inUse[other.audience_id] = other;
  }

  async function loadAudiences() {
    const account = adAccount.value;
    const keep = audience.value || (current && current.audience_id) || "";
    if (!account || !connection.value) {
      fill(audience, [], "", "Choose an ad account first");
      return;
    }
    say(snapStatus, "info", "Reading the audiences from Snapchat…");
    try {
      const answer = await get(`/api/connections/${connection.value}/ad-accounts/${account}/audiences`);
      const options = answer.audiences.map((a) => {
        const [targetable] = TARGETABLE[a.targetable_status] || [a.targetable_status || ""];
        const other = inUse[a.id];
        const used = other ? ` – fed by export "${other.display_name}"` : "";
        return option(a.id, `${a.name} – ${n(a.approximate_number_users)} users${targetable ? `, ${targetable}` : ""} (id ${a.id})${used}`);
      });
      if (keep && !answer.audiences.some((a) => a.id === keep)) {
        const name = current && current.audience && current.audience.name;
        options.unshift(option(keep, `${name || "Current audience"} (${keep})`));
      }
      fill(audience, options, keep, answer.audiences.length ? "Choose an audience" : "This ad account has no customer list audience");
      say(snapStatus, null);
      if (!answer.audiences.length && !keep) {
        const chooseNew = form.querySelector("input[name=audience_mode][value=new]");
        if (!editing && chooseNew && !chooseNew.checked) {
          chooseNew.checked = true;
          syncAudienceMode();
        }
        say(snapStatus, "info", "No customer list audience in this ad account yet", "The app creates one at the first run: give it a name below. (Or create one in Snapchat Ads Manager, then choose Use an existing audience.)");
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      say(snapStatus, "error", "The audiences could not be read", error.message);
    }
  }

  async function loadAdAccounts() {
    if (!connection.value) {
      fill(adAccount, [], "", "Choose a connection first");
      fill(audience, [], "", "Choose an ad account first");
      return;
    }
    say(snapStatus, "info", "Reading the ad accounts from Snapchat…");
    try {
      const { ad_accounts: accounts } = await get(`/api/connections/${connection.value}/ad-accounts`);
      const keep = (current && current.create_audience && current.create_audience.ad_account_id) || "";
      fill(
        adAccount,
        accounts.map((a) => option(a.id, `${a.name}${a.organization_name ? ` (${a.organization_name})` : ""}`)),
        keep || (accounts.length === 1 ? accounts[0].id : ""),
        accounts.length ? "Choose an ad account" : "No ad account",
      );
      say(snapStatus, null);
      if (!accounts.length) {
        say(snapStatus, "warning", "The Snapchat user of this connection sees no ad account", "Sign the connection in as a user with the Admin or Data Manager role on an ad account.");
      }
      await loadAudiences();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fill(adAccount, [], "", "Not available");
      say(snapStatus, "error", "Snapchat could not be read through this connection", error.message);
    }
  }

  // -- the export folder, its segments and their fields ----------------------------------------
  let segments = [];
  let sourceTouched = false;
  const folderValue = () => (folder.value === "__typed__" ? folderTyped.value.trim().replace(/\/+$/, "") : folder.value === "__root__" ? "" : folder.value);

  function attributesOfChosen() {
    const chosen = [...segmentsBox.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    const picked = segments.filter((s) => chosen.includes(s.name));
    if (!picked.length) return null;
    return picked[0].attributes.filter((a) => picked.every((s) => s.attributes.includes(a)));
  }

  // The fields the user chose (or the saved export holds), remembered apart from the lists:
  // unticking every segment or reloading the folder empties the lists for a moment, and a
  // field must not be lost with them (a saved export would silently stop matching phones).
  const matching = { email: "", phone: "", mobile_ad_id: "" };
  const matchingControls = [["email", email], ["phone", phone], ["mobile_ad_id", maid]];
  for (const [key, control] of matchingControls) {
    control.addEventListener("change", () => {
      matching[key] = control.value;
      fieldError(control, null);
    });
  }

  function fillFields(initial) {
    if (initial) for (const [key] of matchingControls) matching[key] = initial[key] || "";
    const attributes = attributesOfChosen();
    if (attributes === null) {
      for (const [control, text] of [[email, "Select segments first"], [phone, "None"], [maid, "None"]]) fill(control, [], "", text);
      return;
    }
    let emailValue = matching.email;
    if (!emailValue) {
      const guesses = attributes.filter((a) => /e-?mail/i.test(a));
      if (guesses.length === 1) emailValue = guesses[0];
    }
    fill(email, attributes.map((a) => option(a, a)), emailValue, "Choose the email field");
    fill(phone, attributes.map((a) => option(a, a)), matching.phone, "None");
    fill(maid, attributes.map((a) => option(a, a)), matching.mobile_ad_id, "None");
  }

  /** Fields chosen for data matching that the chosen segments do not have: [control, text]. */
  function lostFields() {
    if (attributesOfChosen() === null) return [];
    return matchingControls
      .filter(([key, control]) => matching[key] && control.value !== matching[key])
      .map(([key, control]) => [control, `${matching[key]} is not a field of the chosen segments: choose another field, or None to stop matching ${MATCHED[key]}.`]);
  }

  async function loadSegments(initial) {
    const prefix = folderValue();
    replace(segmentsBox);
    segments = [];
    fillFields(initial);
    if (folder.value === "" || (folder.value === "__typed__" && !prefix)) {
      say(segmentStatus, null);
      return;
    }
    say(segmentStatus, "info", "Reading model.json…");
    try {
      const answer = await get(withQuery("/api/export-folders/segments", { container: container.value.trim(), prefix }));
      segments = answer.segments;
      const chosen = initial ? initial.segments : segments.length === 1 ? [segments[0].name] : [];
      replace(
        segmentsBox,
        segments.length
          ? h(
              "fieldset",
              {},
              h("legend", { class: "required", text: "Segments" }),
              segments.map((s) => {
                const id = uid("segment");
                const box = h("input", { type: "checkbox", id, name: "segments", value: s.name, checked: chosen.includes(s.name) });
                box.addEventListener("change", () => fillFields());
                return h("div", { class: "choice" }, box, h("label", { for: id }, s.name, h("span", { class: "field-help block", text: `${s.attributes.length} fields` })));
              }),
              h("p", { class: "field-error", id: "segments-error", hidden: true }),
            )
          : message("warning", "model.json lists no segment", null),
      );
      say(segmentStatus, null);
      fillFields(initial);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      say(segmentStatus, "error", "The segments could not be read", error.message);
    }
  }

  async function loadFolders(initial) {
    say(folderStatus, "info", "Looking for export folders…");
    // What was read from another container no longer applies.
    say(segmentStatus, null);
    try {
      const answer = await get(withQuery("/api/export-folders", { container: container.value.trim() }));
      if (!container.value.trim()) container.value = answer.container;
      const def = answer.folders.find((f) => f.is_default);
      const options = answer.folders.map((f) => option(f.prefix === "" ? "__root__" : f.prefix, `${f.prefix || "(the container itself)"}${f.is_default ? " – default" : ""}`));
      options.push(option("__typed__", "Another folder (type it)"));
      let chosen = null;
      if (initial && initial.prefix !== undefined) chosen = initial.prefix;
      else if (def) chosen = def.prefix;
      else if (answer.folders.length === 1) chosen = answer.folders[0].prefix;
      if (chosen !== null && chosen !== undefined) {
        const listed = answer.folders.some((f) => f.prefix === chosen);
        if (!listed) {
          folderTyped.value = chosen;
          chosen = "__typed__";
        } else if (chosen === "") chosen = "__root__";
      }
      fill(folder, options, chosen, answer.folders.length ? "Choose an export folder" : "No folder with a model.json found");
      folderTyped.closest(".field").hidden = folder.value !== "__typed__";
      say(folderStatus, null);
      if (!answer.folders.length) {
        say(folderStatus, "warning", `No export folder in container ${answer.container}`, "Customer Insights writes model.json into CustomerInsights_<instance id>/<export name> the first time its Azure Blob Storage export runs. Run that export in Customer Insights, or type the folder.");
      } else if (!answer.complete) {
        say(folderStatus, "info", "Not every folder was searched", "The container is large: if your export folder is not listed, type it.");
      }
      await loadSegments(initial);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fill(folder, [option("__typed__", "Another folder (type it)")], "__typed__", "Choose an export folder");
      folderTyped.closest(".field").hidden = false;
      replace(segmentsBox);
      segments = [];
      fillFields();
      say(folderStatus, "error", "The export folders could not be listed", error.message);
    }
  }

  // -- the form -----------------------------------------------------------------------------
  const schedule = radios(
    "Schedule",
    "schedule",
    [
      { value: "with_refresh", label: SCHEDULES.with_refresh, help: "Runs after every scheduled refresh of the app (the timer)." },
      { value: "manual", label: SCHEDULES.manual, help: "Runs only when someone selects Run now." },
    ],
    current ? current.schedule : "with_refresh",
  );
  const syncMode = radios(
    "Sync mode",
    "sync_mode",
    [
      { value: "mirror", label: SYNC_MODES.mirror, help: "The audience mirrors the segments: people who leave them are removed from the audience." },
      { value: "append", label: SYNC_MODES.append, help: "People are only added; nobody is removed." },
    ],
    current ? current.sync_mode : "mirror",
  );
  add(
    form,
    errors,
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Connection and name" }),
      field("Connection for export", connection, {
        required: true,
        help: usable.length ? "The Snapchat connections you may use." : null,
      }),
      usable.length
        ? null
        : message(
            "warning",
            "No connection available",
            ctx.can.admin
              ? h("p", {}, h("a", { href: "/api/console/connections/new", text: "Add a Snapchat connection" }), " and finish its setup first.")
              : h("p", { text: "Contact an administrator: they set up Snapchat connections and let contributors use them." }),
          ),
      field("Display name", displayName, { required: true, help: "A name for this export, e.g. \"High value customers to Snapchat\"." }),
    ),
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Snapchat audience" }),
      snapStatus,
      field("Ad account", adAccount, { required: true }),
      audienceMode,
      existingBox,
      newBox,
    ),
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Segments" }),
      h("p", { class: "hint", text: "The Customer Insights export that writes your segments to Azure Blob Storage: its container and folder (the folder holding model.json)." }),
      h(
        "div",
        { class: "inline" },
        field("Container", container, { required: true }),
        h("button", { type: "button", class: "subtle", text: "Find export folders", on: { click: () => { sourceTouched = true; loadFolders(); } } }),
      ),
      folderStatus,
      field("Export folder", folder, { required: true }),
      field("Folder", folderTyped, { help: "The path below the container, without a leading /." }),
      segmentStatus,
      segmentsBox,
    ),
    h(
      "div",
      { class: "section" },
      h("h2", { text: "Data matching" }),
      h("p", { class: "hint", text: "Which field of the segments holds each identifier. All personal data is normalized and hashed with SHA-256 before it is sent to Snapchat." }),
      field("Email", email, { required: true }),
      field("Phone (optional)", phone, { help: "Numbers without a country code are read as numbers of the app's default phone region." }),
      field("Mobile ad id (optional)", maid, { help: "Apple IDFA or Google advertising id." }),
    ),
    h("div", { class: "section" }, h("h2", { text: "Schedule and sync" }), schedule, syncMode),
    h(
      "div",
      { class: "button-row" },
      h("button", { type: "submit", class: "primary", text: "Save" }),
      h("a", { class: "button", href: editing ? `/api/console/exports/${exportId}` : "/api/console/exports", text: "Cancel" }),
    ),
    h("p", { class: "hint", text: "Saving checks the export folder and the audience, and does not run the export." }),
  );

  displayName.addEventListener("change", () => {
    if (!newName.value.trim()) newName.value = displayName.value.trim();
  });
  connection.addEventListener("change", () => loadAdAccounts());
  adAccount.addEventListener("change", () => loadAudiences());
  for (const input of form.querySelectorAll("input[name=audience_mode]")) input.addEventListener("change", syncAudienceMode);
  container.addEventListener("change", () => {
    sourceTouched = true;
    loadFolders();
  });
  folder.addEventListener("change", () => {
    sourceTouched = true;
    folderTyped.closest(".field").hidden = folder.value !== "__typed__";
    if (folder.value !== "__typed__") loadSegments();
  });
  folderTyped.addEventListener("change", () => {
    sourceTouched = true;
    loadSegments();
  });

  // -- saving -------------------------------------------------------------------------------
  const controls = {
    display_name: displayName,
    connection_id: connection,
    audience_id: audience,
    "create_audience.name": newName,
    "create_audience.retention_in_days": retention,
    "create_audience.description": description,
    "create_audience.ad_account_id": adAccount,
    create_audience: newName,
    "data_matching.email": email,
    "data_matching.phone": phone,
    "data_matching.mobile_ad_id": maid,
    source: container,
    "source.container": container,
    "source.prefix": folderTyped,
  };

  function body() {
    const chosen = [...segmentsBox.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    const result = {
      display_name: displayName.value.trim(),
      connection_id: connection.value,
      data_matching: { email: email.value, ...(phone.value ? { phone: phone.value } : {}), ...(maid.value ? { mobile_ad_id: maid.value } : {}) },
      segments: chosen,
      schedule: radioValue(form, "schedule"),
      sync_mode: radioValue(form, "sync_mode"),
    };
    if (radioValue(form, "audience_mode") === "new") {
      result.create_audience = {
        name: newName.value.trim(),
        // Number, not parseInt: "1.5" must be refused as it is, never sent as 1.
        retention_in_days: retention.value.trim() === "" ? Number.NaN : Number(retention.value),
        ad_account_id: adAccount.value || null,
        ...(description.value.trim() ? { description: description.value.trim() } : {}),
      };
      if (!result.create_audience.ad_account_id) delete result.create_audience.ad_account_id;
    } else {
      result.audience_id = audience.value;
    }
    // An export saved without a folder of its own reads the app settings' folder: kept so
    // unless the folder is changed here.
    if (!(editing && !current.source && !sourceTouched)) {
      result.source = { container: container.value.trim(), prefix: folderValue() };
    }
    return result;
  }

  function checkLocally(data) {
    const problems = [];
    if (!data.connection_id) problems.push([connection, "Choose a connection."]);
    if (!data.display_name) problems.push([displayName, "Give the export a name."]);
    if (data.create_audience) {
      if (!data.create_audience.name) problems.push([newName, "Give the new audience a name."]);
      const days = data.create_audience.retention_in_days;
      if (!(Number.isInteger(days) && days >= 1 && days <= LIFETIME)) {
        problems.push([retention, `A whole number of days from 1 to ${LIFETIME}.`]);
      }
    } else if (!data.audience_id) {
      problems.push([audience, "Choose an audience, or choose Create a new audience."]);
    }
    if (data.source && folder.value === "") problems.push([folder, "Choose the export folder."]);
    if (!data.segments.length) {
      const first = segmentsBox.querySelector("input[type=checkbox]");
      if (first) problems.push([first, "Select at least one segment."]);
      else problems.push([folder, "Choose an export folder whose model.json lists your segments."]);
    }
    const lost = lostFields();
    problems.push(...lost);
    if (!data.data_matching.email && !lost.some(([control]) => control === email)) {
      problems.push([email, "Choose the field holding the email address."]);
    }
    return problems;
  }

  function clearErrors() {
    replace(errors);
    for (const control of form.querySelectorAll("[aria-invalid]")) fieldError(control, null);
    const segmentsError = document.getElementById("segments-error");
    if (segmentsError) segmentsError.hidden = true;
  }

  function showProblems(problems, title) {
    for (const [control, text] of problems) {
      if (control.name === "segments") {
        const slot = document.getElementById("segments-error");
        if (slot) {
          slot.textContent = text;
          slot.hidden = false;
        }
      } else fieldError(control, text);
    }
    replace(errors, message("error", title, h("ul", {}, problems.map(([, text]) => h("li", { text })))));
    problems[0][0].focus();
  }

  const normalAudience = (c) =>
    c ? { name: c.name, retention_in_days: c.retention_in_days, description: c.description || "", ad_account_id: c.ad_account_id || null } : null;

  /** The fields of ``data`` that differ from the saved export (PATCH sends only those). */
  function changes(data) {
    const before = {
      display_name: current.display_name,
      connection_id: current.connection_id,
      data_matching: Object.fromEntries(Object.entries(current.data_matching).filter(([, v]) => v)),
      segments: current.segments,
      schedule: current.schedule,
      sync_mode: current.sync_mode,
      audience_id: current.audience_id,
      create_audience: normalAudience(current.create_audience),
      source: current.source,
    };
    const after = { ...data, create_audience: normalAudience(data.create_audience) };
    const result = {};
    for (const key of Object.keys(data)) {
      if (JSON.stringify(after[key]) !== JSON.stringify(before[key])) result[key] = data[key];
    }
    return result;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const data = body();
    const problems = checkLocally(data);
    if (problems.length) {
      showProblems(problems, "Check these fields");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    replace(errors, message("info", "Saving: checking the export folder and the audience…", null));
    try {
      const saved = editing ? await patch(`/api/exports/${exportId}`, changes(data)) : await post("/api/exports", data);
      const warnings = (saved.validation && saved.validation.warnings) || [];
      ctx.flash(
        warnings.length ? "warning" : "success",
        `Export ${saved.display_name} saved`,
        (warnings.length ? `Not everything could be checked: ${warnings.join("; ")}. ` : "") + "Saving does not run it: select Run now to run it.",
      );
      ctx.go(`/api/console/exports/${saved.id}`);
    } catch (error) {
      button.disabled = false;
      if (!(error instanceof ApiError)) throw error;
      const placed = [];
      for (const name of error.fields || []) {
        const control = name.startsWith("segments") ? segmentsBox.querySelector("input[type=checkbox]") : controls[name];
        if (control) placed.push([control, error.message]);
      }
      replace(errors);
      if (placed.length) showProblems(placed, "Not saved: check the highlighted fields");
      else {
        // Nothing to highlight: the message itself takes focus.
        const banner = message("error", "Not saved", h("p", { text: error.message }));
        replace(errors, banner);
        focusMessage(banner);
      }
    }
  });

  // -- first paint ----------------------------------------------------------------------------
  const crumbs = h(
    "p",
    { class: "breadcrumb" },
    h("a", { href: "/api/console/exports", text: "Exports" }),
    editing ? [" / ", h("a", { href: `/api/console/exports/${exportId}`, text: current.display_name }), " / Edit"] : " / Add export",
  );
  add(ctx.main, crumbs, h("h1", { text: editing ? `Edit ${current.display_name}` : "Add export" }), form);
  if (current) displayName.value = current.display_name;
  syncAudienceMode();
  fillFields(current ? current.data_matching : null);
  if (current && current.source) container.value = current.source.container;
  await Promise.all([
    loadAdAccounts(),
    loadFolders(current ? { prefix: current.source ? current.source.prefix : undefined, segments: current.segments, ...current.data_matching } : null),
  ]);
  (editing ? displayName : connection.value ? displayName : connection).focus();
}
