// One open session: its channel (the client's Session), the chat panel and the documents pane.
import { memoryStorage } from "streamrelay-client";
import { ChatPanel } from "./chat.js";
import { h } from "./dom.js";
import { DocumentsPane } from "./editor.js";
import { explain } from "./reasons.js";

export const OFF = "The AI assistant is turned off for your organisation.";
const NOT_CONFIGURED = "AI not configured: the assistant has no AI provider yet. An admin can set one up in Settings.";

/** One open session: its channel, chat panel and documents. */
export class SessionView {
  constructor(app, id, assistantOn) {
    this.app = app;
    this.id = id;
    const user = { id: app.claims.sub, name: app.claims.name || app.claims.sub };
    this.docs = new DocumentsPane(app.api, id, { socket: app.client.socket, user });
    this.notice = h("div", { class: "assistant-off", "data-testid": "assistant-off", role: "status", hidden: true });
    this.el = h("div", { class: "session-view" }, this.notice, this.docs.el);
    labelEditors(this.docs.el);
    this.session = null;
    this.chat = null;
    if (assistantOn) this.open();
    else this.off();
  }

  open() {
    // The page keeps what it shows in memory, so it resumes (`since`) only within its own life:
    // a reloaded page joins afresh and gets the snapshot of the answer in flight.
    const session = (this.session = this.app.client.session(this.id, { storage: memoryStorage() }));
    this.chat = new ChatPanel(session, this.docs);
    this.el.insertBefore(this.chat.el, this.docs.el);
    session.onApply((change) => this.apply(change));
    session.on("join", (reply) => {
      this.docs.load(reply.session);
      this.app.showTitle(reply.session);
      const assistant = reply.assistant || { enabled: true, configured: true };
      if (!assistant.configured) this.chat.disable(NOT_CONFIGURED);
    });
    session.on("session_updated", ({ session: updated }) => {
      this.docs.load(updated);
      this.app.showTitle(updated);
      this.app.sessions.refresh();
    });
    session.on("changes_applied", ({ user_id }) => user_id === null && this.docs.highlightApplied());
    session.on("user_message", () => this.app.sessions.refresh());
    session.on("new_message", () => this.app.sessions.refresh());
    session.on("session_deleted", () => this.gone("This chat was deleted."));
    session.on("presence", (entries) => this.app.presence.show(entries));
    session.on("error", (error) => this.refused(error));
    this.ready = session.join().catch((error) => {
      this.refused(error);
      throw error;
    });
    this.ready.catch(() => {});
  }

  /** The assistant's state changed (`assistant_state`): an open chat is disabled or enabled in place. */
  setAssistant({ enabled, configured }) {
    if (this.closed) return;
    if (!this.chat) {
      if (!enabled) return;
      this.notice.hidden = true;
      this.open(); // its join says whether it is configured
    } else if (!enabled) this.chat.disable(this.app.admin ? `${OFF} Turn it on in Settings.` : `${OFF} Ask an admin to turn it on.`);
    else if (!configured) this.chat.disable(NOT_CONFIGURED);
    else this.chat.enable();
  }

  /** The assistant is off: the documents stay readable, the chat is hidden. */
  async off() {
    this.notice.hidden = false;
    this.notice.replaceChildren(
      OFF,
      this.app.admin ? h("span", {}, " ", h("a", { href: "#settings" }, "Turn it on in Settings"), ".") : " Ask an admin to turn it on.",
    );
    try {
      const { session } = await this.app.api.get(`/api/sessions/${this.id}`);
      this.docs.load(session);
      this.app.showTitle(session);
    } catch (error) {
      this.gone(explain(error));
    }
  }

  /** This tab was granted the claim on a change: write the documents it replaces, once for everyone. */
  async apply({ changes }) {
    const update = {};
    if (typeof changes.yaml === "string") update.workflow_yaml = changes.yaml;
    if (typeof changes.code === "string") update.job_code = changes.code;
    if (!Object.keys(update).length) return; // code edits wait for a person's Accept
    try {
      await this.docs.write(update);
    } catch (error) {
      this.docs.showError(`The change could not be applied: ${explain(error)}`);
    }
  }

  refused(error) {
    if (error.reason === "ai_assistant_disabled") {
      this.chat?.el.remove();
      this.chat?.destroy();
      this.session?.leave();
      this.chat = this.session = null;
      this.off();
    } else if (error.reason === "not_found") this.gone("This chat does not exist any more.");
    else this.chat?.disable(explain(error));
  }

  gone(text) {
    this.app.presence.show([]);
    this.el.replaceChildren(h("div", { class: "gone", "data-testid": "session-gone" }, text));
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.session?.leave();
    this.session = null;
    this.chat?.destroy();
    this.docs.destroy();
  }
}

const EDITOR_LABELS = { "editor-yaml": "Workflow YAML editor", "editor-code": "Job code editor" };

/** Name each document's editor for assistive technology, whenever the pane creates one. */
function labelEditors(pane) {
  const label = () => {
    for (const [testid, name] of Object.entries(EDITOR_LABELS)) {
      for (const content of pane.querySelectorAll(`[data-testid=${testid}] .cm-content:not([aria-label])`)) {
        content.setAttribute("aria-label", name);
        content.tabIndex = 0; // focusable already (contenteditable); said so, for checkers of scrolling regions
      }
    }
  };
  label();
  new MutationObserver(label).observe(pane, { childList: true, subtree: true });
}
