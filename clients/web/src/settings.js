// The admin Settings page: Experimental Features, AI provider (write-only key), usage this month.
import { h } from "./dom.js";
import { explain } from "./reasons.js";

const WARNING = "Experimental features may change or be removed without notice.";
const PROVIDERS = [
  ["apollo", "Apollo"],
  ["openai", "OpenAI-compatible"],
  ["azure_openai", "Azure OpenAI"],
  ["anthropic", "Anthropic"],
];
const NAMES = { ...Object.fromEntries(PROVIDERS), demo: "the built-in demo" };
// Examples for each provider's fields; "" is the service's own provider (nothing to fill in).
const PLACEHOLDERS = {
  "": { url: "The service's own", model: "The service's own" },
  apollo: { url: "https://apollo.example.org", model: "" },
  openai: { url: "https://api.openai.com/v1", model: "gpt-4o-mini" },
  azure_openai: { url: "https://your-resource.openai.azure.com", model: "", deployment: "gpt-4o-mini", api_version: "2024-10-21" },
  anthropic: { url: "https://api.anthropic.com", model: "claude-sonnet-4-5" },
};
const TABS = [
  ["features", "Experimental Features"],
  ["provider", "AI provider"],
  ["usage", "Usage"],
];

export class SettingsPage {
  /** `onSaved(settings)`: the tenant's settings changed (the app re-reads the assistant's state). */
  constructor(api, { onSaved, onClose }) {
    this.api = api;
    this.onSaved = onSaved;
    this.tab = "features";
    this.body = h("div", { class: "settings-body" });
    this.tabs = h(
      "div",
      { class: "tabs", role: "tablist" },
      TABS.map(([key, label]) => h("button", { role: "tab", "data-tab": key, "data-testid": `settings-tab-${key}`, onclick: () => this.open(key) }, label)),
    );
    this.el = h(
      "section",
      { class: "settings", "data-testid": "settings-page" },
      h("header", {}, h("h2", {}, "Settings"), h("button", { class: "link", "data-testid": "close-settings", onclick: onClose }, "← Back to chat")),
      this.tabs,
      this.body,
    );
  }

