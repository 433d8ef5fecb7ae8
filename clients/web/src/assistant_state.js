// Whether the assistant can answer, live: the tenant's `tenant:<id>` topic answers the join
// with `{assistant: {enabled, configured}}` and pushes `assistant_state` whenever an admin
// changes the tenant's settings (docs/protocol.md). A rejoin after a reconnect reads it afresh.

const SAME = (a, b) => a?.enabled === b?.enabled && a?.configured === b?.configured;

export class AssistantState {
  /** `socket`: the client's phoenix Socket; `onChange({enabled, configured})` runs on every change. */
  constructor(socket, tenant, onChange) {
    this.state = null;
    this.onChange = onChange;
    this.channel = socket.channel(`tenant:${tenant}`);
    this.channel.on("assistant_state", ({ assistant }) => this.set(assistant));
    // resolves with the first state, or null when the topic cannot be joined (the caller asks HTTP instead)
    this.ready = new Promise((resolve) => {
      this.channel
        .join()
        .receive("ok", ({ assistant }) => {
          this.set(assistant);
          resolve(this.state);
        })
        .receive("error", () => resolve(null))
        .receive("timeout", () => resolve(null));
    });
  }

  set(assistant) {
    if (!assistant || SAME(assistant, this.state)) return;
    const first = this.state === null;
    this.state = { enabled: Boolean(assistant.enabled), configured: Boolean(assistant.configured) };
    if (!first) this.onChange(this.state);
  }
}
