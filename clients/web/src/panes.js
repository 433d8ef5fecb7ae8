// On a phone the page shows one pane at a time: the session list, the chat or the documents,
// switched by a bar of three buttons (app.css hides the bar, and shows every pane, on wider screens).
import { h } from "./dom.js";

const PANES = [
  ["sessions", "Chats"],
  ["chat", "Chat"],
  ["documents", "Documents"],
];

export class PaneSwitcher {
  constructor() {
    this.buttons = PANES.map(([pane, label]) =>
      h("button", { type: "button", "data-pane": pane, "data-testid": `pane-${pane}`, "aria-pressed": "false", onclick: () => this.show(pane) }, label),
    );
    this.el = h("nav", { class: "panes", "aria-label": "Panes" }, this.buttons);
  }

  /** Show `pane` ("sessions", "chat" or "documents"). */
  show(pane) {
    document.body.dataset.pane = pane;
    for (const button of this.buttons) button.setAttribute("aria-pressed", String(button.dataset.pane === pane));
  }

  /** Chat and documents exist only with a session open (or Settings in their place). */
  enable(workspace) {
    for (const button of this.buttons) if (button.dataset.pane !== "sessions") button.disabled = !workspace;
  }
}
