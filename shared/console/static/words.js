// The words the console uses for the API's codes: what a marketer reads instead of
// EMAIL_SHA256 or domain_without_dot. Unknown codes are shown as they are.

export const SCHEMAS = {
  EMAIL_SHA256: "Email",
  PHONE_SHA256: "Phone",
  MOBILE_AD_ID_SHA256: "Mobile ad id",
};

export const FIELDS = { email: "Email", phone: "Phone", mobile_ad_id: "Mobile ad id" };

export const INVALID_REASONS = {
  placeholder: "a placeholder (NULL, N/A, unknown…)",
  empty: "nothing left after trimming",
  missing_at_sign: "no @ sign",
  multiple_at_signs: "more than one @ sign",
  empty_local_part: "nothing before the @",
  domain_without_dot: "no dot in the domain",
  inner_whitespace: "spaces inside the address",
  not_a_phone_number: "not a phone number",
  not_a_possible_number: "not a possible number for its country",
  not_a_uuid: "not an advertising id (IDFA or GAID)",
  zero_mobile_ad_id: "all zeros (the person limited ad tracking)",
};

/**
 * How a run's adds and removes are named: sent (a run that succeeded), what a dry run would
 * send, or what was planned and not (or not all) sent: a run still going, or one that failed
 * or was stopped by a safety rail. ``unsent`` is the short note for figures not sent (or null).
 */
export function changeWords(run) {
  const counts = run.counts || {};
  if (counts.dry_run || (run.options || {}).dry_run) return { add: "Would add", remove: "Would remove", unsent: "would" };
  if (run.status === "succeeded") return { add: "Added", remove: "Removed", unsent: null };
  return { add: "To add", remove: "To remove", unsent: "not sent" };
}

export const RUN_STATUS = {
  queued: ["Queued", "brand"],
  running: ["Running", "brand"],
  succeeded: ["Succeeded", "success"],
  failed: ["Failed", "danger"],
  skipped: ["Skipped", null],
};

/** The steps of a run as the run page shows them, in order. */
export const STEPS = [
  ["plan", "Find the export"],
  ["read", "Read and hash"],
  ["diff", "Compare"],
  ["clear", "Empty the audience"],
  ["upload", "Send to Snapchat"],
  ["done", "Done"],
];

export const TRIGGERS = { schedule: "Scheduled refresh", on_demand: "On demand" };
export const SCHEDULES = { with_refresh: "Every scheduled refresh", manual: "On demand only" };
export const SYNC_MODES = { mirror: "Mirror (adds and removes)", append: "Add only" };
export const USABLE_BY = {
  admins: "Administrators",
  admins_and_contributors: "Administrators and contributors",
};
export const MISSING = {
  privacy_consent: "the data privacy agreement",
  snapchat_sign_in: "authentication with Snapchat",
  export_user: "an export user",
};

export const TARGETABLE = {
  READY: ["Ready to target", "success"],
  TOO_FEW_USERS: ["Too few users to target (under 1,000)", "warning"],
  NOT_READY: ["Not ready yet (Snapchat is processing)", null],
};

/** Run error codes: a title and what to do. The run's own message follows them. */
export const RUN_ERRORS = {
  mass_removal_blocked: [
    "Stopped before removing many people",
    "Nothing was sent. The export would have removed more people from the audience than the safety rail allows: an empty or cut-short export, or a field mapping that no longer matches, looks exactly like that. Check the export; if the removals are right, run it again allowing mass removal.",
  ],
  source_unusable: [
    "The export files could not be used",
    "Check that Customer Insights finished writing the export (every file listed in model.json) and that the export folder and segments are right.",
  ],
  audience_not_found: [
    "The Snapchat audience no longer exists",
    "Edit the export and pick another audience, or let the app create a new one.",
  ],
  no_audience: ["The export has no Snapchat audience", "Edit the export and pick or create an audience."],
  permission_denied: [
    "Snapchat refused access to the audience",
    "The Snapchat user who signed the connection in needs the Admin or Data Manager role on the ad account.",
  ],
  snapchat_sign_in_invalid: [
    "The connection's Snapchat sign-in is no longer valid",
    "An administrator opens the connection and selects Authenticate with Snapchat again.",
  ],
  connection_deleted: ["The export's connection was removed", "Edit the export and choose another connection."],
  connection_not_ready: ["The connection is not ready", "An administrator finishes setting the connection up."],
  batches_failed: [
    "Some requests to Snapchat failed",
    "The audience may hold part of this run; the next run repairs the difference.",
  ],
  abandoned: ["The run did not finish", "Start it again; if it keeps happening, look at the function logs."],
  step_failed: ["A step kept failing", "Look at the function logs; the next run starts afresh."],
  ad_account_ambiguous: [
    "Which ad account to create the audience in is unclear",
    "Edit the export and choose the ad account.",
  ],
  export_not_found: ["The export was deleted during the run", ""],
  export_inactive: ["The export is inactive", "Choose a connection for it first."],
  configuration: ["The app is missing a setting", "An administrator checks the app settings."],
};

/** Words for a code in ``table`` (the code itself when unknown). */
export function say(table, code) {
  const entry = table[code];
  if (entry === undefined) return code || "–";
  return Array.isArray(entry) ? entry[0] : entry;
}

/** The display name of a Snap schema. */
export const schemaName = (schema) => SCHEMAS[schema] || schema;
