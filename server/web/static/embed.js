// The embed widget: one kit's readings of one quantity over the last day (or ?range=hour,
// week), drawn as on the kit page, for another site's iframe. Asks /v1/nodes/{node},
// /v1/quantities and /v1/series (one answer for the whole range) and nothing else.
"use strict";

(() => {
  const { config, t, el } = LM;
  const node = config.node;
  const RANGES = { hour: 3600, day: 86400, week: 7 * 86400 };
  const params = new URL(window.location.href).searchParams;
  const range = params.get("range") in RANGES ? params.get("range") : "day";
  let drawn = null;

  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  async function readings(quantity, p) {
    const search = new URLSearchParams({ node, quantity, from: iso(p.from), to: iso(p.to) });
    const answer = await LM.getJSON(`/v1/series?${search}`);
    return answer.series.length ? LMChart.seriesPoints(answer.series[0]) : [];
  }

  function render() {
    if (!drawn) return;
    const { quantity, unit, points, p } = drawn;
    const box = document.getElementById("charts");
    const values = points.map((pt) => pt.v);
    const label = t("chart_raw_label", {
      quantity: LM.quantityName(quantity), count: points.length, from: LM.time(iso(p.from)),
      to: LM.time(iso(p.to)), min: LM.number(Math.min(...values)), max: LM.number(Math.max(...values)), unit,
    });
    const place = el("figure", { class: "chart-figure", "data-quantity": quantity },
      el("figcaption", {}, `${LM.quantityName(quantity)} (${unit})`));
    box.replaceChildren(place);
    place.append(LMChart.draw(quantity, points, p, label, LMChart.widthOf(place)));
  }

  async function load() {
    const now = Math.floor(Date.now() / 1000);
    const to = now - (now % 60);
    const p = { from: to - RANGES[range], to };
    document.getElementById("period").textContent = t("period_shown", { from: LM.time(iso(p.from)), to: LM.time(iso(p.to)) });
    try {
      const [info, quantities] = await Promise.all([LM.getJSON(`/v1/nodes/${encodeURIComponent(node)}`), LM.getJSON("/v1/quantities")]);
      document.getElementById("embed-kit").textContent = info.name ? `${info.name} (${info.node})` : info.node;
      const asked = params.get("quantity");
      const quantity = [asked, "pm25", ...info.quantities].find((q) => info.quantities.includes(q));
      if (!quantity) throw new Error(t("chart_empty"));
      const unit = quantities.value.find((q) => q.name === quantity).unit;
      const points = await readings(quantity, p);
      if (points.length === 0) {
        document.getElementById("charts").replaceChildren(el("p", { class: "empty" }, t("chart_empty")));
      } else {
        drawn = { quantity, unit, points, p };
        render();
      }
      LM.status("");
      document.body.dataset.ready = "true";
    } catch (error) {
      const message = t("error_chart", { message: error.message });
      LM.status(message, true);
      document.getElementById("charts").replaceChildren();
      document.body.dataset.ready = "error";
    }
  }

  LMChart.onResize(render);
  load();
})();
