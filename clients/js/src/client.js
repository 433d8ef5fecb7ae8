// A connection to a streamrelay gateway: one phoenix Socket shared by every session of the tab.

import { Socket } from "phoenix";

import { Session } from "./session.js";

export class Client {
  /**
   * @param {object} options
   * @param {string} options.url  the socket endpoint, e.g. "ws://host:8000/socket" (http(s) works too; "/socket" in a page)
   * @param {string | (() => string)} options.token  the user's JWT, or a function returning the current one
   * @param {unknown} [options.transport]  a WebSocket class (Node: the `ws` package); the browser's by default
   * @param {object} [options.socketOptions]  passed on to phoenix's Socket (heartbeatIntervalMs, reconnectAfterMs, logger, …)
   */
  constructor({ url, token, transport, socketOptions = {} }) {
    if (!url) throw new Error("connect needs the gateway's socket url");
    if (!token) throw new Error("connect needs a token");
    const params = () => ({ token: typeof token === "function" ? token() : token });
    this.socket = new Socket(endpoint(url), { ...socketOptions, params, ...(transport ? { transport } : {}) });
    this.socket.connect();
  }

  /** A session of this connection; call `join()` on it. `storage` keeps its position (default sessionStorage). */
  session(id, { storage } = {}) {
    return new Session(this.socket, id, { storage });
  }

  /** Close the connection (no reconnect); resolves once it is closed. */
  disconnect() {
    return new Promise((resolve) => this.socket.disconnect(() => resolve(), 1000, "client disconnect"));
  }
}

export function connect(options) {
  return new Client(options);
}

/** phoenix wants the endpoint without the transport suffix and speaks ws(s). */
function endpoint(url) {
  return url.replace(/^http(s?):/, "ws$1:").replace(/\/websocket\/?$/, "").replace(/\/$/, "");
}
