// "2 people viewing": who is in the session, from the client's presence list.
import { h } from "./dom.js";

export class PresenceBadge {
  constructor() {
    this.el = h("span", { class: "presence", "data-testid": "presence", hidden: true });
  }

  /** `entries`: `[{user_id, metas}]`, one per person (a person may have several tabs). */
  show(entries) {
    const people = entries.length;
    const tabs = entries.reduce((sum, entry) => sum + entry.metas.length, 0);
    this.el.hidden = people === 0;
    this.el.dataset.count = String(people);
    this.el.textContent = people === 1 ? "1 person viewing" : `${people} people viewing`;
    this.el.title = entries.map((entry) => entry.metas.find((meta) => meta.name)?.name || entry.user_id).join(", ") + (tabs > people ? ` (${tabs} tabs)` : "");
  }
}
