// One chat message on the page: header with time, status line, tool steps, the text, change cards, error banner.
import { h, timestamp } from "./dom.js";
import { showMarkdown } from "./markdown.js";
import { ToolSteps } from "./tools.js";

const BADGE = { cancelled: "stopped", error: "failed", interrupted: "interrupted", processing: "" };

export class MessageView {
  /** `cards`: the ChangeCards that show this message's changes. */
  constructor(message, cards) {
    this.id = message.id;
    this.role = message.role;
    this.text = null;
    this.streaming = false;
    this.badge = h("span", { class: "badge" });
    this.statusLine = h("div", { class: "status-line", "data-testid": "status-line", hidden: true });
    this.tools = new ToolSteps();
    this.content = h("div", { class: "content", "data-testid": "message-content" });
    this.cards = cards;
    this.banner = h("div", { class: "error-banner", "data-testid": "error-banner", role: "alert", hidden: true });
    this.el = h(
      "article",
      { class: `message ${message.role}`, "data-testid": "message", "data-role": message.role, "data-id": message.id },
      h("header", {}, h("span", { class: "who" }, message.role === "user" ? "User" : "Assistant"), (this.time = timestamp(message.created_at)), this.badge),
      this.statusLine,
      this.tools.el,
      this.content,
      cards.el,
      this.banner,
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
    this.text = text;
    this.streaming = streaming;
    showMarkdown(this.content, text, { streaming });
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