  async open(tab = this.tab) {
    this.tab = tab;
    for (const button of this.tabs.children) button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    this.body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const view = await { features: () => this.features(), provider: () => this.provider(), usage: () => this.usage() }[tab]();
      if (this.tab === tab) this.body.replaceChildren(view);
    } catch (error) {
      if (this.tab === tab) this.body.replaceChildren(h("div", { class: "error-banner", role: "alert" }, explain(error)));
    }
  }

  async features() {
    const { features } = await this.api.get("/api/tenant/features");
    const toggles = features.map((feature) => {
      const input = h("input", { type: "checkbox", role: "switch", "data-testid": `feature-${feature.key}`, "data-key": feature.key });
      input.checked = Boolean(feature.enabled);
      return h(
        "label",
        { class: "feature" },
        input,
        h("div", {}, h("strong", {}, feature.name || feature.key), h("div", { class: "muted" }, feature.description || "")),
      );
    });
    const save = () => {
      const patch = {};
      for (const input of this.body.querySelectorAll("input[data-key]")) patch[input.dataset.key] = input.checked;
      return { experimental_features: patch };
    };
    return h("div", {}, h("div", { class: "warning-banner", role: "note" }, WARNING), ...toggles, this.saveRow(save));
  }

  async provider() {
    const settings = await this.api.get("/api/tenant/settings");
    const current = settings.ai_provider || {};
    const service = settings.default_provider?.provider;
    const field = (name, label, attrs = {}) =>
      h("label", { class: "field", "data-field": name }, h("span", {}, label), h("input", { name, value: current[name] || "", "data-testid": `provider-${name}`, ...attrs }));
    const ownLabel = service ? `The service's own (${NAMES[service] || service})` : "The service's own";
    const select = h(
      "select",
      { name: "provider", "data-testid": "provider-provider" },
      h("option", { value: "" }, ownLabel),
      PROVIDERS.map(([value, label]) => h("option", { value }, label)),
    );
    select.value = current.provider || "";
    const keyHint = current.api_key_set ? `A key ending in ${current.api_key_hint || "…"} is set; type a new one to replace it` : "No key set";
    const assistant = settings.assistant;
    const fields = [
      field("url", "URL", { type: "url" }),
      field("model", "Model"),
      field("deployment", "Deployment (Azure)"),
      field("api_version", "API version (Azure)"),
    ];
    const fit = () => {
      const examples = PLACEHOLDERS[select.value] || {};
      for (const label of fields) {
        const name = label.dataset.field;
        const input = label.querySelector("input");
        input.placeholder = examples[name] || "";
        label.hidden = examples[name] === undefined && !input.value; // only what this provider uses
      }
    };
    select.addEventListener("change", fit);
    fit();
    const save = () => {
      const patch = { provider: select.value || (current.provider ? null : undefined) };
      if (patch.provider === undefined) delete patch.provider;
      for (const input of this.body.querySelectorAll("input[name]")) {
        const value = input.value.trim();
        if (value) patch[input.name] = input.name === "api_key" ? input.value : value;
      }
      return { ai_provider: patch };
    };
    return h(
      "div",
      {},
      assistant
        ? h("p", { class: assistant.configured ? "ok" : "warning-banner", "data-testid": "assistant-state" },
            assistant.configured ? "The assistant is configured." : "AI not configured: the assistant needs a provider URL, a key and a model.")
        : null,
      h("label", { class: "field" }, h("span", {}, "Provider"), select),
      ...fields,
      h(
        "label",
        { class: "field" },
        h("span", {}, "API key"),
        h("input", { name: "api_key", type: "password", autocomplete: "new-password", placeholder: keyHint, "data-testid": "provider-api_key" }),
      ),
      h("p", { class: "muted" }, "The key is stored encrypted and never shown again."),
      this.saveRow(save),
    );
  }

  async usage() {
    const usage = await this.api.get("/api/tenant/usage");
    const limit = usage.limit?.monthly_tokens ?? null;
    const used = usage.total_tokens || 0;
    const share = limit ? Math.min(100, Math.round((used / limit) * 100)) : 0;
    const number = (n) => Number(n || 0).toLocaleString();
    const input = h("input", { type: "number", min: "0", step: "1000", name: "monthly_tokens", value: limit ?? "", placeholder: "No limit", "data-testid": "usage-limit" });
    const save = () => ({ usage_limit: { monthly_tokens: input.value === "" ? null : Number(input.value) } });
    return h(
      "div",
      { "data-testid": "usage" },
      h("p", { class: "usage-total" }, limit ? `${number(used)} of ${number(limit)} tokens used this month (${share}%)` : `${number(used)} tokens used this month (no limit)`),
      limit ? h("div", { class: "meter" }, h("div", { style: `width: ${share}%` })) : null,
      h("p", { class: "muted" }, `${number(usage.generations)} ${usage.generations === 1 ? "answer" : "answers"} in ${usage.month}`, usage.limit?.resets_at ? `; the count resets on ${new Date(usage.limit.resets_at).toLocaleDateString()}` : "", "."),
      usage.by_user?.length
        ? h(
            "table",
            { class: "by-user" },
            h("thead", {}, h("tr", {}, h("th", {}, "User"), h("th", {}, "Input tokens"), h("th", {}, "Output tokens"), h("th", {}, "Answers"))),
            h("tbody", {}, usage.by_user.map((row) => h("tr", {}, h("td", {}, row.user_id), h("td", {}, number(row.input_tokens)), h("td", {}, number(row.output_tokens)), h("td", {}, number(row.generations))))),
          )
        : null,
      h("label", { class: "field" }, h("span", {}, "Monthly limit (tokens)"), input),
      this.saveRow(save),
    );
  }

  /** Save (data-testid save-settings) with its outcome beside it. */
  saveRow(patch) {
    const note = h("span", { class: "save-note", role: "status", "data-testid": "save-note" });
    const button = h("button", { class: "primary", "data-testid": "save-settings" }, "Save");
    button.onclick = async () => {
      button.disabled = true;
      note.textContent = "Saving…";
      try {
        const settings = await this.api.put("/api/tenant/settings", patch());
        note.textContent = "Saved.";
        for (const secret of this.body.querySelectorAll("input[type=password]")) secret.value = "";
        this.onSaved(settings);
      } catch (error) {
        note.textContent = explain(error);
      } finally {
        button.disabled = false;
      }
    };
    return h("div", { class: "save-row" }, button, note);
  }
}
