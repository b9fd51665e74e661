// A kit's page: facts from /v1/nodes/{node}, latest values from /v1/latest, and a chart per
// quantity from /v1/readings (raw) or /v1/aggregates (hourly means with coverage).
"use strict";

(() => {
  const { config, t, el } = LM;
  const node = config.node;
  const enc = encodeURIComponent(node);
  const RANGES = { hour: 3600, day: 86400, week: 7 * 86400, month: 30 * 86400 };
  const form = document.getElementById("chart-options");
  const params = new URL(window.location.href).searchParams;
  const state = {
    range: params.get("range") in RANGES ? params.get("range") : "day",
    mode: params.get("mode") === "hourly" ? "hourly" : "raw",
  };
  let units = {};
  let drawn = null;  // {byQuantity, p}: what the charts show, kept to redraw at a new width

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
    return LM.allPages(`/v1/readings?${query(p)}`);
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
    LM.labelCells(tbody.closest("table"));
  }

  function figure(quantity) {
    const unit = units[quantity] || "";
    return el("figure", { class: "chart-figure", "data-quantity": quantity },
      el("figcaption", {}, `${LM.quantityName(quantity)} (${unit})`));
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

  /** The <iframe> another site pastes to show this kit's chart (docs/web.md, "Embed"). */
  function embedSnippet() {
    const src = `${window.location.origin}/embed/kits/${enc}?lang=${config.lang}`;
    const title = `${t("kit_title")} ${node}`.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
    document.getElementById("embed-snippet").textContent =
      `<iframe src="${src}" title="${title}" width="100%" height="340" style="border: 0" loading="lazy"></iframe>`;
    const button = document.getElementById("embed-copy");
    button.addEventListener("click", () => LM.copy(document.getElementById("embed-snippet")));
  }

  async function drawCharts() {
    const p = period();
    const box = document.getElementById("charts");
    document.body.dataset.charts = "loading";
    box.setAttribute("aria-busy", "true");
    // Never a blank chart area: it says it is loading until the charts or a message replace it.
    box.replaceChildren(el("p", { class: "note loading" }, t("loading")));
    document.getElementById("period").textContent = t("period_shown", { from: LM.time(iso(p.from)), to: LM.time(iso(p.to)) });
    document.getElementById("hourly-note").hidden = state.mode !== "hourly";
    downloads(p);
    try {
      const byQuantity = state.mode === "hourly"
        ? hourlyCharts((await LM.getJSON(`/v1/aggregates?${query(p, { window: "1h" })}`)).value)
        : rawCharts(await readings(p), p);
      drawn = { byQuantity, p };
      render();
      document.body.dataset.charts = "ready";
    } catch (error) {
      drawn = null;
      box.replaceChildren(el("p", { class: "error" }, t("error_chart", { message: error.message })));
      document.body.dataset.charts = "error";
    }
    box.removeAttribute("aria-busy");
  }

  /** The charts of what was fetched last, each as wide as its place on the page. */
  function render() {
    if (!drawn) return;
    const { byQuantity, p } = drawn;
    const box = document.getElementById("charts");
    box.replaceChildren();
    if (byQuantity.size === 0) box.append(el("p", { class: "empty" }, t("chart_empty")));
    for (const [quantity, points] of byQuantity) {
      points.sort((a, b) => a.t - b.t);
      const { min, max } = extremes(points);
      const words = { quantity: LM.quantityName(quantity), count: points.length, from: LM.time(iso(p.from)), to: LM.time(iso(p.to)), min, max, unit: units[quantity] };
      const text = state.mode === "hourly"
        ? t("chart_hourly_label", { ...words, invalid: points.filter((pt) => !pt.valid).length })
        : t("chart_raw_label", words);
      const place = figure(quantity);
      box.append(place);
      place.append(LMChart.draw(quantity, points, p, text, LMChart.widthOf(place)));
    }
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
    embedSnippet();
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
      // Nothing below can be drawn: say so where the charts would be, and offer no links
      // that lead nowhere.
      document.getElementById("charts").replaceChildren(el("p", { class: "error" }, message));
      document.querySelector("#latest tbody").replaceChildren(el("tr", {}, el("td", { colspan: 5 }, message)));
      document.getElementById("downloads-heading").closest("section").hidden = true;
      document.body.dataset.ready = "error";
      return;
    }
    await drawCharts();
    document.body.dataset.ready = "true";
  }

  LMChart.onResize(render);
  load();
})();
