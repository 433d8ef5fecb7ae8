// Markdown as the plain text a person reads: rendered (a cut-off tail healed), then read back
// as text from an inert document (nothing it names, such as an image, is loaded).
import { renderMarkdown } from "./markdown_html.js";

export function plainText(markdown) {
  const html = renderMarkdown(markdown, { streaming: true });
  return new DOMParser().parseFromString(html, "text/html").body.textContent.replace(/\s+/g, " ").trim();
}
