// "2 people viewing": who is in the session, from the client's presence list.
import { h } from "./dom.js";
import { people } from "./people.js";

export class PresenceBadge {
  constructor() {
    this.el = h("span", { class: "presence", "data-testid": "presence", hidden: true });
  }

  /** `entries`: `[{user_id, metas}]`, one per person (a person may have several tabs). */
  show(entries) {
    people.learn(entries);
    const count = entries.length;
    const tabs = entries.reduce((sum, entry) => sum + entry.metas.length, 0);
    this.el.hidden = count === 0;
    this.el.dataset.count = String(count);
    this.el.textContent = count === 1 ? "1 person viewing" : `${count} people viewing`;
    this.el.title = entries.map((entry) => people.name(entry.user_id)).join(", ") + (tabs > count ? ` (${tabs} tabs)` : "");
    this.el.setAttribute("aria-label", `${this.el.textContent}: ${this.el.title}`);
  }
}
