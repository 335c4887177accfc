// Runtime settings (GET, PUT /api/admin/settings): Save sends only the changed keys; a
// refusal is said in the status line under the heading (never over it) and marks the
// refused field for screen readers.
import { t } from "/static/i18n.js";
import { $, button, call, el, failed, fieldError, hook, missing, status, unavailable } from "../core.js";
import { register } from "../registry.js";
import { reloadAudit } from "./audit.js";

let loaded = null;

async function load() {
  const r = await call("GET", "/api/admin/settings");
  const form = $("settings");
  if (missing(r)) return unavailable(form, t("settings.what"));
  if (!r.ok) return failed(form, r);
  loaded = r.data;
  hook.loaded.settings = r.data;
  form.replaceChildren(...Object.entries(r.data).map(([key, value]) => {
    const id = `setting-${key}`;
    const input = typeof value === "boolean"
      ? el("select", { name: key, id }, el("option", { value: "false" }, "false"), el("option", { value: "true" }, "true"))
      : el("input", { name: key, id, type: "number", min: "0", step: "1", inputmode: "numeric" });
    input.value = String(value);
    return el("div", { class: "setting" }, el("label", { for: id }, key), input);
  }));
  status("settings-status", t("settings.loaded"));
}

async function save() {
  if (!loaded) return;
  const changes = {};
  for (const input of $("settings").querySelectorAll("[name]")) {
    fieldError(input, "");
    const old = loaded[input.name];
    const value = typeof old === "boolean" ? input.value === "true" : Number(input.value);
    if (value !== old) changes[input.name] = value;
  }
  if (!Object.keys(changes).length) return status("settings-status", t("settings.nothing"));
  const r = await call("PUT", "/api/admin/settings", changes);
  if (!r.ok) {
    const key = r.error.details?.key;
    const input = key ? $("settings").querySelector(`[name="${CSS.escape(key)}"]`) : null;
    if (input) fieldError(input, r.error.message);
    return status("settings-status", t("settings.refused", { key: key ? `${key}: ` : "", message: r.error.message }), "error-text");
  }
  loaded = r.data;
  status("settings-status", t("settings.saved", { keys: Object.keys(changes).join(", ") }), "ok-text");
  reloadAudit();
}

register({
  id: "settings",
  title: "settings.title",
  render(body) {
    body.append(
      el("form", { id: "settings", class: "settings-form", onsubmit: (e) => { e.preventDefault(); save(); } }),
      el("div", { class: "row actions" },
        button(t("settings.save"), save, "", { id: "settings-save" }),
        button(t("settings.reload"), load, "secondary", { id: "settings-reload" })));
  },
  load,
  messages: {
    en: {
      "settings.title": "Runtime settings", "settings.what": "runtime settings",
      "settings.loaded": "loaded", "settings.nothing": "nothing changed",
      "settings.refused": "refused: {key}{message}", "settings.saved": "saved {keys}",
      "settings.save": "Save changes", "settings.reload": "Reload",
    },
    ko: {
      "settings.title": "런타임 설정", "settings.what": "런타임 설정",
      "settings.loaded": "불러옴", "settings.nothing": "바뀐 것이 없습니다",
      "settings.refused": "거부됨: {key}{message}", "settings.saved": "저장함: {keys}",
      "settings.save": "변경 저장", "settings.reload": "다시 불러오기",
    },
  },
});
