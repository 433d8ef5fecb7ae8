// The session list: the caller's chats with their last message, new, rename, delete.
import { h, timestamp } from "./dom.js";
import { plainText } from "./plain.js";
import { explain } from "./reasons.js";

export class SessionList {
  /** `onOpen(id)`: show a session; `onDeleted(id)`: a session is gone. */
  constructor(api, { onOpen, onDeleted }) {
    this.api = api;
    this.onOpen = onOpen;
    this.onDeleted = onDeleted;
    this.active = null;
    this.renaming = null; // { li, cancel } while a title is being typed
    this.items = h("ul", { class: "session-items" });
    this.error = h("div", { class: "list-error", role: "alert", hidden: true });
    this.newButton = h("button", { class: "primary", "data-testid": "new-session", onclick: () => this.create() }, "New chat");
    this.el = h("nav", { class: "sessions", "data-testid": "session-list" }, h("div", { class: "sessions-head" }, this.newButton), this.error, this.items);
  }

  async refresh() {
    try {
      const { sessions } = await this.api.get("/api/sessions");
      this.render(sessions);
      this.fail("");
    } catch (error) {
      this.fail(explain(error));
    }
  }

  select(id) {
    this.active = id;
    for (const item of this.items.children) item.classList.toggle("active", item.dataset.id === id);
  }

  render(sessions) {
    const focused = this.focusedControl();
    sessions.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    const renaming = this.renaming?.li;
    const rows = sessions.map((session) => (session.id === renaming?.dataset.id ? renaming : this.item(session)));
    const at = rows.indexOf(renaming);
    if (at >= 0) {
      // An open rename keeps its row, never detached: the field, what is typed in it and its focus stay.
      for (const row of [...this.items.children]) if (row !== renaming) row.remove();
      renaming.before(...rows.slice(0, at));
      renaming.after(...rows.slice(at + 1));
      renaming.classList.toggle("active", renaming.dataset.id === this.active);
    } else {
      this.renaming?.cancel(); // the chat is gone
      this.items.replaceChildren(...rows);
    }
    if (!sessions.length) this.items.append(h("li", { class: "none" }, "No chats yet."));
    if (focused) this.items.querySelector(`li[data-id="${CSS.escape(focused.id)}"] ${focused.control}`)?.focus();
  }

  /** The list is drawn anew on every message: which control had the keyboard focus, to give it back. */
  focusedControl() {
    const active = document.activeElement;
    const item = this.items.contains(active) ? active.closest("li[data-id]") : null;
    if (!item) return null;
    return { id: item.dataset.id, control: active.dataset.testid ? `[data-testid="${active.dataset.testid}"]` : "button.open" };
  }

  item(session) {
    const title = h("span", { class: "title" }, session.title || "Untitled chat");
    const last = session.last_message;
    const text = plainText(last?.preview || "");
    const preview = !last ? "No messages yet" : last.role === "user" ? text : `Assistant: ${text || "…"}`;
    const li = h(
      "li",
      { "data-testid": "session-item", "data-id": session.id, class: session.id === this.active ? "active" : "" },
      h(
        "button",
        { class: "open", onclick: () => this.onOpen(session.id) },
        h("div", { class: "row" }, title, timestamp(session.last_message?.created_at || session.updated_at)),
        h("div", { class: "preview" }, preview),
      ),
      h(
        "div",
        { class: "item-actions" },
        h("button", { class: "icon", title: "Rename", "aria-label": "Rename", "data-testid": "rename-session", onclick: () => this.rename(li, session) }, "✎"),
        h("button", { class: "icon", title: "Delete", "aria-label": "Delete", "data-testid": "delete-session", onclick: () => this.remove(session) }, "🗑"),
      ),
    );
    return li;
  }

  async create() {
    this.newButton.disabled = true;
    try {
      const session = await this.api.post("/api/sessions", { title: "New chat", documents: "relay" });
      await this.refresh();
      this.onOpen(session.id);
    } catch (error) {
      this.fail(explain(error));
    } finally {
      this.newButton.disabled = false;
    }
  }

  /** An inline field in place of the title: Enter saves, Escape cancels. */
  rename(li, session) {
    const input = h("input", { class: "rename", value: session.title || "", "aria-label": "Chat title", "data-testid": "rename-input" });
    const open = li.querySelector(".open");
    let over = false;
    const done = async (save) => {
      if (over) return;
      over = true;
      this.renaming = null;
      input.replaceWith(open);
      const title = input.value.trim();
      if (!save || !title || title === session.title) return this.refresh();
      try {
        await this.api.patch(`/api/sessions/${session.id}`, { title, revision: session.revision });
      } catch (error) {
        this.fail(explain(error));
      }
      await this.refresh();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") done(true);
      if (event.key === "Escape") done(false);
    });
    input.addEventListener("blur", () => done(true), { once: true });
    this.renaming?.cancel();
    this.renaming = { li, cancel: () => done(false) };
    open.replaceWith(input);
    input.focus();
    input.select();
  }

  async remove(session) {
    if (!window.confirm(`Delete “${session.title || "Untitled chat"}” and all its messages?`)) return;
    try {
      await this.api.delete(`/api/sessions/${session.id}`);
      this.onDeleted(session.id);
    } catch (error) {
      this.fail(explain(error));
    }
    await this.refresh();
  }

  fail(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }
}

