// Quick Ask: Ctrl+↑ (⌘+↑ on a Mac) opens a one-line question box over the page.
// It does nothing while the assistant is off or not usable here, nor in a field with text (the caret's key there).
import { h } from "./dom.js";

export class QuickAsk {
  /** `available()`: whether the assistant can take a question now; `ask(text)`: send it (throws a sentence). */
  constructor({ available, ask }) {
    this.available = available;
    this.ask = ask;
    this.input = h("input", { type: "text", "data-testid": "quick-ask-input", placeholder: "Ask the assistant…", "aria-label": "Quick question" });
    this.note = h("div", { class: "muted", role: "status" });
    const form = h(
      "form",
      { onsubmit: (event) => { event.preventDefault(); this.submit(); } },
      this.input,
      h("button", { class: "primary", type: "submit" }, "Ask"),
    );
    this.el = h(
      "div",
      { class: "overlay", "data-testid": "quick-ask", hidden: true, onclick: (event) => event.target === this.el && this.close() },
      h("div", { class: "quick-ask", role: "dialog", "aria-label": "Quick Ask" }, form, this.note, h("div", { class: "muted" }, "Enter asks · Esc closes")),
    );
    document.addEventListener("keydown", (event) => this.key(event));
  }

  key(event) {
    if (event.key === "ArrowUp" && (event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey) {
      if (!this.available() || holdsText(event.target)) return; // there, the key moves the caret
      event.preventDefault();
      this.open();
    } else if (event.key === "Escape" && !this.el.hidden) {
      this.close();
    }
  }

  open() {
    this.el.hidden = false;
    this.note.textContent = "";
    this.input.focus();
    this.input.select();
  }

  close() {
    this.el.hidden = true;
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text) return;
    try {
      await this.ask(text);
      this.input.value = "";
      this.close();
    } catch (error) {
      this.note.textContent = error.message;
    }
  }
}

/** A field with text in it (the composer, an editor): Ctrl+↑ is its own there. */
function holdsText(el) {
  if (el?.isContentEditable) return true;
  return (el?.tagName === "TEXTAREA" || el?.tagName === "INPUT") && el.value !== "";
}
