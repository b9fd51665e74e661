// The compare page: two to five kits (and a reference station) on one chart, from one
// /v1/aggregates request for all of them; the links download the same windows. The choice
// is kept in the address (node, quantity, from, to, station) so it can be shared.
"use strict";

(() => {
  const { config, t, el } = LM;
  const MIN_KITS = 2, MAX_KITS = 5;
  const HOURLY_UP_TO_DAYS = 31;
  const DAY = 86400;
  const form = document.getElementById("compare-options");
  const choices = form.querySelector(".kit-choices");
  const quantitySelect = document.getElementById("compare-quantity");
  const fromInput = document.getElementById("compare-from");
  const toInput = document.getElementById("compare-to");
  const stationChoice = document.getElementById("compare-station-choice");
  const stationSelect = document.getElementById("compare-station");
  const box = document.getElementById("compare-chart");
  const limitLine = document.getElementById("compare-limit");
  let kits = [];       // /v1/nodes' value
  let units = {};      // quantity -> unit
  let aggregations = {};  // quantity -> its method (mean, ..., none)
  let stations = [];   // /v1/reference/stations' value
  let drawn = null;    // what the chart shows, kept to redraw at a new width
  let asked = 0;       // the newest drawing asked for: an older answer is dropped

  function day(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 10);
  }

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  /** The state the address holds, before the lists are known. */
  function fromAddress() {
    const params = new URL(window.location.href).searchParams;
    const today = Math.floor(Date.now() / 1000 / DAY) * DAY;
    const date = (text) => (/^\d{4}-\d{2}-\d{2}$/.test(text || "") && !Number.isNaN(Date.parse(text)) ? text : null);
    return {
      nodes: params.getAll("node").flatMap((n) => n.split(",")).filter(Boolean),
      quantity: params.get("quantity") || "pm25",
      from: date(params.get("from")) || day(today - 6 * DAY),
      to: date(params.get("to")) || day(today),
      station: params.get("station") || "",
    };
  }

  const state = fromAddress();

  function toAddress() {
    const url = new URL(window.location.href);
    for (const name of ["node", "quantity", "from", "to", "station"]) url.searchParams.delete(name);
    for (const node of state.nodes) url.searchParams.append("node", node);
    url.searchParams.set("quantity", state.quantity);
    url.searchParams.set("from", state.from);
    url.searchParams.set("to", state.to);
    if (shownStation()) url.searchParams.set("station", state.station);
    window.history.replaceState(null, "", url);
    LM.syncLanguageSwitch();
  }

  function kitName(node) {
    const kit = kits.find((k) => k.node === node);
    return kit && kit.name ? `${kit.name} (${node})` : node;
  }

  /** The period asked: whole UTC days from the start of ``from`` to the end of ``to``. */
  function period() {
    const from = Date.parse(`${state.from}T00:00:00Z`) / 1000;
    const to = Date.parse(`${state.to}T00:00:00Z`) / 1000 + DAY;
    const days = (to - from) / DAY;
    const window = days <= HOURLY_UP_TO_DAYS ? "1h" : "1d";
    return { from, to, days, window, step: window === "1h" ? 3600 : DAY };
  }

  function aggregateQuery(p) {
    const search = new URLSearchParams();
    for (const node of state.nodes) search.append("node", node);
    search.set("quantity", state.quantity);
    search.set("window", p.window);
    search.set("from", iso(p.from));
    search.set("to", iso(p.to));
    return search;
  }

  function stationsOf(quantity) {
    return stations.filter((s) => s.quantity === quantity);
  }

  /** The station drawn: the one chosen, if it has imported values of the quantity. */
  function shownStation() {
    return stationsOf(state.quantity).find((s) => s.station === state.station) || null;
  }

  function referenceQuery(p) {
    return new URLSearchParams({ station: state.station, quantity: state.quantity, from: iso(p.from), to: iso(p.to) });
  }

  function kitList() {
    choices.replaceChildren(...kits.map((kit) => el("label", { class: "kit-choice" },
      el("input", { type: "checkbox", name: "node", value: kit.node, checked: state.nodes.includes(kit.node) }),
      ` ${kitName(kit.node)}`)));
    if (!kits.length) choices.append(el("p", { class: "empty" }, t("compare_no_kits")));
  }

  function quantityList() {
    const measured = new Set(kits.flatMap((k) => k.quantities));
    // A percentile level has no hourly or daily value (method none): nothing to draw.
    const names = Object.keys(units).filter((q) => measured.has(q) && aggregations[q] !== "none");
    if (!names.includes(state.quantity) && names.length) state.quantity = names[0];
    quantitySelect.replaceChildren(...names.map((q) => el("option", { value: q, selected: q === state.quantity }, LM.quantityName(q))));
  }

  function stationList() {
    const offered = stationsOf(state.quantity);
    stationChoice.hidden = !offered.length;
    stationSelect.replaceChildren(
      el("option", { value: "" }, t("compare_station_none")),
      ...offered.map((s) => el("option", { value: s.station, selected: s.station === state.station },
        s.name ? `${s.station} ${s.name}` : s.station)),
    );
    if (!shownStation()) stationSelect.value = "";
  }

  function syncForm() {
    fromInput.value = state.from;
    toInput.value = state.to;
    fromInput.max = state.to;
    toInput.min = state.from;
    stationList();
  }

  function setLinks(p) {
    const search = aggregateQuery(p);
    document.getElementById("compare-csv").href = `/v1/export/aggregates.csv?${search}`;
    const excel = new URLSearchParams(search);
    // Excel reads a CSV as UTF-8 only after a byte-order mark: without it the units are garbled.
    excel.set("delimiter", "semicolon");
    excel.set("bom", "true");
    document.getElementById("compare-csv-semicolon").href = `/v1/export/aggregates.csv?${excel}`;
    document.getElementById("compare-json").href = `/v1/aggregates?${search}`;
    const station = shownStation();
    document.getElementById("compare-reference-item").hidden = !station;
    if (station) document.getElementById("compare-reference-csv").href = `/v1/export/reference.csv?${referenceQuery(p)}`;
    document.getElementById("compare-downloads").hidden = false;
  }

  function message(kind, text) {
    drawn = null;
    box.replaceChildren(el("p", { class: kind === "error" ? "error" : "empty" }, text));
    document.body.dataset.chart = kind;
  }

  function summaryOf(one) {
    if (!one.points.length) return `${one.name}: ${t("compare_series_empty")}`;
    const values = one.points.map((pt) => pt.v);
    return t("compare_series_summary", {
      name: one.name, count: one.points.length,
      min: LM.number(Math.min(...values)), max: LM.number(Math.max(...values)),
    });
  }

  /** The chart and its legend of what was fetched last, as wide as the page gives it. */
  function render() {
    if (!drawn) return;
    const { series, p } = drawn;
    const unit = units[state.quantity] || "";
    const words = {
      quantity: LM.quantityName(state.quantity), unit,
      from: LM.time(iso(p.from)), to: LM.time(iso(p.to)),
      series: series.map(summaryOf).join("; "),
    };
    const figure = el("figure", { class: "chart-figure", "data-quantity": state.quantity },
      el("figcaption", {}, `${LM.quantityName(state.quantity)} (${unit})`));
    box.replaceChildren(figure);
    const drawable = series.filter((s) => s.points.length);
    figure.append(LMSeriesChart.draw(state.quantity, drawable, p, t("compare_chart_label", words), LMChart.widthOf(figure)));
    const legend = el("ul", { class: "series-legend", "aria-label": t("compare_legend_label") });
    for (const one of series) {
      const note = one.points.length ? (one.reference ? ` — ${t("compare_station_hourly")}` : "") : ` — ${t("compare_series_empty")}`;
      legend.append(el("li", { "data-key": one.key, class: one.points.length ? null : "missing" },
        LMSeriesChart.legendSample(one.style), el("span", {}, one.name, note)));
    }
    figure.append(legend);
  }

  function points(rows, step) {
    return rows.filter((r) => r.value !== null).map((r) => {
      const start = Date.parse(r.start) / 1000;
      return {
        t: start + step / 2, v: r.value,
        // A kit's window says how complete it is, as the CSV does; a station's hour has no count.
        title: r.coverage === undefined
          ? `${LM.time(r.start)}: ${LM.number(r.value)} ${r.unit}`
          : t("compare_point", { time: LM.time(r.start), value: `${LM.number(r.value)} ${r.unit}`, coverage: Math.round(r.coverage * 100) }),
      };
    }).sort((a, b) => a.t - b.t);
  }

  async function drawChart() {
    const mine = ++asked;
    toAddress();
    limitLine.textContent = "";
    const p = period();
    const periodLine = document.getElementById("compare-period");
    if (state.nodes.length < MIN_KITS) {
      periodLine.textContent = "";
      document.getElementById("compare-downloads").hidden = true;
      return message("few", t("compare_too_few"));
    }
    if (!(p.to > p.from)) {
      periodLine.textContent = "";
      document.getElementById("compare-downloads").hidden = true;
      return message("range", t("compare_bad_range"));
    }
    if (p.days > config.max_range_days) {
      periodLine.textContent = "";
      document.getElementById("compare-downloads").hidden = true;
      return message("range", t("compare_too_long", { days: config.max_range_days }));
    }
    periodLine.textContent = t(p.window === "1h" ? "compare_period_hourly" : "compare_period_daily", {
      from: LM.time(iso(p.from)), to: LM.time(iso(p.to)),
    });
    setLinks(p);
    document.body.dataset.chart = "loading";
    box.setAttribute("aria-busy", "true");
    box.replaceChildren(el("p", { class: "note loading" }, t("loading")));
    const station = shownStation();
    try {
      const [aggregates, reference] = await Promise.all([
        LM.getJSON(`/v1/aggregates?${aggregateQuery(p)}`),
        station ? LM.getJSON(`/v1/reference?${referenceQuery(p)}`) : null,
      ]);
      if (mine !== asked) return;
      const series = state.nodes.map((node, i) => ({
        key: node, name: kitName(node), style: LMSeriesChart.style(i), step: p.step,
        points: points(aggregates.value.filter((a) => a.node === node), p.step),
      }));
      if (reference) {
        series.push({
          key: `reference:${station.station}`, reference: true, step: 3600, style: LMSeriesChart.REFERENCE_STYLE,
          name: `${t("compare_station_label", { station: station.station })}${station.name ? ` (${station.name})` : ""}`,
          points: points(reference.value.map((h) => ({ ...h, unit: reference.unit })), 3600),
        });
      }
      if (!series.some((s) => s.points.length)) {
        message("empty", t("compare_empty", { quantity: LM.quantityName(state.quantity) }));
      } else {
        drawn = { series, p };
        render();
        document.body.dataset.chart = "ready";
      }
    } catch (error) {
      if (mine !== asked) return;
      message("error", t("compare_error", { message: error.message }));
    }
    box.removeAttribute("aria-busy");
  }

  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.name === "node") {
      const ticked = [...choices.querySelectorAll("input:checked")].map((input) => input.value);
      if (ticked.length > MAX_KITS) {
        target.checked = false;
        limitLine.textContent = t("compare_limit", { kit: kitName(target.value) });
        return;
      }
      // In the order of the list whatever the order of ticking: the address, the lines and
      // the CSV link name the kits in one order.
      state.nodes = kits.map((k) => k.node).filter((n) => ticked.includes(n));
    } else if (target === quantitySelect) {
      state.quantity = target.value;
      stationList();
    } else if (target === stationSelect) {
      state.station = target.value;
    } else if (target === fromInput || target === toInput) {
      if (!target.value) return;  // a date half typed: wait for the whole of it
      state[target.name] = target.value;
      fromInput.max = state.to;
      toInput.min = state.from;
    }
    drawChart();
  });
  form.addEventListener("submit", (event) => event.preventDefault());

  async function load() {
    let stationsError = null;
    LM.syncLanguageSwitch();
    try {
      const [nodes, quantities, reference] = await Promise.all([
        LM.getJSON("/v1/nodes"), LM.getJSON("/v1/quantities"),
        // Kits can be compared without the stations: a book that cannot be read costs the
        // reference line only, and the page says so.
        LM.getJSON("/v1/reference/stations").catch((error) => ({ value: [], error })),
      ]);
      kits = nodes.value;
      units = Object.fromEntries(quantities.value.map((q) => [q.name, q.unit]));
      aggregations = Object.fromEntries(quantities.value.map((q) => [q.name, q.aggregation]));
      stations = reference.value;
      stationsError = reference.error || null;
    } catch (error) {
      const text = t("error_api", { message: error.message });
      LM.status(text, true);
      message("error", text);
      document.body.dataset.ready = "error";
      return;
    }
    const known = new Set(kits.map((k) => k.node));
    state.nodes = kits.map((k) => k.node).filter((n) => state.nodes.includes(n)).slice(0, MAX_KITS);
    if (!new URL(window.location.href).searchParams.has("node")) state.nodes = [...known].slice(0, MIN_KITS);
    kitList();
    quantityList();
    syncForm();
    LM.status(stationsError ? t("compare_stations_error", { message: stationsError.message }) : "", Boolean(stationsError));
    await drawChart();
    document.body.dataset.ready = "true";
  }

  LMChart.onResize(render);
  load();
})();
