// A kit's page: facts from /v1/nodes/{node}, latest values from /v1/latest, and a chart per
// quantity from /v1/readings (raw) or /v1/aggregates (hourly means with coverage).
"use strict";

(() => {
  const { config, t, el } = LM;
  const node = config.node;
  const enc = encodeURIComponent(node);
  const RANGES = { hour: 3600, day: 86400, week: 7 * 86400, month: 30 * 86400 };
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_DOTS = 2500;
  const form = document.getElementById("chart-options");
  const params = new URL(window.location.href).searchParams;
  const state = {
    range: params.get("range") in RANGES ? params.get("range") : "day",
    mode: params.get("mode") === "hourly" ? "hourly" : "raw",
  };
  let units = {};

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  /** The period shown: whole minutes for raw readings, whole hours for hourly means. */
  function period() {
    const now = Math.floor(Date.now() / 1000);
    const step = state.mode === "hourly" ? 3600 : 60;
    const to = now - (now % step);
    return { from: to - RANGES[state.range], to };
  }

  function query(p, extra) {
    const search = new URLSearchParams({ node, from: iso(p.from), to: iso(p.to), ...(extra || {}) });
    return search.toString();
  }

  async function readings(p) {
    const rows = [];
    let url = `/v1/readings?${query(p)}`;
    while (url) {
      const page = await LM.getJSON(url);
      rows.push(...page.value);
      const next = page["@nextLink"];
      // Same origin whatever base URL the server names (a proxy may rewrite it).
      const link = next ? new URL(next, window.location.href) : null;
      url = link ? link.pathname + link.search : null;
    }
    return rows;
  }

  /** What an open alert says, in the page's language (the gateway's message is English). */
  function alertText(alert) {
    const quantity = alert.quantity ? LM.quantityName(alert.quantity) : "";
    switch (alert.kind) {
      case "offline": return t("alert_offline");
      case "dead_sensor": return t("alert_dead_sensor", { quantity });
      case "stuck": return t("alert_stuck", { quantity });
      case "persistent_flags": return t("alert_persistent_flags", { quantity });
      default: return alert.message;
    }
  }

  function alerts(info) {
    const section = document.getElementById("kit-alerts");
    const list = section.querySelector("ul");
    list.replaceChildren(...(info.alerts || []).map((alert) => el("li", { "data-kind": alert.kind, title: alert.message },
      `${alertText(alert)} (`,
      el("time", { datetime: alert.since }, t("alert_since", { time: LM.time(alert.since) })),
      ")",
    )));
    section.hidden = !list.children.length;
  }

  function facts(info) {
    document.getElementById("kit-name").textContent = info.name ? `${info.name} (${info.node})` : info.node;
    document.title = `${info.name || info.node} · ${t("site_name")}`;
    if (info.description) {
      const description = document.getElementById("kit-description");
      description.textContent = info.description;
      description.hidden = false;
    }
    const online = document.getElementById("kit-online");
    online.replaceChildren(el("span", { class: info.online ? "online" : "offline" }, t(info.online ? "online" : "offline")));
    document.getElementById("kit-last").replaceChildren(el("time", { datetime: info.last_reading }, LM.time(info.last_reading)));
    document.getElementById("kit-sensors").textContent = info.sensors.length ? info.sensors.join(", ") : "–";
    const where = document.getElementById("kit-location");
    if (!info.location) {
      where.textContent = t("kit_location_none");
    } else {
      const { latitude, longitude, exactness } = info.location;
      const decimals = Number((exactness.match(/rounded-(\d+)dp/) || [])[1]);
      const how = exactness === "exact"
        ? t("kit_location_exact")
        : t("kit_location_rounded", { decimals, metres: Math.round(111320 / 10 ** decimals) });
      where.textContent = `${latitude}, ${longitude} — ${how}`;
    }
    document.getElementById("kit-interval").textContent = t("kit_interval_value", { seconds: LM.number(info.interval_s) });
    document.getElementById("kit-readings").textContent = LM.number(info.readings);
    document.getElementById("kit-facts").hidden = false;
    alerts(info);
  }

  function latestTable(entries) {
    const tbody = document.querySelector("#latest tbody");
    tbody.replaceChildren();
    const values = entries.length ? entries[0].values : {};
    for (const [quantity, v] of Object.entries(values)) {
      const scale = LM.scaleOf(quantity);
      tbody.append(el("tr", { "data-quantity": quantity },
        el("th", { scope: "row" }, LM.quantityName(quantity)),
        el("td", { class: "num" }, `${LM.number(v.value)} ${v.unit}`),
        el("td", {}, scale ? LM.bandBadge(LM.bandOf(scale, v.value)) : "–"),
        el("td", {}, el("time", { datetime: v.time }, LM.time(v.time))),
        el("td", {}, v.sensor || "–"),
      ));
    }
  }

  /** Round numbers for an axis: about ``count`` ticks between lo and hi. */
  function ticks(lo, hi, count) {
    const span = hi - lo || Math.abs(hi) || 1;
    const raw = span / count;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
    const first = Math.ceil(lo / step) * step;
    const out = [];
    for (let v = first; v <= hi + step / 1e6; v += step) out.push(Number(v.toFixed(10)));
    return out;
  }

  function svgNode(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
    return node;
  }

  function timeTick(seconds) {
    const date = new Date(seconds * 1000);
    const options = state.range === "hour" || state.range === "day"
      ? { hour: "2-digit", minute: "2-digit" }
      : { day: "numeric", month: "short" };
    return date.toLocaleString(config.lang === "nl" ? "nl-NL" : "en-GB", options);
  }

  /**
   * One chart: points = [{t: epoch s, v: value, valid: bool, title: text}], hand-drawn SVG.
   */
  function chart(quantity, points, p, labelText) {
    const width = 640, height = 220, left = 52, right = 12, top = 12, bottom = 30;
    const values = points.map((pt) => pt.v);
    let lo = Math.min(...values), hi = Math.max(...values);
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const x = (s) => left + ((s - p.from) / (p.to - p.from)) * (width - left - right);
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom);
    const svg = svgNode("svg", {
      viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": labelText,
      "data-quantity": quantity, "data-points": points.length,
    });
    const axes = svgNode("g", { class: "axes", "aria-hidden": "true" });
    for (const v of ticks(lo, hi, 4)) {
      axes.append(svgNode("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
      const text = svgNode("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" });
      text.textContent = LM.number(v);
      axes.append(text);
    }
    const spanHours = (p.to - p.from) / 3600;
    const stepHours = [0.25, 1, 3, 6, 24, 48, 96, 168].find((h) => spanHours / h <= 6) || 168;
    const step = stepHours * 3600;
    for (let s = Math.ceil(p.from / step) * step; s <= p.to; s += step) {
      const text = svgNode("text", { x: x(s), y: height - 8, "text-anchor": "middle" });
      text.textContent = timeTick(s);
      axes.append(text);
    }
    svg.append(axes);
    // The line breaks where readings are missing: longer than three usual steps.
    const steps = points.slice(1).map((pt, i) => pt.t - points[i].t).sort((a, b) => a - b);
    const gap = 3 * (steps[Math.floor(steps.length / 2)] || 3600);
    const line = points.map((pt, i) => {
      const move = i === 0 || pt.t - points[i - 1].t > gap;
      return `${move ? "M" : "L"}${x(pt.t).toFixed(1)},${y(pt.v).toFixed(1)}`;
    }).join("");
    svg.append(svgNode("path", { d: line, class: "line" }));
    const dots = svgNode("g", { class: "points" });
    const radius = points.length > 400 ? 1.5 : 3;
    // Past MAX_DOTS (a month of raw readings) the line alone shows them: a phone stays quick.
    for (const pt of points.length <= MAX_DOTS ? points : []) {
      const dot = svgNode("circle", {
        cx: x(pt.t).toFixed(1), cy: y(pt.v).toFixed(1), r: pt.valid ? radius : radius + 1,
        class: pt.valid ? "point" : "point invalid",
      });
      const title = svgNode("title", {});
      title.textContent = pt.title;
      dot.append(title);
      dots.append(dot);
    }
    svg.append(dots);
    return svg;
  }

  function figure(quantity, content) {
    const unit = units[quantity] || "";
    return el("figure", { class: "chart-figure", "data-quantity": quantity },
      el("figcaption", {}, `${LM.quantityName(quantity)} (${unit})`), content);
  }

  function extremes(points) {
    const values = points.map((pt) => pt.v);
    return { min: LM.number(Math.min(...values)), max: LM.number(Math.max(...values)) };
  }

  function rawCharts(rows, p) {
    const byQuantity = new Map();
    for (const r of rows) {
      units[r.quantity] = r.unit;
      if (!byQuantity.has(r.quantity)) byQuantity.set(r.quantity, []);
      byQuantity.get(r.quantity).push({
        t: Date.parse(r.time) / 1000, v: r.value, valid: true,
        title: `${LM.time(r.time)}: ${LM.number(r.value)} ${r.unit}`,
      });
    }
    return byQuantity;
  }

  function hourlyCharts(rows) {
    const byQuantity = new Map();
    for (const a of rows) {
      // No value: a percentile level (LAF10, LAF90 have no hourly value) or an hour whose
      // readings were all left out for their flags.
      if (a.value === null) continue;
      units[a.quantity] = a.unit;
      if (!byQuantity.has(a.quantity)) byQuantity.set(a.quantity, []);
      const start = Date.parse(a.start) / 1000;
      byQuantity.get(a.quantity).push({
        t: start + 1800, v: a.value, valid: a.valid,
        title: t("point_hourly", {
          time: LM.time(a.start), mean: `${LM.number(a.value)} ${a.unit}`, min: LM.number(a.min),
          max: LM.number(a.max), coverage: Math.round(a.coverage * 100),
        }),
      });
    }
    return byQuantity;
  }

  function setLink(id, href) {
    document.getElementById(id).href = href;
  }

  function downloads(p) {
    const hourly = state.mode === "hourly";
    setLink("download-csv", `/v1/export/readings.csv?${query(p)}`);
    // Excel reads a CSV as UTF-8 only after a byte-order mark: without it the units are garbled.
    setLink("download-csv-semicolon", `/v1/export/readings.csv?${query(p, { delimiter: "semicolon", bom: "true" })}`);
    document.getElementById("download-csv").textContent = t(hourly ? "download_csv_hourly" : "download_csv");
    const json = document.getElementById("download-json");
    json.href = hourly ? `/v1/aggregates?${query(p, { window: "1h" })}` : `/v1/readings?${query(p)}`;
    json.textContent = t(hourly ? "download_json_hourly" : "download_json_raw");
    setLink("download-geojson", `/v1/export/nodes.geojson?node=${enc}`);
  }

  async function drawCharts() {
    const p = period();
    const box = document.getElementById("charts");
    document.body.dataset.charts = "loading";
    box.setAttribute("aria-busy", "true");
    document.getElementById("period").textContent = t("period_shown", { from: LM.time(iso(p.from)), to: LM.time(iso(p.to)) });
    document.getElementById("hourly-note").hidden = state.mode !== "hourly";
    downloads(p);
    try {
      const byQuantity = state.mode === "hourly"
        ? hourlyCharts((await LM.getJSON(`/v1/aggregates?${query(p, { window: "1h" })}`)).value)
        : rawCharts(await readings(p), p);
      box.replaceChildren();
      if (byQuantity.size === 0) box.append(el("p", { class: "empty" }, t("chart_empty")));
      for (const [quantity, points] of byQuantity) {
        points.sort((a, b) => a.t - b.t);
        const { min, max } = extremes(points);
        const words = { quantity: LM.quantityName(quantity), count: points.length, from: LM.time(iso(p.from)), to: LM.time(iso(p.to)), min, max, unit: units[quantity] };
        const text = state.mode === "hourly"
          ? t("chart_hourly_label", { ...words, invalid: points.filter((pt) => !pt.valid).length })
          : t("chart_raw_label", words);
        box.append(figure(quantity, chart(quantity, points, p, text)));
      }
      document.body.dataset.charts = "ready";
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, t("error_api", { message: error.message })));
      document.body.dataset.charts = "error";
    }
    box.removeAttribute("aria-busy");
  }

  function syncForm() {
    for (const input of form.querySelectorAll("input")) input.checked = state[input.name] === input.value;
  }

  form.addEventListener("change", (event) => {
    state[event.target.name] = event.target.value;
    const url = new URL(window.location.href);
    url.searchParams.set("range", state.range);
    url.searchParams.set("mode", state.mode);
    window.history.replaceState(null, "", url);
    LM.syncLanguageSwitch();
    drawCharts();
  });

  async function load() {
    syncForm();
    LM.syncLanguageSwitch();
    try {
      const [info, latest, quantities] = await Promise.all([
        LM.getJSON(`/v1/nodes/${enc}`),
        LM.getJSON(`/v1/latest?node=${enc}`),
        LM.getJSON("/v1/quantities"),
      ]);
      units = Object.fromEntries(quantities.value.map((q) => [q.name, q.unit]));
      facts(info);
      latestTable(latest.value);
      LM.status("");
    } catch (error) {
      const message = error.status === 404 ? t("kit_not_found", { node }) : t("error_api", { message: error.message });
      LM.status(message, true);
      document.body.dataset.ready = "error";
      return;
    }
    await drawCharts();
    document.body.dataset.ready = "true";
  }

  load();
})();
