/** A refusal from the server (`reason` is its code: busy, not_found, unavailable, …) or a timeout. */
export class SessionError extends Error {
  constructor(reason, message) {
    super(message || reason);
    this.name = "SessionError";
    this.reason = reason;
  }
}
