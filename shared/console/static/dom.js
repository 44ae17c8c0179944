// Building the page: elements from data, never HTML strings (text is always set as text, so
// nothing from the API or a user can become markup).

/**
 * An element: h("a", {href: "/x", class: "button", on: {click: fn}}, "text", child...).
 * Props: class, text, on (event handlers), dataset, and any attribute (null/false: left out,
 * true: present). Children: strings (text), nodes, arrays of those, null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "value") element.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled") element[key] = Boolean(value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

/** Append ``children`` to ``element``, skipping null, undefined and false (unlike
 * Element.append, which would write "null"). */
export function add(element, ...children) {
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of ``element``. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let ids = 0;
/** A unique element id with ``prefix``. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A message bar: kind info, success, warning or error; ``role`` status or alert. */
export function message(kind, title, ...body) {
  return h(
    "div",
    { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" },
    title ? h("span", { class: "message-title", text: title }) : null,
    ...body,
  );
}

/** A labelled form field holding ``control`` (its id is set), with help and error slots. */
export function field(label, control, { help, required = false, id } = {}) {
  const controlId = id || control.id || uid("field");
  control.id = controlId;
  const helpId = help ? `${controlId}-help` : null;
  const errorId = `${controlId}-error`;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  if (required) control.required = true;
  return h(
    "div",
    { class: "field" },
    h("label", { for: controlId, class: required ? "required" : null, text: label }),
    control,
    help ? h("p", { class: "field-help", id: helpId, text: help }) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

/** Show ``text`` under the field of ``control`` (or clear it with null). */
export function fieldError(control, text) {
  const slot = document.getElementById(`${control.id}-error`);
  if (!slot) return;
  slot.textContent = text || "";
  slot.hidden = !text;
  if (text) {
    control.setAttribute("aria-invalid", "true");
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (!described.includes(slot.id)) control.setAttribute("aria-describedby", [...described, slot.id].join(" "));
  } else {
    control.removeAttribute("aria-invalid");
  }
}

/** A radio group in a fieldset: options [{value, label, help}]. */
export function radios(legend, name, options, selected, { required = false } = {}) {
  return h(
    "fieldset",
    {},
    h("legend", { class: required ? "required" : null, text: legend }),
    options.map((option) => {
      const id = uid(name);
      return h(
        "div",
        { class: "choice" },
        h("input", { type: "radio", name, id, value: option.value, checked: option.value === selected }),
        h(
          "label",
          { for: id },
          option.label,
          option.help ? h("span", { class: "field-help block", text: option.help }) : null,
        ),
      );
    }),
  );
}

/** The value of the checked radio of ``name`` inside ``root``. */
export function radioValue(root, name) {
  const checked = root.querySelector(`input[name="${name}"]:checked`);
  return checked ? checked.value : null;
}

/** A table: columns [{label, num}], rows of cells (nodes or text). */
export function table(caption, columns, rows, { captionHidden = false } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: captionHidden ? "sr-only" : null, text: caption }) : null,
      h(
        "thead",
        {},
        h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null, text: c.label }))),
      ),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h("tr", {}, cells.map((cell, i) => h("td", { class: columns[i] && columns[i].num ? "num" : null }, cell))),
        ),
      ),
    ),
  );
}

/** A badge: kind success, warning, danger, brand or neutral (null). */
export function badge(text, kind = null) {
  return h("span", { class: kind ? `badge ${kind}` : "badge", text });
}

/** Focus a message that is not a control (after a refused save with no field to highlight),
 * so a keyboard or screen reader user is not left on the page's body. */
export function focusMessage(element) {
  element.setAttribute("tabindex", "-1");
  element.focus();
}

/** A modal dialog asking to confirm; resolves true when ``confirm`` was chosen. */
export function confirmDialog(title, body, confirm, { danger = false } = {}) {
  return new Promise((resolve) => {
    const titleId = uid("dialog");
    const dialog = h("dialog", { "aria-labelledby": titleId });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const cancel = h("button", { type: "button", text: "Cancel", on: { click: () => done(false) } });
    add(
      dialog,
      h("h2", { id: titleId, text: title }),
      body,
      h(
        "div",
        { class: "button-row" },
        h("button", { type: "button", class: danger ? "danger" : "primary", text: confirm, on: { click: () => done(true) } }),
        cancel,
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    // A destructive action starts on Cancel (WAI-ARIA Authoring Practices, alert dialog:
    // https://www.w3.org/WAI/ARIA/apg/patterns/alertdialog/): Enter twice must not delete.
    if (danger) cancel.focus();
  });
}

const number = new Intl.NumberFormat("en-US");
/** ``1234567`` as ``1,234,567``; absent as an en dash. */
export function n(value) {
  return typeof value === "number" ? number.format(value) : "–";
}

/** An ISO time as the browser's local date and time; absent as an en dash. */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A time element for an ISO time. */
export function time(iso) {
  return iso ? h("time", { datetime: iso, text: when(iso) }) : "–";
}
