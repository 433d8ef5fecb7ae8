// Markdown to safe HTML, for text that is still streaming in.
//
// Three steps, each a kept library: heal the unfinished tail (remend closes
// `**bold`, open fences, half links and drops a half-typed HTML tag), render
// with marked, sanitise with DOMPurify (no <script>, no on* attributes, no
// javascript: URLs ever become live). Upstream text is untrusted.
//
// Nothing an answer says is fetched without a click: a prompt-injected answer
// could otherwise send the chat to any server in an image's address. A markdown
// image from another origin is shown as a link to it (its alt text, or its
// address), which the person may open; one from the page's own origin, `data:`
// or `blob:` is shown as an image. Upstream HTML loses every address that would
// load something (`src`, `srcset`, `poster`, …) unless it is of those kinds too.
//
// Incremental: the source is split into top-level blocks; every block but the
// last is finished, so its sanitised HTML is cached and only the last one is
// healed and rendered again as text arrives.

import createDOMPurify from "dompurify";
import { Marked } from "marked";
import remend, { isWithinCodeBlock } from "remend";

const marked = new Marked({ gfm: true, async: false });
marked.use({ renderer: { image: imageOrLink } });
const purifiers = new WeakMap(); // window -> DOMPurify bound to it
const finished = new Map(); // raw markdown of a finished block -> its sanitised HTML
const MAX_CACHED = 1000;
// Upstream markdown may format text, not restyle the page or ask for input.
const SANITIZE = {
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "audio", "video", "source", "picture", "track", "image", "use"],
  FORBID_ATTR: ["style", "srcset", "poster", "background", "ping"],
};
const LOADING_ATTRIBUTES = new Set(["src", "xlink:href"]); // on an image they load without a click
let page = "about:blank"; // the address of the page rendered for: its origin is the one images may load from

/** The image itself when it loads nothing from elsewhere; else a link to it. */
function imageOrLink({ href, title, text }) {
  const label = escapeHtml(text || href || "image");
  const titled = title ? ` title="${escapeHtml(title)}"` : "";
  if (loadsNothingElsewhere(href)) return `<img src="${escapeHtml(href)}" alt="${escapeHtml(text)}"${titled}>`;
  return `<a class="remote-image" href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer"${titled}>🖼 ${label}</a>`;
}

/** Same origin as the page (a relative address included), `data:` or `blob:`. */
function loadsNothingElsewhere(address) {
  const value = String(address ?? "").trim();
  if (/^(data|blob):/i.test(value)) return true;
  try {
    const origin = new URL(page).origin;
    return origin !== "null" && new URL(value, page).origin === origin;
  } catch {
    return false;
  }
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * @param {string} source markdown, possibly cut off mid-way
 * @param {{streaming?: boolean, window?: Window}} [options] streaming: heal the unfinished tail;
 *   window: the DOM to sanitise with (the page's by default; in Node pass jsdom's)
 * @returns {string} sanitised HTML
 */
export function renderMarkdown(source, { streaming = false, window = globalThis.window } = {}) {
  const purify = purifier(window);
  page = window.location?.href ?? "about:blank";
  const blocks = marked.lexer(source ?? "");
  const last = streaming ? lastContentIndex(blocks) : -1;
  let html = "";
  blocks.forEach((block, index) => {
    if (block.type === "space") return;
    if (index === last) html += purify.sanitize(marked.parse(heal(block.raw)), SANITIZE);
    else html += finishedHtml(block, blocks.links, purify);
  });
  return html;
}

/**
 * The unfinished tail, made whole: markers with nothing after them yet held back, open markup closed,
 * and no table header shown before its delimiter row.
 */
export function heal(tail) {
  return withoutHalfTable(remend(withoutBareMarkers(tail), { linkMode: "text-only" }));
}

/**
 * `1. **`, `# `, a fence's first backticks: markers that open something whose content has not come yet.
 * Inside a code block only the closing fence being typed is held back.
 */
function withoutBareMarkers(text) {
  const item = /(^|\n)[ \t]*(\d{1,9}[.)]?|[-+*])[ \t]*$/.exec(text); // `2`, `2.`, `-`: a list item being typed
  const start = item && item.index + item[1].length;
  if (item !== null && !isWithinCodeBlock(text, start)) return text.slice(0, start);
  const bare = /(^|\s)[*_~`#>[!]+\s*$/.exec(text);
  if (bare === null) return text;
  const cut = text.slice(0, bare.index + bare[1].length);
  if (!isWithinCodeBlock(text, bare.index)) return cut;
  return /\n[ \t]*(`{1,3}|~{1,3})[ \t]*$/.test(text) ? cut : text;
}

function finishedHtml(block, links, purify) {
  let html = finished.get(block.raw);
  if (html === undefined) {
    const tokens = Object.assign([block], { links });
    html = purify.sanitize(marked.parser(tokens), SANITIZE);
    if (finished.size >= MAX_CACHED) finished.clear();
    finished.set(block.raw, html);
  }
  return html;
}

/** Trailing lines that look like table rows are held back until the delimiter row makes them a table. */
function withoutHalfTable(text) {
  if (marked.lexer(text).some((token) => token.type === "table")) return text;
  const lines = text.split("\n");
  let end = lines.length;
  while (end > 0 && lines[end - 1].trim() === "") end -= 1;
  let keep = end;
  while (keep > 0 && /^\s*\|/.test(lines[keep - 1])) keep -= 1;
  return keep === end ? text : lines.slice(0, keep).join("\n");
}

function lastContentIndex(blocks) {
  for (let i = blocks.length - 1; i >= 0; i -= 1) if (blocks[i].type !== "space") return i;
  return -1;
}

function purifier(window) {
  if (!window) throw new Error("renderMarkdown needs a DOM to sanitise with: pass {window} (in Node, jsdom's)");
  let purify = purifiers.get(window);
  if (!purify) {
    purify = createDOMPurify(window);
    if (!purify.isSupported) throw new Error("DOMPurify cannot sanitise with this window");
    purify.addHook("uponSanitizeAttribute", (node, data) => {
      if (LOADING_ATTRIBUTES.has(data.attrName) && !loadsNothingElsewhere(data.attrValue)) data.keepAttr = false;
    });
    purifiers.set(window, purify);
  }
  return purify;
}
