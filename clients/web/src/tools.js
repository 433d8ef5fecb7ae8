// Tool steps of an answer (README "Tools"): one collapsed <details> per call, live from
// `streaming_tool` and, once the answer is saved, from the message's `tool_calls`.
import { h } from "./dom.js";

const LABEL = { started: "running…", finished: "done", failed: "failed" };

export class ToolSteps {
  constructor() {
    this.el = h("div", { class: "tools" });
    this.steps = new Map(); // call_id -> <details>
  }

  /** A `streaming_tool` payload or a saved tool call; the newest word about a call wins. */
  update(call) {
    const step = this.steps.get(call.call_id) || this.add(call.call_id);
    const status = call.status || "started";
    step.dataset.status = status;
    step.querySelector("summary").replaceChildren(
      h("span", { class: "tool-name" }, call.name || "tool"),
      h("span", { class: `tool-status ${status}` }, LABEL[status] || status),
    );
    const body = step.querySelector(".tool-body");
    const parts = [h("div", { class: "tool-label" }, "Arguments"), h("pre", {}, pretty(call.arguments))];
    if (call.result_preview !== undefined && call.result_preview !== null && call.result_preview !== "") {
      parts.push(h("div", { class: "tool-label" }, "Result"), h("pre", {}, pretty(call.result_preview)));
    }
    if (call.error) parts.push(h("div", { class: "tool-error" }, String(call.error)));
    body.replaceChildren(...parts);
  }

  add(callId) {
    const step = h("details", { class: "tool-step", "data-testid": "tool-step" }, h("summary"), h("div", { class: "tool-body" }));
    this.steps.set(callId, step);
    this.el.append(step);
    return step;
  }

  show(calls) {
    for (const call of calls || []) this.update(call);
  }

  /** The answer is over: a call still shown running will never report (its worker was lost). */
  endRunning() {
    for (const step of this.steps.values()) {
      if (step.dataset.status !== "started") continue;
      step.dataset.status = "failed";
      const status = step.querySelector(".tool-status");
      status.className = "tool-status failed";
      status.textContent = "did not finish";
    }
  }
}

function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value ?? {}, null, 2);
}
