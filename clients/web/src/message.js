// One chat message on the page: header with time, status line, tool steps, the text, change cards, error banner.
import { addCodeCopies, copyOnClick } from "./copy.js";
import { h, timestamp } from "./dom.js";
import { showMarkdown } from "./markdown.js";
import { ToolSteps } from "./tools.js";

const BADGE = { cancelled: "stopped", error: "failed", interrupted: "interrupted", processing: "" };

export class MessageView {
  /** `cards`: the ChangeCards that show this message's changes; `actions`: {regenerate(), edit(text)} for the last ones. */
  constructor(message, cards, actions) {
    this.id = message.id;
    this.role = message.role;
    this.source = message.role === "user" ? message.content || "" : ""; // what Copy copies: the markdown
    this.text = null;
    this.streaming = false;
    this.badge = h("span", { class: "badge" });
    this.statusLine = h("div", { class: "status-line", "data-testid": "status-line", hidden: true });
    this.tools = new ToolSteps();
    this.content = h("div", { class: "content", "data-testid": "message-content" });
    this.cards = cards;
    this.banner = h("div", { class: "error-banner", "data-testid": "error-banner", role: "alert", hidden: true });
    const copy = h("button", { type: "button", class: "small quiet", "data-testid": "copy-message", "aria-label": "Copy message" }, "Copy");
    copyOnClick(copy, () => this.source);
    this.regenerateButton = h("button", { type: "button", class: "small quiet", "data-testid": "regenerate", hidden: true, onclick: () => actions.regenerate() }, "Regenerate");
    this.editButton = h("button", { type: "button", class: "small quiet", "data-testid": "edit-message", hidden: true, onclick: () => this.startEdit(actions.edit) }, "Edit");
    this.actions = h("div", { class: "message-actions" }, copy, this.regenerateButton, this.editButton);
    this.el = h(
      "article",
      { class: `message ${message.role}`, "data-testid": "message", "data-role": message.role, "data-id": message.id },
      h("header", {}, h("span", { class: "who" }, message.role === "user" ? "User" : "Assistant"), (this.time = timestamp(message.created_at)), this.badge),
      this.statusLine,
      this.tools.el,
      this.content,
      cards.el,
      this.banner,
      this.actions,
    );
    this.setStatus(message.status || "success");
    if (message.role === "user") this.content.textContent = message.content || "";
  }

  setStatus(status) {
    this.el.dataset.status = status;
    this.badge.textContent = BADGE[status] ?? "";
    this.badge.hidden = !this.badge.textContent;
  }

  /** The answer so far (or the whole answer): markdown, with a cursor while it streams. */
  showText(text, streaming) {
    if (this.role === "user") return;
    if (text === this.text && streaming === this.streaming) return;
    this.text = this.source = text;
    this.streaming = streaming;
    showMarkdown(this.content, text, { streaming });
    if (!streaming) addCodeCopies(this.content);
  }

  /** Offer Regenerate (the last answer) or Edit (the last question), or neither. */
  offer({ regenerate = false, edit = false }) {
    this.regenerateButton.hidden = !regenerate;
    this.editButton.hidden = !edit;
  }

  /** Edit the question in place: Enter (or Send) resends it through `resend(text)`, Escape cancels. */
  startEdit(resend) {
    const input = h("textarea", { class: "edit-input", "data-testid": "edit-input", rows: 3, "aria-label": "Edit your question" });
    input.value = this.source;
    const note = h("div", { class: "edit-note", role: "status" });
    const done = () => form.replaceWith(this.content);
    const send = async () => {
      const text = input.value.trim();
      if (!text) return;
      try {
        await resend(text);
      } catch (error) {
        note.textContent = error.message;
        return;
      }
      done();
    };
    const form = h(
      "form",
      { class: "edit-form", onsubmit: (event) => { event.preventDefault(); send(); } },
      input,
      h("div", { class: "edit-actions" },
        h("button", { type: "submit", class: "small primary", "data-testid": "edit-send" }, "Send"),
        h("button", { type: "button", class: "small", onclick: done }, "Cancel"),
      ),
      note,
    );
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      } else if (event.key === "Escape") done();
    });
    this.content.replaceWith(form);
    input.focus();
  }

  showStatus(text) {
    this.statusLine.hidden = !text;
    this.statusLine.textContent = text || "";
  }

  /** Keeps the text so far and says why the answer ended early. */
  showError(reason) {
    this.banner.hidden = false;
    this.banner.textContent = `${reason} The answer so far is kept above.`;
  }

  /** The saved message: final status, text, tool calls and error. */
  finish(message) {
    this.setStatus(message.status);
    const time = timestamp(message.created_at);
    this.time.replaceWith(time);
    this.time = time;
    this.showStatus("");
    this.tools.show(message.tool_calls);
    this.tools.endRunning();
    for (const change of message.changes || []) this.cards.show(change);
    this.showText(message.content || "", false);
    if (message.status === "cancelled") {
      this.banner.hidden = false;
      this.banner.classList.add("quiet");
      this.banner.textContent = "Stopped. The answer so far is kept above.";
    } else if (message.status === "error" || message.status === "interrupted") {
      const why = message.error || (message.status === "interrupted" ? "The answer broke off." : "The AI service failed.");
      this.showError(/[.!?]$/.test(why) ? why : `${why}.`);
    }
  }
}
