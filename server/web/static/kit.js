// A kit's page: facts from /v1/nodes/{node}, latest values from /v1/latest (kept up to date by
// the live stream, or a poll), and a chart per quantity from /v1/series (raw readings, one
// answer whatever the range) or /v1/aggregates (hourly or daily means with coverage).
"use strict";

(() => {
  const { config, t, el } = LM;
  const node = config.node;
  const enc = encodeURIComponent(node);
  const RANGES = { hour: 3600, day: 86400, week: 7 * 86400, month: 30 * 86400, year: 365 * 86400 };
  // "auto": the resolution the range reads best at, and loads quickly at on a phone.
  const AUTO = { hour: "raw", day: "raw", week: "raw", month: "hourly", year: "daily" };
  const MODES = ["auto", "raw", "hourly", "daily"];
  const WINDOWS = { hourly: "1h", daily: "1d" };
  const POLL_S = config.live_poll_s;  // a poll of /v1/latest when the stream is refused
  const form = document.getElementById("chart-options");
  const params = new URL(window.location.href).searchParams;
  const state = {
    range: params.get("range") in RANGES ? params.get("range") : "day",
    mode: MODES.includes(params.get("mode")) ? params.get("mode") : "auto",
  };
  let latestValues = {};  // quantity -> {value, unit, time, sensor}
  let units = {};
  let drawn = null;  // {byQuantity, p}: what the charts show, kept to redraw at a new width

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  /** The resolution drawn: the one asked for, or the range's own for "auto". */
  function resolution() {
    return state.mode === "auto" ? AUTO[state.range] : state.mode;
  }

  /** The period shown: whole minutes for raw readings, whole hours or days for means. */
  function period() {
    const now = Math.floor(Date.now() / 1000);
    const step = { raw: 60, hourly: 3600, daily: 86400 }[resolution()];
    const to = now - (now % step);
    return { from: to - RANGES[state.range], to };
  }

  function query(p, extra) {
    const search = new URLSearchParams({ node, from: iso(p.from), to: iso(p.to), ...(extra || {}) });
    return search.toString();
  }

  /** The raw readings of the period, every quantity, in one answer (/v1/series). */
  async function readings(p) {
    const answer = await LM.getJSON(`/v1/series?${query(p)}`);
    for (const one of answer.series) units[one.quantity] = one.unit;
    return new Map(answer.series.map((one) => [one.quantity, LMChart.seriesPoints(one)]));
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

  /** One sentence for a resident on what a value means: its band's, relating it to the WHO
   *  guideline or the EEA's advice; for noise, the WHO night guideline first. */
  function plainWords(quantity, value) {
    const scale = LM.scaleOf(quantity);
    if (!scale) return "";
    const band = t(LM.bandOf(scale, value).says);
    if (quantity !== "noise_laeq") return band;
    return `${t(value < 40 ? "says_night_below" : "says_night_above")} ${band}`;
  }

  function latestTable() {
    const tbody = document.querySelector("#latest tbody");
    tbody.replaceChildren();
    for (const [quantity, v] of Object.entries(latestValues)) {
      const scale = LM.scaleOf(quantity);
      tbody.append(el("tr", { "data-quantity": quantity },
        el("th", { scope: "row" }, LM.quantityName(quantity)),
        el("td", { class: "num" }, `${LM.number(v.value)} ${v.unit}`),
        el("td", {}, scale ? LM.bandBadge(LM.bandOf(scale, v.value)) : "–"),
        el("td", { class: "says" }, plainWords(quantity, v.value) || "–"),
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

  function meanCharts(rows, seconds) {
    const byQuantity = new Map();
    for (const a of rows) {
      // No value: a percentile level (LAF10, LAF90 have no hourly value) or an hour whose
      // readings were all left out for their flags.
      if (a.value === null) continue;
      units[a.quantity] = a.unit;
      if (!byQuantity.has(a.quantity)) byQuantity.set(a.quantity, []);
      const start = Date.parse(a.start) / 1000;
      byQuantity.get(a.quantity).push({
        t: start + seconds / 2, v: a.value, valid: a.valid,
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
    const means = resolution() !== "raw";
    const span = WINDOWS[resolution()];
    setLink("download-csv", `/v1/export/readings.csv?${query(p)}`);
    // Excel reads a CSV as UTF-8 only after a byte-order mark: without it the units are garbled.
    setLink("download-csv-semicolon", `/v1/export/readings.csv?${query(p, { delimiter: "semicolon", bom: "true" })}`);
    document.getElementById("download-csv").textContent = t(means ? "download_csv_hourly" : "download_csv");
    const meansCsv = document.getElementById("download-means-csv");
    meansCsv.closest("li").hidden = !means;
    if (means) {
      meansCsv.href = `/v1/export/aggregates.csv?${query(p, { window: span })}`;
      meansCsv.textContent = t(span === "1h" ? "download_means_hourly_csv" : "download_means_daily_csv");
    }
    const json = document.getElementById("download-json");
    json.href = means ? `/v1/aggregates?${query(p, { window: span })}` : `/v1/series?${query(p)}`;
    json.textContent = t(means ? (span === "1h" ? "download_json_hourly" : "download_json_daily") : "download_json_raw");
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
    const shown = resolution();
    const box = document.getElementById("charts");
    document.body.dataset.charts = "loading";
    box.setAttribute("aria-busy", "true");
    // Never a blank chart area: it says it is loading until the charts or a message replace it.
    box.replaceChildren(el("p", { class: "note loading" }, t("loading")));
    document.getElementById("period").textContent = t("period_shown", { from: LM.time(iso(p.from)), to: LM.time(iso(p.to)) });
    document.getElementById("resolution-note").textContent = state.mode === "auto"
      ? t("resolution_auto", { shown: t(`mode_${shown}`), range: t(`range_${state.range}`) })
      : "";
    document.getElementById("hourly-note").hidden = shown === "raw";
    downloads(p);
    try {
      const byQuantity = shown === "raw"
        ? await readings(p)
        : meanCharts((await LM.getJSON(`/v1/aggregates?${query(p, { window: WINDOWS[shown] })}`)).value, shown === "hourly" ? 3600 : 86400);
      drawn = { byQuantity, p, shown };
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
    const { byQuantity, p, shown } = drawn;
    const box = document.getElementById("charts");
    box.replaceChildren();
    if (byQuantity.size === 0) box.append(el("p", { class: "empty" }, t("chart_empty")));
    for (const [quantity, points] of byQuantity) {
      points.sort((a, b) => a.t - b.t);
      const { min, max } = extremes(points);
      const words = { quantity: LM.quantityName(quantity), count: points.length, from: LM.time(iso(p.from)), to: LM.time(iso(p.to)), min, max, unit: units[quantity] };
      const invalid = points.filter((pt) => !pt.valid).length;
      const text = shown === "raw"
        ? t("chart_raw_label", words)
        : t(shown === "hourly" ? "chart_hourly_label" : "chart_daily_label", { ...words, invalid });
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
      latestValues = latest.value.length ? latest.value[0].values : {};
      latestTable();
      asOf = Date.now();
      LM.status("");
    } catch (error) {
      const message = error.status === 404 ? t("kit_not_found", { node }) : t("error_api", { message: error.message });
      LM.status(message, true);
      // Nothing below can be drawn: say so where the charts would be, and offer no links
      // that lead nowhere.
      document.getElementById("charts").replaceChildren(el("p", { class: "error" }, message));
      document.querySelector("#latest tbody").replaceChildren(el("tr", {}, el("td", { colspan: 6 }, message)));
      document.getElementById("downloads-heading").closest("section").hidden = true;
      document.body.dataset.ready = "error";
      return;
    }
    await drawCharts();
    document.body.dataset.ready = "true";
    startLive();
  }

  // --- live: the latest values (and a raw chart of the last hour or day) as readings arrive --

  let asOf = null;
  let liveState = "connecting";
  let renderTimer = null;

  function liveLine() {
    const line = document.getElementById("kit-as-of");
    line.textContent = t("kit_as_of", { time: asOf ? LM.time(new Date(asOf).toISOString()) : "–", how: LM.liveWords(liveState, POLL_S) });
    document.body.dataset.live = liveState;
  }

  function take(reading) {
    const known = latestValues[reading.quantity];
    if (!known || Date.parse(known.time) <= Date.parse(reading.time)) {
      latestValues[reading.quantity] = { value: reading.value, unit: reading.unit, time: reading.time, sensor: reading.sensor };
    }
    asOf = Date.now();
    const online = document.getElementById("kit-online");
    online.replaceChildren(el("span", { class: "online" }, t("online")));
    document.getElementById("kit-last").replaceChildren(el("time", { datetime: reading.time }, LM.time(reading.time)));
    // A chart of raw readings that ends now grows with them; means wait for their hour.
    const moment = Date.parse(reading.time) / 1000;
    if (drawn && drawn.shown === "raw" && moment >= drawn.p.to - 120) {
      if (!drawn.byQuantity.has(reading.quantity)) drawn.byQuantity.set(reading.quantity, []);
      drawn.byQuantity.get(reading.quantity).push(LMChart.seriesPoints({
        time: [moment], value: [reading.value], unit: reading.unit, flagged: reading.flags.length ? [[0, reading.flags]] : [],
      })[0]);
      drawn.p = { ...drawn.p, to: Math.max(drawn.p.to, moment + 1) };
    }
    if (renderTimer) return;
    renderTimer = setTimeout(() => {
      renderTimer = null;
      latestTable();
      liveLine();
      if (drawn && drawn.shown === "raw") render();
    }, 1000);
  }

  function startLive() {
    liveLine();
    LM.live(`/v1/stream?node=${enc}`, {
      onReading: take,
      pollSeconds: POLL_S,
      poll: async () => {
        try {
          const latest = await LM.getJSON(`/v1/latest?node=${enc}`);
          if (latest.value.length) latestValues = latest.value[0].values;
          asOf = Date.now();
          latestTable();
          liveLine();
        } catch (ignored) {
          // the "as of" time stays, and tells how old the values are
        }
      },
      onState: (state) => {
        liveState = state;
        if (state === "stream") asOf = Date.now();
        liveLine();
      },
    });
    // Online or offline is the server's judgement (the kit's interval): asked once a minute.
    setInterval(async () => {
      try {
        facts(await LM.getJSON(`/v1/nodes/${enc}`));
      } catch (ignored) {
        // asked again in a minute
      }
    }, 60000);
  }

  LMChart.onResize(render);
  load();
})();
