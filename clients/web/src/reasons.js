// Why something was refused, as a sentence for the person in front of the page.

const SENTENCES = {
  busy: "The assistant is still answering. Wait for the answer to finish, or press Stop.",
  ai_not_configured: "The AI assistant is not configured yet: an admin can set up the AI provider in Settings.",
  ai_assistant_disabled: "The AI assistant is turned off for your organisation.",
  unauthorized: "Your sign-in has expired. Open the page again from your application.",
  not_found: "This chat does not exist any more.",
  conflict: "Someone else changed this at the same time. Try again.",
  unavailable: "The service is briefly unavailable. Try again in a moment.",
};

/** A refusal (`{reason|code, message|error, resets_at?}`) as a sentence. */
export function explain(refusal) {
  const code = refusal?.reason || refusal?.code;
  if (code === "usage_limit") {
    const resets = refusal.resets_at || refusal.limit?.resets_at;
    const when = resets ? ` It resets on ${new Date(resets).toLocaleDateString([], { month: "long", day: "numeric" })}.` : "";
    return `Your organisation has used this month's AI allowance.${when}`;
  }
  if (SENTENCES[code]) return SENTENCES[code];
  const text = refusal?.message || refusal?.error;
  return typeof text === "string" && text ? text : "That did not work. Try again in a moment.";
}
