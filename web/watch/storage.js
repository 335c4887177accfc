// watch/storage.js: part of watch-client.js (see there).
// Ids kept in the browser (tab in sessionStorage, device in localStorage) and the
// remembered heartbeat interval; storage that is disabled or full is survived.

export function randomId(prefix) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export const HEARTBEAT_KEY = "watch.heartbeat_interval_ms";

export function safeGet(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

export function safeSet(storage, key, value) {
  try {
    storage.setItem(key, value);
  } catch {
    // storage disabled: nothing remembered
  }
}

export function storedId(storage, key, prefix) {
  try {
    let id = storage.getItem(key);
    if (!id) {
      id = randomId(prefix);
      storage.setItem(key, id);
    }
    return id;
  } catch {
    return randomId(prefix); // storage disabled: an id for this page only
  }
}
