// Live charts of the last hour (GET /api/admin/stats/series: samples the worker records
// every 10 s), drawn with uPlot (web/vendor/uplot, served by the api: no CDN). Times on the
// axes are in the service's time zone. Each chart has a text summary of its latest value
// (role="img" + aria-label) for screen readers.
import uPlot from "/static/vendor/uplot/uPlot.esm.js";
import { fmtNumber, t, timeZone } from "/static/i18n.js";
import { $, call, el, failed, hook, missing, unavailable } from "../core.js";
import { register } from "../registry.js";

const CHARTS = [
  { key: "viewers", label: "charts.viewers", value: (p) => p.viewers },
  { key: "heartbeats", label: "charts.heartbeats", value: (p) => p.heartbeats_per_s },
  { key: "rewards", label: "charts.rewards", value: (p) => p.rewards_per_min },
  { key: "outbox", label: "charts.outbox", value: (p) => p.outbox_lag_ms / 1000, digits: 1 },
  { key: "spend", label: "charts.spend", value: (p) => p.ad_spend_micros_per_min / 1e6, digits: 2 },
];
const plots = new Map();

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#3b5bdb";
}

function draw(points) {
  const xs = points.map((p) => p.t_ms / 1000);
  for (const chart of CHARTS) {
    const box = $(`chart-${chart.key}`);
    const ys = points.map((p) => chart.value(p));
    const last = ys.length ? ys[ys.length - 1] : null;
    box.setAttribute("aria-label", `${t(chart.label)}: ${last === null ? "–" : fmtNumber(last, chart.digits || 0)}`);
    $(`chart-${chart.key}-now`).textContent = last === null ? "–" : fmtNumber(last, chart.digits || 0);
    const data = [xs, ys];
    const width = Math.max(200, box.clientWidth || 300);
    let plot = plots.get(chart.key);
    if (plot && plot.__tz !== timeZone()) { plot.destroy(); plot = undefined; }
    if (!plot) {
      const ink = css("--muted");
      plot = new uPlot({
        width, height: 140,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), timeZone()),
        legend: { show: false },
        cursor: { show: true, drag: { x: false, y: false } },
        scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
        axes: [
          { stroke: ink, grid: { stroke: css("--line") }, ticks: { stroke: css("--line") } },
          { stroke: ink, grid: { stroke: css("--line") }, ticks: { stroke: css("--line") }, size: 48 },
        ],
        series: [{}, { label: t(chart.label), stroke: css("--accent"), fill: css("--chart-fill"), width: 2, spanGaps: false }],
      }, data, box);
      plot.__tz = timeZone();
      plots.set(chart.key, plot);
    } else {
      plot.setData(data);
      if (Math.abs(plot.width - width) > 2) plot.setSize({ width, height: 140 });
    }
  }
}

async function load() {
  const r = await call("GET", "/api/admin/stats/series?minutes=60");
  const note = $("charts-empty");
  if (missing(r)) return unavailable(note, t("charts.what"));
  if (!r.ok) return failed(note, r);
  hook.loaded.series = r.data;
  const points = r.data.points || [];
  note.textContent = points.length ? "" : t("charts.empty");
  draw(points);
  $("charts-status").textContent = t("charts.window", { n: points.length, zone: timeZone() });
}

register({
  id: "charts",
  title: "charts.title",
  wide: true,
  refresh: "charts",
  render(body) {
    for (const plot of plots.values()) plot.destroy();
    plots.clear();
    body.append(
      el("p", { id: "charts-empty", class: "small muted" }),
      el("div", { class: "charts" }, CHARTS.map((c) => el("figure", { class: "chart" },
        el("figcaption", {}, el("span", {}, t(c.label)), el("b", { id: `chart-${c.key}-now` }, "–")),
        el("div", { id: `chart-${c.key}`, role: "img", "aria-label": t(c.label) })))));
  },
  load,
  messages: {
    en: {
      "charts.title": "Last hour", "charts.what": "chart series (GET /api/admin/stats/series)",
      "charts.viewers": "Concurrent viewers", "charts.heartbeats": "Heartbeats / s",
      "charts.rewards": "Rewards / min", "charts.outbox": "Outbox lag (s)",
      "charts.spend": "Ad spend / min",
      "charts.empty": "No samples yet: the worker records one every 10 s.",
      "charts.window": "{n} samples · times in {zone}",
    },
    ko: {
      "charts.title": "최근 1시간", "charts.what": "차트 데이터 (GET /api/admin/stats/series)",
      "charts.viewers": "동시 시청자", "charts.heartbeats": "하트비트 / 초",
      "charts.rewards": "보상 / 분", "charts.outbox": "아웃박스 지연 (초)",
      "charts.spend": "광고 지출 / 분",
      "charts.empty": "아직 샘플이 없습니다: 워커가 10초마다 하나씩 기록합니다.",
      "charts.window": "샘플 {n}개 · 시간대 {zone}",
    },
  },
});
