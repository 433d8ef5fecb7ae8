// React hooks for streamrelay sessions, on streamrelay-client: state through useSyncExternalStore, the
// exactly-once apply through the client's onApply.

import { useEffect, useMemo, useRef, useSyncExternalStore } from "react";

import { idleState, SessionStore } from "./store.js";

export { idleState, SessionStore };

/**
 * Join a session and follow it: `{messages, streaming, status, presence, send, stop, error, session, info}`.
 * A new `client` or `sessionId` leaves the old session and joins the new one.
 */
export function useSession(client, sessionId, { storage } = {}) {
  const storageAtStart = useRef(storage); // read once: an inline `memoryStorage()` must not rejoin every render
  const store = useMemo(
    () => new SessionStore(client, sessionId, { storage: storageAtStart.current }),
    [client, sessionId],
  );
  useEffect(() => store.open(), [store]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * Run `handler({change_id, changes, message_id})` once per change per session, across every tab, reload and
 * late join (the server grants each change to one claimant only). The newest `handler` is the one called.
 */
export function useApply(session, handler) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!session) return undefined;
    session.onApply((change) => latest.current?.(change));
    return undefined;
  }, [session]);
}

const NOBODY = Object.freeze([]);

/** Who is here: `[{user_id, metas: [{phx_ref, joined_at, name?}]}]`, one entry per user. */
export function usePresence(session) {
  const store = useMemo(() => presenceOf(session), [session]);
  return useSyncExternalStore(store.subscribe, store.get, store.get);
}

function presenceOf(session) {
  let current = session ? session.presence() : NOBODY;
  return {
    subscribe: (listener) => {
      if (!session) return () => {};
      return session.on("presence", (list) => {
        current = list;
        listener();
      });
    },
    get: () => current,
  };
}
