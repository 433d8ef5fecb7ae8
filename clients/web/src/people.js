// The names of the people this page has seen: its own from the token's `name` claim, others'
// from the presence metas (`name?`), so that a person is shown by name, not by user id.

const names = new Map(); // user id -> display name
let me = null;

export const people = {
  /** This page's person (from the token's claims). */
  introduce(claims) {
    me = claims.sub ?? null;
    if (me && typeof claims.name === "string" && claims.name) names.set(me, claims.name);
  },

  /** Presence entries `[{user_id, metas: [{name?}]}]`: whoever gives a name is known by it. */
  learn(entries) {
    for (const entry of entries) {
      const name = entry.metas.find((meta) => typeof meta.name === "string" && meta.name)?.name;
      if (name) names.set(entry.user_id, name);
    }
  },

  /** How to show `userId`: "you", a name, or (unnamed) the id itself. */
  call(userId) {
    if (userId && userId === me) return "you";
    return names.get(userId) || userId || "someone";
  },

  /** The name of `userId`, or the id when no name is known. */
  name(userId) {
    return names.get(userId) || userId;
  },
};
