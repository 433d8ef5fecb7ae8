// Markdown into an element: renderMarkdown (markdown_html.js: heals the unfinished tail,
// renders, sanitises), then highlight.js on the code blocks.
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import yaml from "highlight.js/lib/languages/yaml";
import { renderMarkdown } from "./markdown_html.js";

for (const [name, language] of Object.entries({ bash, javascript, json, python, sql, typescript, yaml })) {
  hljs.registerLanguage(name, language);
}
hljs.registerAliases(["js", "mjs"], { languageName: "javascript" });
hljs.registerAliases(["sh", "shell"], { languageName: "bash" });
hljs.registerAliases(["yml"], { languageName: "yaml" });
hljs.registerAliases(["ts"], { languageName: "typescript" });
hljs.registerAliases(["py"], { languageName: "python" });

/** Show `text` as markdown in `el`; `streaming` heals an unfinished tail and ends with a blinking cursor. */
export function showMarkdown(el, text, { streaming = false } = {}) {
  el.innerHTML = renderMarkdown(text, { streaming });
  for (const code of el.querySelectorAll("pre code")) highlight(code);
  if (streaming) {
    const block = lastTextBlock(el);
    const last = block.lastChild;
    // a code block's text ends with its newline: the cursor belongs at the end of its last line
    if (block.tagName === "CODE" && last?.nodeType === Node.TEXT_NODE) last.textContent = last.textContent.replace(/\n$/, "");
    block.append(cursor());
  }
}

const highlighted = new Map(); // language + code -> HTML: a streaming answer re-renders every frame
const MAX_HIGHLIGHTED = 200;

function highlight(code) {
  const language = [...code.classList].find((name) => name.startsWith("language-"))?.slice(9);
  if (!language || !hljs.getLanguage(language)) return;
  const key = `${language}\n${code.textContent}`;
  let html = highlighted.get(key);
  if (html === undefined) {
    // highlight.js escapes the text it is given, so the result is as safe as the text node was
    html = hljs.highlight(code.textContent, { language, ignoreIllegals: true }).value;
    if (highlighted.size >= MAX_HIGHLIGHTED) highlighted.clear();
    highlighted.set(key, html);
  }
  code.innerHTML = html;
  code.classList.add("hljs");
}

function cursor() {
  const el = document.createElement("span");
  el.className = "cursor";
  el.dataset.testid = "streaming-indicator";
  el.setAttribute("aria-label", "The assistant is writing");
  return el;
}

const BLOCK = /^(P|UL|OL|LI|BLOCKQUOTE|PRE|H[1-6]|TABLE|TBODY|TR|TD)$/;

/** Where the cursor goes: right after the last text, inside the innermost last block; never inside
 * inline markup (an inline code span, a link), and after any text that follows it. */
function lastTextBlock(root) {
  let el = root;
  for (;;) {
    const last = lastNode(el);
    const block = last?.nodeType === Node.ELEMENT_NODE && (BLOCK.test(last.tagName) || (last.tagName === "CODE" && el.tagName === "PRE"));
    if (!block) return el;
    el = last;
  }
}

/** The last child that is not whitespace between blocks. */
function lastNode(el) {
  let node = el.lastChild;
  while (node && node.nodeType === Node.TEXT_NODE && !node.textContent.trim()) node = node.previousSibling;
  return node;
}
