// The map page: every kit from /v1/nodes, coloured by its latest value from /v1/latest, kept
// up to date by the live stream (/v1/stream; a poll of /v1/latest where the store keeps no
// change log), and a slider back through the last days' hourly means (/v1/aggregates).
"use strict";

(() => {
  const { config, t, el } = LM;
  const HISTORY_DAYS = 3;
  const POLL_S = config.live_poll_s;  // a poll of /v1/latest when the stream cannot be had
  const NODES_S = 60;  // how often the kits' online state is fetched again
  const PLAY_MS = 700;  // one hour of history per step while playing
  const select = document.getElementById("quantity");
  const tbody = document.querySelector("#kit-list tbody");
  const slider = document.getElementById("history-hour");
  const shown = document.getElementById("history-time");
  const play = document.getElementById("history-play");
  const toNow = document.getElementById("history-live");
  const stored = window.localStorage.getItem("lm-quantity");
  const asked = new URL(window.location.href).searchParams.get("q");
  const choices = config.scales.map((scale) => scale.quantity);
  let quantity = [asked, stored].find((q) => choices.includes(q)) || choices[0];
  let nodes = [];
  let latest = new Map();  // node -> {quantity: {value, unit, time}}
  let hours = [];  // hour starts (epoch s) of the history, oldest first
  let history = new Map();  // hour start -> Map(node -> {value, unit})
  let hour = null;  // the hour shown; null: the latest readings
  let liveState = "connecting";  // how the page is kept up to date: stream, poll, ...
  let asOf = null;  // when the page last heard from the server (ms)
  let map = null;
  let markers = null;
  let redrawTimer = null;
  let playTimer = null;

  for (const q of choices) {
    select.append(el("option", { value: q, selected: q === quantity }, LM.quantityName(q)));
  }

  function startMap() {
    if (typeof L === "undefined") return null;
    const made = L.map("map", { zoomControl: true, attributionControl: true });
    if (config.tile_url) {
      const tiles = L.tileLayer(config.tile_url, {
        maxZoom: 19,
        attribution: config.tile_attribution,
      });
      tiles.on("tileerror", () => {
        document.getElementById("no-tiles").hidden = false;
      });
      tiles.addTo(made);
    } else {
      document.getElementById("no-tiles").hidden = false;
    }
    return made;
  }

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  function valueOf(node) {
    if (hour !== null) return (history.get(hour) || new Map()).get(node.node) || null;
    const values = latest.get(node.node);
    return values ? values[quantity] || null : null;
  }

  function label(node) {
    return node.name || node.node;
  }

  function valueText(value) {
    return value ? `${LM.number(value.value)} ${value.unit}` : t("legend_no_value");
  }

  function kitHref(node) {
    return `/kits/${encodeURIComponent(node.node)}`;
  }

  function drawLegend() {
    const scale = LM.scaleOf(quantity);
    const list = document.getElementById("legend-bands");
    const says = document.getElementById("band-says");
    list.replaceChildren();
    says.replaceChildren();
    for (const band of scale.bands) {
      const range = band.upper === null
        ? `≥ ${LM.number(band.lower)}`
        : `${LM.number(band.lower)}–${LM.number(band.upper)}`;
      list.append(el("li", {}, LM.bandBadge(band), el("span", { class: "range" }, ` ${range} ${scale.unit}`)));
      says.append(el("dt", {}, LM.bandBadge(band)), el("dd", { "data-band": band.key }, t(band.says)));
    }
    const none = el("li", {}, el("span", { class: "band" }, el("span", { class: "swatch none", "aria-hidden": "true" }), t("legend_no_value")));
    list.append(none, el("li", {}, el("span", { class: "band" }, el("span", { class: "swatch offline", "aria-hidden": "true" }), t("legend_offline"))));
    document.getElementById("legend-source").textContent = t(scale.source);
    document.getElementById("legend-guideline").textContent = scale.guideline ? t(scale.guideline) : "";
  }

  function hourText(start) {
    return t("history_hour", { from: LM.time(iso(start)), to: LM.time(iso(start + 3600)) });
  }

  function drawMarkers() {
    if (!map) return;
    if (markers) markers.remove();
    markers = L.layerGroup().addTo(map);
    const scale = LM.scaleOf(quantity);
    for (const node of nodes) {
      if (!node.location) continue;
      const value = valueOf(node);
      const band = value ? LM.bandOf(scale, value.value) : null;
      // The marker's name starts from what it shows (the rounded value), as a screen reader
      // user and someone who says what they see must be able to name the same button.
      const rounded = value ? String(Math.round(value.value)) : "–";
      const dot = el("span", { class: `dot${node.online ? "" : " offline"}` }, rounded);
      dot.style.background = band ? band.colour : "#ffffff";
      dot.style.color = band ? band.ink : "#000000";
      const icon = L.divIcon({ className: "kit-marker", html: dot.outerHTML, iconSize: [34, 34] });
      const words = { name: label(node), value: value ? `${rounded} ${value.unit}` : "", band: band ? t(band.key) : "" };
      const text = !value
        ? t("marker_label_none", { name: label(node) })
        : hour === null ? t("marker_label", words) : t("marker_label_hour", { ...words, time: LM.time(iso(hour)) });
      const marker = L.marker([node.location.latitude, node.location.longitude], {
        icon,
        keyboard: true,
        title: text,
        riseOnHover: true,
      });
      marker.bindTooltip(`${label(node)}: ${valueText(value)}`);
      marker.on("click", () => { window.location.href = kitHref(node); });
      marker.addTo(markers);
      const element = marker.getElement();
      element.setAttribute("aria-label", text);
      element.dataset.node = node.node;
      element.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          window.location.href = kitHref(node);
        }
      });
    }
  }

  function fitMap() {
    if (!map) return;
    const located = nodes.filter((node) => node.location);
    if (located.length === 0) {
      map.setView([52.1, 5.3], 7);  // the Netherlands
    } else if (located.length === 1) {
      map.setView([located[0].location.latitude, located[0].location.longitude], 14);
    } else {
      // Where the legend lies on the map, no kit is placed under it.
      const legend = document.querySelector(".map-box .legend");
      const over = getComputedStyle(legend).position === "absolute" ? legend.offsetWidth + 20 : 30;
      map.fitBounds(located.map((n) => [n.location.latitude, n.location.longitude]), {
        paddingTopLeft: [30, 30], paddingBottomRight: [over, 30], maxZoom: 15,
      });
    }
  }

  function drawList() {
    tbody.replaceChildren();
    if (nodes.length === 0) {
      tbody.append(el("tr", {}, el("td", { colspan: 5 }, t("list_empty"))));
      return;
    }
    const scale = LM.scaleOf(quantity);
    for (const node of nodes) {
      const value = valueOf(node);
      const name = el("a", { href: kitHref(node) }, label(node));
      const cell = el("td", {}, name);
      if (!node.location) cell.append(el("span", { class: "muted" }, ` (${t("list_no_location")})`));
      tbody.append(el("tr", { "data-node": node.node },
        cell,
        el("td", { class: "num" }, valueText(value)),
        el("td", {}, value ? LM.bandBadge(LM.bandOf(scale, value.value)) : ""),
        el("td", {}, el("span", { class: node.online ? "online" : "offline" }, t(node.online ? "online" : "offline"))),
        el("td", {}, el("time", { datetime: node.last_reading }, LM.time(node.last_reading))),
      ));
    }
    LM.labelCells(tbody.closest("table"));
  }

  function summary() {
    const located = nodes.filter((node) => node.location).length;
    if (hour !== null) {
      const kits = (history.get(hour) || new Map()).size;
      LM.status(t("map_history_shown", { from: LM.time(iso(hour)), to: LM.time(iso(hour + 3600)), kits }));
      return;
    }
    const time = asOf ? LM.time(new Date(asOf).toISOString()) : "–";
    LM.status(t("map_as_of", { kits: nodes.length, located, time, how: LM.liveWords(liveState, POLL_S) }));
    document.body.dataset.live = liveState;
  }

  function draw() {
    drawLegend();
    drawMarkers();
    drawList();
    summary();
  }

  /** Redraw at most twice a second, however many readings arrive. */
  function redrawSoon() {
    if (redrawTimer) return;
    redrawTimer = setTimeout(() => {
      redrawTimer = null;
      drawMarkers();
      drawList();
      summary();
    }, 500);
  }

  async function fetchNodes() {
    const list = await LM.getJSON("/v1/nodes");
    const before = nodes.length;
    nodes = list.value.slice().sort((a, b) => label(a).localeCompare(label(b), config.lang));
    return nodes.length !== before;
  }

  async function fetchLatest() {
    const list = await LM.getJSON("/v1/latest");
    latest = new Map(list.value.map((entry) => [entry.node, entry.values]));
    asOf = Date.now();
  }

  // --- live: the stream, or a poll where there is none ---------------------------------------

  let unknownTimer = null;

  /** A reading from a kit the page does not know yet (a new kit, or the first one after the
   *  demo started): fetch the kits again, once for a burst of them. */
  function learnNodes() {
    if (unknownTimer) return;
    unknownTimer = setTimeout(async () => {
      unknownTimer = null;
      try {
        if (await fetchNodes()) fitMap();
        redrawSoon();
      } catch (ignored) {
        // the next reading or the periodic fetch tries again
      }
    }, 1000);
  }

  function take(reading) {
    const values = latest.get(reading.node) || {};
    const known = values[reading.quantity];
    if (!known || Date.parse(known.time) <= Date.parse(reading.time)) {
      values[reading.quantity] = { value: reading.value, unit: reading.unit, time: reading.time, sensor: reading.sensor };
      latest.set(reading.node, values);
    }
    const node = nodes.find((n) => n.node === reading.node);
    if (!node) {
      learnNodes();
    } else {
      node.online = true;
      if (!node.last_reading || Date.parse(node.last_reading) < Date.parse(reading.time)) node.last_reading = reading.time;
    }
    asOf = Date.now();
    redrawSoon();
  }

  function live() {
    LM.live("/v1/stream", {
      onReading: take,
      pollSeconds: POLL_S,
      poll: async () => {
        try {
          await fetchLatest();
          redrawSoon();
        } catch (ignored) {
          // shown as an older "as of" time until the next poll answers
        }
      },
      onState: (state) => {
        liveState = state;
        if (state === "stream") asOf = Date.now();
        summary();
      },
    });
    // The kits' online state is the server's to judge (their intervals differ).
    setInterval(async () => {
      try {
        await fetchNodes();
        redrawSoon();
      } catch (ignored) {
        // tried again at the next period
      }
    }, NODES_S * 1000);
  }

  // --- history: the last days' hourly means ---------------------------------------------------

  function showHour(index) {
    hour = index >= hours.length ? null : hours[index];
    slider.value = String(index);
    const text = hour === null ? t("history_now") : hourText(hour);
    shown.textContent = text;
    slider.setAttribute("aria-valuetext", text);
    toNow.disabled = hour === null;
    drawMarkers();
    drawList();
    summary();
  }

  function stopPlaying() {
    clearInterval(playTimer);
    playTimer = null;
    play.textContent = t("history_play");
    play.setAttribute("aria-pressed", "false");
  }

  function startPlaying() {
    let index = Number(slider.value);
    if (index >= hours.length) index = -1;
    play.textContent = t("history_pause");
    play.setAttribute("aria-pressed", "true");
    playTimer = setInterval(() => {
      index += 1;
      showHour(index);
      if (index >= hours.length) stopPlaying();
    }, PLAY_MS);
  }

  async function loadHistory() {
    const hint = document.getElementById("history-hint");
    stopPlaying();
    slider.disabled = play.disabled = true;
    const end = Math.floor(Date.now() / 3600000) * 3600;
    const start = end - HISTORY_DAYS * 86400;
    try {
      const search = new URLSearchParams({ quantity, window: "1h", from: iso(start), to: iso(end) });
      const answer = await LM.getJSON(`/v1/aggregates?${search}`);
      history = new Map();
      for (const a of answer.value) {
        if (a.value === null) continue;
        const at = Date.parse(a.start) / 1000;
        if (!history.has(at)) history.set(at, new Map());
        history.get(at).set(a.node, { value: a.value, unit: a.unit });
      }
      hours = [...history.keys()].sort((a, b) => a - b);
      hint.textContent = hours.length ? t("history_hint", { days: HISTORY_DAYS }) : t("history_none");
    } catch (error) {
      history = new Map();
      hours = [];
      hint.textContent = t("history_error", { message: error.message });
    }
    slider.max = String(hours.length);
    slider.disabled = play.disabled = hours.length === 0;
    showHour(hours.length);
    document.body.dataset.history = String(hours.length);
  }

  slider.addEventListener("input", () => {
    stopPlaying();
    showHour(Number(slider.value));
  });
  play.addEventListener("click", () => (playTimer ? stopPlaying() : startPlaying()));
  toNow.addEventListener("click", () => {
    stopPlaying();
    showHour(hours.length);
  });

  select.addEventListener("change", () => {
    quantity = select.value;
    window.localStorage.setItem("lm-quantity", quantity);
    const url = new URL(window.location.href);
    url.searchParams.set("q", quantity);
    window.history.replaceState(null, "", url);
    LM.syncLanguageSwitch();
    hour = null;
    draw();
    loadHistory();
  });

  async function load() {
    map = startMap();
    try {
      await Promise.all([fetchNodes(), fetchLatest()]);
      fitMap();
      draw();
      document.body.dataset.ready = "true";
    } catch (error) {
      const message = t("error_api", { message: error.message });
      LM.status(message, true);
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, message)));
      drawLegend();
      document.body.dataset.ready = "error";
      return;
    }
    live();
    loadHistory();
  }

  LM.syncLanguageSwitch();
  load();
})();
