// Admin > Erasure: remove a person from every audience and snapshot (a GDPR-style erasure).
// The values typed are sent once, hashed by the app at once and never stored; the form is
// cleared as soon as they are sent, and the answer shows the hashes only.
import { ApiError, post } from "../api.js";
import { add, field, fieldError, h, message, n, replace, table } from "../dom.js";
import { schemaName } from "../words.js";

export async function render(ctx) {
  ctx.title("Erasure");
  add(ctx.main, h("h1", { text: "Erasure" }));
  if (!ctx.can.admin) {
    add(ctx.main, message("error", "Only administrators erase people", null));
    return;
  }
  const email = h("input", { type: "text", name: "email", autocomplete: "off", spellcheck: "false" });
  const phone = h("input", { type: "text", name: "phone", autocomplete: "off", spellcheck: "false" });
  const maid = h("input", { type: "text", name: "mobile_ad_id", autocomplete: "off", spellcheck: "false" });
  const controls = { email, phone, mobile_ad_id: maid };
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { novalidate: true },
    h(
      "div",
      { class: "section" },
      h("h2", { text: "The person" }),
      h("p", { class: "hint", text: "Give at least one identifier. Each is normalized and hashed with SHA-256 by the app as soon as it arrives, removed from the Snapchat audience of every export and from what the app stored of earlier runs, and recorded by its hash only, so an older export cannot add the person back." }),
      field("Email", email),
      field("Phone", phone, { help: "With its country code (+44…), or a number of the app's default phone region." }),
      field("Mobile ad id", maid, { help: "Apple IDFA or Google advertising id." }),
    ),
    h("div", { class: "button-row" }, h("button", { type: "submit", class: "danger", text: "Erase" })),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const control of Object.values(controls)) fieldError(control, null);
    const values = Object.fromEntries(Object.entries(controls).map(([key, control]) => [key, control.value.trim()]).filter(([, value]) => value));
    if (!Object.keys(values).length) {
      fieldError(email, "Give an email, a phone number or a mobile ad id.");
      email.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    // The raw values leave the page now: nothing of them stays on screen.
    for (const control of Object.values(controls)) control.value = "";
    try {
      const answer = await post("/api/erasures", values);
      const hashes = Object.entries(answer.hashes).map(([schema, digest]) => [schemaName(schema), h("code", { class: "mono", text: digest })]);
      const rows = answer.exports.map((e) => [
        h("a", { href: `/api/console/exports/${e.export_id}`, text: e.export_id }),
        e.removed_from_audience.length ? e.removed_from_audience.map(schemaName).join(", ") : "–",
        n(e.removed_from_snapshot),
        (e.errors || []).join("; ") || "–",
      ]);
      replace(
        result,
        message(
          (answer.exports.some((e) => e.errors && e.errors.length)) ? "warning" : "success",
          "Erasure recorded",
          h("p", { text: "Recorded by hash only. The values you typed are not kept anywhere." }),
        ),
        table("Hashes erased", [{ label: "Identifier type" }, { label: "SHA-256" }], hashes),
        rows.length
          ? table("Exports", [{ label: "Export" }, { label: "Removed from the audience" }, { label: "Removed from stored snapshots", num: true }, { label: "Errors" }], rows)
          : h("p", { class: "hint", text: "No export yet: the erasure applies to every future run." }),
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      let placed = false;
      for (const name of error.fields || []) {
        if (controls[name]) {
          fieldError(controls[name], error.message);
          placed = true;
        }
      }
      replace(result, message("error", "Nothing was erased", h("p", { text: placed ? "Check the highlighted field and type the values again." : error.message })));
    } finally {
      button.disabled = false;
    }
  });
  add(ctx.main, form, result);
}
