// A page link whose token cannot work (malformed, signed with another secret, expired):
// a page that says so in place of the app, instead of a chat that reconnects forever.
import { h } from "./dom.js";

const SCREENS = {
  expired: ["Your link has expired", "Links to this page are valid for a limited time."],
  invalid: ["This link is invalid", "The page was opened with a link it cannot use."],
};

/** What is wrong with the token as far as the page can tell by itself: "expired", "invalid" or null. */
export function linkProblem(claims) {
  if (typeof claims.sub !== "string" || typeof claims.tenant !== "string" || typeof claims.exp !== "number") return "invalid";
  return claims.exp * 1000 <= Date.now() ? "expired" : null;
}

/** The page's whole content for a link that cannot work. */
export function showLinkProblem(problem) {
  const [heading, why] = SCREENS[problem] || SCREENS.invalid;
  document.title = `${heading} · streamrelay`;
  document.body.replaceChildren(
    h(
      "main",
      { class: "link-problem", "data-testid": "link-problem", "data-problem": problem },
      h("h1", {}, heading),
      h("p", {}, why, " Open the page again from your application to get a fresh link."),
    ),
  );
}
