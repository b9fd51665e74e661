// The map page: every kit from /v1/nodes, coloured by its latest value from /v1/latest.
"use strict";

(() => {
  const { config, t, el } = LM;
  const select = document.getElementById("quantity");
  const tbody = document.querySelector("#kit-list tbody");
  const stored = window.localStorage.getItem("lm-quantity");
  const asked = new URL(window.location.href).searchParams.get("q");
  const choices = config.scales.map((scale) => scale.quantity);
  let quantity = [asked, stored].find((q) => choices.includes(q)) || choices[0];
  let nodes = [];
  let latest = new Map();
  let map = null;
  let markers = null;

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
      let failed = 0;
      tiles.on("tileerror", () => {
        failed += 1;
        document.getElementById("no-tiles").hidden = false;
      });
      tiles.addTo(made);
    } else {
      document.getElementById("no-tiles").hidden = false;
    }
    return made;
  }

  function valueOf(node) {
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
    list.replaceChildren();
    for (const band of scale.bands) {
      const range = band.upper === null
        ? `≥ ${LM.number(band.lower)}`
        : `${LM.number(band.lower)}–${LM.number(band.upper)}`;
      const item = el("li", {}, LM.bandBadge(band), el("span", { class: "range" }, ` ${range} ${scale.unit}`));
      list.append(item);
    }
    const none = el("li", {}, el("span", { class: "band" }, el("span", { class: "swatch none", "aria-hidden": "true" }), t("legend_no_value")));
    list.append(none, el("li", {}, el("span", { class: "band" }, el("span", { class: "swatch offline", "aria-hidden": "true" }), t("legend_offline"))));
    document.getElementById("legend-source").textContent = t(scale.source);
    document.getElementById("legend-guideline").textContent = scale.guideline ? t(scale.guideline) : "";
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
      const shown = value ? String(Math.round(value.value)) : "–";
      const dot = el("span", { class: `dot${node.online ? "" : " offline"}` }, shown);
      dot.style.background = band ? band.colour : "#ffffff";
      dot.style.color = band ? band.ink : "#000000";
      const icon = L.divIcon({ className: "kit-marker", html: dot.outerHTML, iconSize: [34, 34] });
      const text = value
        ? t("marker_label", { name: label(node), value: `${shown} ${value.unit}`, band: t(band.key) })
        : t("marker_label_none", { name: label(node) });
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
      map.fitBounds(located.map((n) => [n.location.latitude, n.location.longitude]), { padding: [30, 30], maxZoom: 15 });
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

  function draw() {
    drawLegend();
    drawMarkers();
    drawList();
  }

  select.addEventListener("change", () => {
    quantity = select.value;
    window.localStorage.setItem("lm-quantity", quantity);
    const url = new URL(window.location.href);
    url.searchParams.set("q", quantity);
    window.history.replaceState(null, "", url);
    LM.syncLanguageSwitch();
    draw();
  });

  async function load() {
    map = startMap();
    try {
      const [nodeList, latestList] = await Promise.all([LM.getJSON("/v1/nodes"), LM.getJSON("/v1/latest")]);
      nodes = nodeList.value.slice().sort((a, b) => label(a).localeCompare(label(b), config.lang));
      latest = new Map(latestList.value.map((entry) => [entry.node, entry.values]));
      const located = nodes.filter((node) => node.location).length;
      LM.status(t("map_summary", { kits: nodes.length, located }));
      fitMap();
      draw();
      document.body.dataset.ready = "true";
    } catch (error) {
      const message = t("error_api", { message: error.message });
      LM.status(message, true);
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, message)));
      drawLegend();
      document.body.dataset.ready = "error";
    }
  }

  LM.syncLanguageSwitch();
  load();
})();
