// The chat panel of one session: messages, the streaming answer (paced, markdown),
// the composer with Send and Stop, and the notices for refused messages.
import { Announcer } from "./announcer.js";
import { ChangeCards } from "./changes.js";
import { h } from "./dom.js";
import { Follower } from "./follow.js";
import { MessageView } from "./message.js";
import { Pacer } from "./pacer.js";
import { explain } from "./reasons.js";

// Questions an empty chat suggests: a workflow, a search of the documentation, a fix of the job code.
const SUGGESTIONS = [
  "Draft a workflow that loads records from an HTTP API into PostgreSQL every hour",
  "Search the docs: how do cron triggers work?",
  "Fix my job code: the next step gets no data",
];

export class ChatPanel {
  /** `session`: the client's Session; `docs`: the DocumentsPane the change cards read. */
  constructor(session, docs) {
    this.session = session;
    this.docs = docs;
    this.views = new Map(); // message id -> MessageView
    this.stream = null; // {id, view, pacer, text, final}
    this.running = null; // id of the answer being generated (this tab's or another's)
    this.list = h("div", { class: "messages", "data-testid": "messages", role: "region", "aria-label": "Messages" });
    this.announcer = new Announcer();
    this.empty = h(
      "div",
      { class: "empty" },
      h("p", {}, "Ask the assistant about your workflow. Answers stream here for everyone viewing this chat."),
      h("div", { class: "suggestions" }, SUGGESTIONS.map((text) => h("button", { type: "button", class: "suggestion", "data-testid": "suggestion", onclick: () => this.suggest(text) }, text))),
    );
    this.input = h("textarea", {
      "data-testid": "composer",
      rows: 2,
      placeholder: "Ask the assistant…  (Enter sends, Shift+Enter adds a line)",
      "aria-label": "Message to the assistant",
      onkeydown: (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.submit();
        }
      },
    });
    this.sendButton = h("button", { type: "submit", class: "primary", "data-testid": "send" }, "Send");
    this.stopButton = h("button", { type: "button", "data-testid": "stop", disabled: true, onclick: () => this.stop() }, "Stop");
    this.notice = h("div", { class: "composer-notice", "data-testid": "composer-notice", role: "status", hidden: true });
    const form = h("form", { class: "composer", onsubmit: (event) => { event.preventDefault(); this.submit(); } }, this.input, this.sendButton, this.stopButton);
    this.follow = new Follower(this.list);
    this.el = h("section", { class: "chat", "data-testid": "chat" }, h("div", { class: "messages-frame" }, this.list, this.follow.button), this.notice, form, this.announcer.el);
    this.list.append(this.empty);
    this.subscribe();
  }

  subscribe() {
    const on = (event, fn) => this.session.on(event, fn);
    on("join", (reply) => this.joined(reply));
    on("user_message", ({ message }) => this.message(message));
    on("message_processing", ({ message_id }) => this.streaming(message_id));
    on("streaming_status", ({ message_id, text }) => this.streaming(message_id).view.showStatus(text));
    on("streaming_chunk", ({ message_id, content }) => {
      const stream = this.streaming(message_id);
      if (!stream.tools) stream.view.showStatus(""); // thinking is over once the text flows
      stream.pacer.push(content);
    });
    on("streaming_changes", (change) => this.streaming(change.message_id).view.cards.show(change));
    on("streaming_tool", (call) => {
      const stream = this.streaming(call.message_id);
      stream.view.tools.update(call);
      stream.tools = call.status === "started";
      stream.view.showStatus(call.status === "started" ? `Calling ${call.name}…` : "");
    });
    on("streaming_error", ({ message_id, error }) => this.streaming(message_id).view.showError(sentence(error)));
    on("new_message", ({ message }) => this.finished(message));
    on("changes_applied", ({ change_id, user_id }) => {
      for (const view of this.views.values()) view.cards.applied(change_id, user_id);
    });
    on("messages_deleted", ({ message_ids }) => this.remove(message_ids));
  }

  /** Every join and rejoin: the history and the answer in flight as the server has them. */
  joined(reply) {
    this.el.dataset.joined = "true";
    if (!reply.recovered) this.remove(this.missing(reply.messages || []));
    for (const message of reply.messages || []) {
      if (message.status === "processing") continue; // shown from the snapshot below
      this.message(message);
    }
    const live = reply.streaming;
    if (live) {
      const fresh = !this.stream || this.stream.id !== live.message_id;
      const stream = this.streaming(live.message_id);
      if (!reply.recovered || fresh) {
        // the snapshot stands in for what this tab may have missed: show exactly it
        stream.pacer.clear();
        stream.text = live.content || "";
        stream.view.showText(stream.text, true);
      }
      if (live.status && live.status !== "processing") stream.view.showStatus(live.status);
      for (const change of live.changes || []) stream.view.cards.show(change);
      for (const call of live.tools || []) stream.view.tools.update(call); // the steps so far, at once
      const running = (live.tools || []).find((call) => call.status === "started");
      stream.tools = Boolean(running);
      if (running) stream.view.showStatus(`Calling ${running.name}…`);
    }
    if (!this.opened) {
      this.follow.toBottom(); // a chat opens at its newest message, ready to type in
      if (!isTyping(document.activeElement)) this.input.focus({ preventScroll: true });
    }
    this.opened = true;
  }

  view(message) {
    let view = this.views.get(message.id);
    if (!view) {
      const actions = { regenerate: () => this.regenerate(), edit: (text) => this.resend(message.id, text) };
      view = new MessageView(message, new ChangeCards(this.docs), actions);
      this.views.set(message.id, view);
      this.empty.remove();
      this.list.append(view.el);
      this.offer();
    }
    return view;
  }

  /** A saved message (history, `user_message`). */
  message(message) {
    if (message.role === "assistant") this.finished(message);
    else this.view(message);
  }

  /** The answer being generated, created on its first event. */
  streaming(messageId) {
    if (this.stream && this.stream.id === messageId) return this.stream;
    const view = this.view({ id: messageId, role: "assistant", status: "processing", created_at: new Date().toISOString() });
    view.setStatus("processing");
    view.showText("", true);
    const stream = { id: messageId, view, text: "", final: null };
    stream.pacer = new Pacer((piece) => {
      stream.text += piece;
      view.showText(stream.text, true);
      this.announcer.progress(messageId, stream.text);
      if (stream.final && stream.pacer.pending === 0) this.settle(stream);
    });
    this.stream = stream;
    this.setRunning(messageId);
    return stream;
  }

  /** A saved answer (`new_message`, history): the paced text catches up first, then the saved message replaces it. */
  finished(message) {
    const stream = this.stream;
    if (this.running === message.id) this.setRunning(null);
    if (!stream || stream.id !== message.id) {
      this.view(message).finish(message);
      return;
    }
    stream.final = message;
    if (stream.pacer.pending === 0) this.settle(stream);
  }

  settle(stream) {
    stream.pacer.clear();
    stream.view.finish(stream.final);
    this.announcer.finish(stream.id, stream.final.content);
    if (this.stream === stream) this.stream = null;
  }

  setRunning(messageId) {
    this.running = messageId;
    this.stopButton.disabled = messageId === null;
    this.el.classList.toggle("running", messageId !== null);
    this.offer();
  }

  /** Messages shown here that a fresh join's history (from its oldest message on) no longer has. */
  missing(messages) {
    if (!messages.length) return [...this.views.keys()];
    const kept = new Set(messages.map((message) => message.id));
    const shown = [...this.list.querySelectorAll("[data-testid=message]")].map((el) => el.dataset.id);
    const from = shown.indexOf(messages[0].id);
    return from < 0 ? [] : shown.slice(from).filter((id) => !kept.has(id));
  }

  /** `messages_deleted` (a regenerate, an edit and resend): the messages go from the page. */
  remove(ids) {
    for (const id of ids) {
      const view = this.views.get(id);
      if (!view) continue;
      if (this.stream?.id === id) {
        this.stream.pacer.clear();
        this.stream = null;
      }
      view.cards.destroy();
      view.el.remove();
      this.views.delete(id);
    }
    if (!this.views.size) this.list.append(this.empty);
    this.offer();
  }

  /** Regenerate on the last answer, Edit on the last question: while nothing runs and the assistant can answer. */
  offer() {
    const idle = this.running === null && !this.input.disabled;
    let question = null;
    let answer = null;
    for (const el of this.list.querySelectorAll("[data-testid=message]")) {
      const view = this.views.get(el.dataset.id);
      if (view?.role === "user") [question, answer] = [view, null];
      else if (view) answer = view;
    }
    for (const view of this.views.values()) {
      view.offer({ regenerate: idle && question !== null && view === answer, edit: idle && view === question });
    }
  }

  async regenerate() {
    this.follow.toBottom();
    try {
      await this.session.regenerate();
      this.say("");
    } catch (error) {
      this.say(explain(error));
    }
  }

  /** Edit and resend the last question (throws a sentence for the edit form to show). */
  async resend(messageId, content) {
    this.follow.toBottom();
    try {
      await this.session.send(content, { edit: messageId });
      this.say("");
    } catch (error) {
      throw new Error(explain(error));
    }
    this.input.focus();
  }

  /** A suggestion chip: asked as if typed. */
  suggest(text) {
    if (this.input.disabled) return;
    this.input.value = text;
    this.submit();
  }

  async submit() {
    const content = this.input.value.trim();
    if (!content) return;
    if (this.running) return this.say(explain({ reason: "busy" }));
    this.sendButton.disabled = true;
    this.follow.toBottom();
    try {
      await this.session.send(content);
      this.input.value = "";
      this.say("");
    } catch (error) {
      this.say(explain(error));
    } finally {
      this.sendButton.disabled = this.input.disabled;
      this.input.focus(); // Send keeps the focus where the next question is typed
    }
  }

  async stop() {
    this.stopButton.disabled = true;
    try {
      await this.session.stop();
    } catch (error) {
      this.say(explain(error));
      this.stopButton.disabled = this.running === null;
    }
  }

  /** A notice above the composer (empty: none). */
  say(text, kind = "warning") {
    this.notice.textContent = text;
    this.notice.hidden = !text;
    this.notice.dataset.kind = kind;
  }

  /** The assistant cannot answer here (off, not configured): say why and keep the history readable. */
  disable(reason) {
    this.input.disabled = this.sendButton.disabled = true;
    this.say(reason, "blocked");
    this.offer();
  }

  /** The assistant can answer again: the composer works and the notice saying why it did not is gone. */
  enable() {
    this.input.disabled = this.sendButton.disabled = false;
    if (this.notice.dataset.kind === "blocked") this.say("");
    this.offer();
  }

  destroy() {
    this.stream?.pacer.clear();
    for (const view of this.views.values()) view.cards.destroy();
  }
}

function sentence(text) {
  const s = String(text || "The answer broke off.");
  return /[.!?…]$/.test(s) ? s : `${s}.`;
}

/** Whether `el` is a field a person is typing in (the focus is theirs to keep). */
function isTyping(el) {
  return Boolean(el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable));
}
