// The web app at `/`: /?token=<jwt> (session list) and /?session=<id>&token=<jwt> (a chat).
// The token leaves the address bar as the page loads (history.replaceState) and appears in no link: it
// stays in this tab's sessionStorage, so a reload keeps working while history, bookmarks, a copied
// address and the screen never show it.
// Layout: session list | chat | documents; Settings (admins) at #settings; Quick Ask on Ctrl/⌘+↑.
import { connect } from "streamrelay-client";
import { Api } from "./api.js";
import { AssistantState } from "./assistant_state.js";
import { claimsOf, h } from "./dom.js";
import { linkProblem, showLinkProblem } from "./link.js";
import { people } from "./people.js";
import { PresenceBadge } from "./presence.js";
import { QuickAsk } from "./quickask.js";
import { explain } from "./reasons.js";
import { PaneSwitcher } from "./panes.js";
import { OFF, SessionView } from "./session_view.js";
import { SessionList } from "./sessions.js";
import { SettingsPage } from "./settings.js";

class App {
  constructor(token) {
    this.api = new Api(token);
    this.token = token;
    this.claims = claimsOf(token);
    this.admin = this.claims.role === "admin";
    people.introduce(this.claims);
    this.client = connect({ url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/socket`, token });
    this.assistantOn = false;
    this.view = null;
    this.title = h("h1", { class: "session-title", "data-testid": "session-title" }, "Your chats");
    this.presence = new PresenceBadge();
    this.connection = h("span", { class: "connection", "data-testid": "connection" }, "connecting…");
    this.sessions = new SessionList(this.api, {
      onOpen: (id) => this.navigate(id),
      onDeleted: (id) => id === this.sessionId() && this.navigate(null),
    });
    this.main = h("main", { class: "workspace" });
    this.panes = new PaneSwitcher();
    this.settings = this.admin
      ? new SettingsPage(this.api, { onSaved: (settings) => this.assistant.set(settings.assistant), onClose: () => { location.hash = ""; } })
      : null;
    this.quickAsk = new QuickAsk({ available: () => this.assistantOn && !this.view?.chat?.input.disabled, ask: (text) => this.ask(text) });
    document.body.append(
      h("a", { class: "skip-link", href: "#composer", "data-testid": "skip-to-composer", onclick: (event) => this.skipToComposer(event) }, "Skip to the message box"),
      h(
        "header",
        { class: "topbar" },
        h("a", { class: "brand", href: this.url(null) }, "streamrelay"),
        this.title,
        this.presence.el,
        h("span", { class: "spacer" }),
        this.connection,
        this.admin ? h("a", { href: "#settings", "data-testid": "settings" }, "Settings") : null,
      ),
      this.panes.el,
      h("div", { class: "layout" }, this.sessions.el, this.main),
      this.quickAsk.el,
    );
    this.assistant = new AssistantState(this.client.socket, this.claims.tenant, (state) => this.assistantChanged(state));
    this.api.onUnauthorized = () => this.linkFailed();
    this.client.socket.onError(() => this.checkLink());
    this.client.socket.onOpen(() => this.connected("live"));
    this.client.socket.onClose(() => this.connected("reconnecting…"));
    window.addEventListener("hashchange", () => this.route());
    window.addEventListener("popstate", () => this.route());
  }

  async start() {
    const state = await this.assistant.ready;
    if (state) this.assistantOn = state.enabled;
    else await this.readAssistant();
    this.sessions.refresh();
    this.route();
  }

  /** The socket failed: if the link stopped working (it expired, or the server refuses it), say so and stop. */
  async checkLink() {
    if (this.checking || this.dead) return;
    if (linkProblem(this.claims)) return this.linkFailed();
    this.checking = true;
    try {
      await this.api.get("/api/tenant/features"); // answered 401 when the token is refused (onUnauthorized)
    } catch {
      // the server is out of reach: phoenix.js reconnects
    } finally {
      this.checking = false;
    }
  }

  linkFailed() {
    if (this.dead) return;
    this.dead = true;
    this.assistantOn = false;
    this.client.socket.disconnect();
    showLinkProblem(linkProblem(this.claims) || "invalid");
  }

  connected(state) {
    this.connection.textContent = state;
    this.connection.dataset.state = state === "live" ? "live" : "down";
  }

  sessionId() {
    return new URLSearchParams(location.search).get("session");
  }

  url(sessionId) {
    return sessionId ? `/?${new URLSearchParams({ session: sessionId })}` : "/";
  }

  navigate(sessionId) {
    history.pushState(null, "", this.url(sessionId));
    this.route();
  }

  async readAssistant() {
    try {
      const { features } = await this.api.get("/api/tenant/features");
      this.assistantOn = Boolean(features.find((feature) => feature.key === "ai_assistant")?.enabled);
    } catch {
      this.assistantOn = true; // the join says otherwise if it is off
    }
  }

  /** The assistant was turned off or on, or (un)configured, here or in another tab: every view follows. */
  assistantChanged(state) {
    this.assistantOn = state.enabled;
    if (!state.enabled) this.quickAsk.close();
    if (this.view) this.view.setAssistant(state);
    else if (location.hash !== "#settings") this.route(); // the welcome page's tip or notice
  }

  /** Show what the URL names: Settings, a session, or the list alone. */
  route() {
    if (this.dead) return;
    if (location.hash === "#settings" && this.settings) {
      this.panes.enable(false);
      this.panes.show("chat"); // on a phone: the workspace, where Settings are
      this.main.replaceChildren(this.settings.el);
      this.settings.open();
      return;
    }
    const id = this.sessionId();
    this.sessions.select(id);
    this.panes.enable(Boolean(id));
    if (!id) this.panes.show("sessions");
    else if (document.body.dataset.pane !== "documents" || this.view?.id !== id) this.panes.show("chat");
    if (this.view && this.view.id === id) {
      this.main.replaceChildren(this.view.el);
      return;
    }
    this.closeView();
    if (!id) {
      this.showTitle(null);
      this.main.replaceChildren(
        h("div", { class: "welcome" }, h("h2", {}, "Pick a chat or start a new one"), h("p", { class: "muted" }, this.assistantOn ? "Tip: Ctrl+↑ (⌘+↑) opens Quick Ask anywhere." : OFF)),
      );
      return;
    }
    this.view = new SessionView(this, id, this.assistantOn);
    this.main.replaceChildren(this.view.el);
  }

  closeView() {
    this.view?.close();
    this.view = null;
    this.presence.show([]);
  }

  /** The skip link: straight to the composer of the open chat (or the session list's New chat). */
  skipToComposer(event) {
    event.preventDefault();
    const target = this.view?.chat?.input.disabled === false ? this.view.chat.input : this.sessions.newButton;
    target.focus();
  }

  showTitle(session) {
    this.title.textContent = session ? session.title || "Untitled chat" : "Your chats";
    document.title = session ? `${this.title.textContent} · streamrelay` : "streamrelay";
  }

  /** Quick Ask: into the open chat, or a new one. */
  async ask(text) {
    if (!this.view?.chat) {
      const session = await this.api.post("/api/sessions", { title: text.slice(0, 60), documents: "relay" }).catch((error) => {
        throw new Error(explain(error));
      });
      this.sessions.refresh();
      this.navigate(session.id);
    }
    try {
      await this.view.ready;
      this.view.chat.follow.toBottom();
      await this.view.session.send(text);
    } catch (error) {
      throw new Error(explain(error));
    }
  }
}

const TOKEN_KEY = "streamrelay.token";

/** The token the link brought (then out of the address bar at once), or the one this tab kept. */
function takeToken() {
  const address = new URL(location.href);
  const given = address.searchParams.get("token");
  if (given !== null) {
    address.searchParams.delete("token");
    history.replaceState(history.state, "", `${address.pathname}${address.search}${address.hash}`);
  }
  try {
    if (given) sessionStorage.setItem(TOKEN_KEY, given);
    return given || sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return given; // storage disabled: this load works, a reload asks for the link again
  }
}

const token = takeToken();
if (token) {
  const problem = linkProblem(claimsOf(token));
  if (problem) showLinkProblem(problem);
  else new App(token).start();
} else {
  document.body.append(
    h("div", { class: "welcome" }, h("h2", {}, "streamrelay"), h("p", {}, "Open this page with a token: the link that `make dev` prints, or one your application makes.")),
  );
}
