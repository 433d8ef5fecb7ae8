// The HTTP API (docs/protocol.md, "HTTP API") with the page's token; failures become ApiError with a sentence for people.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const FALLBACK = {
  401: "Your sign-in has expired. Open the page again from your application.",
  403: "You are not allowed to do that.",
  404: "That no longer exists.",
  409: "Someone else changed this at the same time. Try again.",
  413: "That is too large to send.",
  429: "Your organisation has used this month's AI allowance.",
  503: "The service is briefly unavailable. Try again in a moment.",
};

export class Api {
  /** `onUnauthorized()`: runs when the server refuses the token (401). */
  constructor(token) {
    this.token = token;
    this.onUnauthorized = null;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (response.status === 401) this.onUnauthorized?.();
    if (!response.ok) {
      const message = data?.error || FALLBACK[response.status] || `The server answered with an error (${response.status}).`;
      throw new ApiError(response.status, data?.code || "error", message, data || {});
    }
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  patch(path, body) { return this.request("PATCH", path, body); }
  delete(path) { return this.request("DELETE", path); }
}
