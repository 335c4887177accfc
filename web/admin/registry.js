// The console's sections, in page order. A section is one module under sections/ that
// registers itself:
//   register({
//     id: "users",              // panel id `${id}-panel`, heading `${id}-title`
//     title: "users.title",     // i18n key of its heading
//     wide: false,              // spans both grid columns
//     render(body) {},          // build the controls once (again after a language switch)
//     load() {},                // fetch and draw its data (returns a promise)
//     refresh: "fast" | "slow" | "charts" | undefined,  // auto refresh group, if any
//     messages: {en: {}, ko: {}},
//   });
// admin.js imports the section modules (one line each), builds one panel per section and
// drives loading and refreshing; nothing else needs to know a section exists.
import { define } from "/static/i18n.js";

const sections = [];

export function register(section) {
  if (section.messages) define(section.messages);
  sections.push(section);
}

export function all() {
  return sections;
}
