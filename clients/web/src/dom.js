// Small DOM helpers: build elements without a framework, format times.

/** `h("div", {class: "x", "data-testid": "y", onclick}, child, "text")` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "style") el.style.cssText = String(value); // through the CSSOM: the page's policy refuses style attributes
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  el.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return el;
}

/** A `<time>` showing the clock time (and the day when it is not today). */
export function timestamp(iso) {
  if (!iso) return h("time");
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  const options = today ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return h("time", { datetime: date.toISOString(), title: date.toLocaleString() }, date.toLocaleString([], options));
}

/** The claims of a JWT, for display only (the server checks the token). */
export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return {};
  }
}
