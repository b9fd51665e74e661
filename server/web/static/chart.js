// lokaalmeten public pages: a hand-drawn SVG line chart (the kit page's and the embed's).
// It is drawn at the width it is shown at, so that its text is as large on a phone as the
// stylesheet says (a 640-unit drawing squeezed onto a phone made 11 px text 6 px tall).
"use strict";

const LMChart = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_DOTS = 2500;
  const HEIGHT = 220;
  const MIN_WIDTH = 260;

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

  function timeTick(seconds, spanSeconds) {
    const date = new Date(seconds * 1000);
    const options = spanSeconds <= 86400
      ? { hour: "2-digit", minute: "2-digit" }
      : { day: "numeric", month: "short" };
    return date.toLocaleString(LM.config.lang === "nl" ? "nl-NL" : "en-GB", options);
  }

  /** The width a chart drawn into ``box`` has: its content box, in CSS pixels. */
  function widthOf(box) {
    const style = getComputedStyle(box);
    const inner = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return Math.max(MIN_WIDTH, Math.floor(inner));
  }

  /**
   * One chart ``width`` CSS pixels wide: points = [{t: epoch s, v: value, valid: bool,
   * title: text}] over the period p = {from, to} (epoch s).
   */
  function draw(quantity, points, p, labelText, width) {
    const height = HEIGHT, left = 52, right = 12, top = 12, bottom = 30;
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
    // As many time labels as fit: about one per 70 px (a phone gets three or four).
    const span = p.to - p.from;
    const labels = Math.max(2, Math.floor((width - left - right) / 70));
    const stepHours = [0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 96, 168, 336].find((h) => span / 3600 / h <= labels + 0.5) || 336;
    const step = stepHours * 3600;
    for (let s = Math.ceil(p.from / step) * step; s <= p.to; s += step) {
      const text = svgNode("text", { x: x(s), y: height - 8, "text-anchor": "middle" });
      text.textContent = timeTick(s, span);
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

  /** The points of one series of /v1/series (columns), as draw() takes them: a flagged
   *  reading is an open point whose tooltip names its flags. */
  function seriesPoints(series) {
    const flagged = new Map(series.flagged);
    return series.time.map((moment, i) => {
      const when = LM.time(new Date(moment * 1000).toISOString());
      const flags = flagged.get(i);
      const text = `${when}: ${LM.number(series.value[i])} ${series.unit}`;
      return { t: moment, v: series.value[i], valid: !flags, title: flags ? `${text} (${flags.join(", ")})` : text };
    });
  }

  /** Redraw (call ``redraw``) when the page's width changes, as when a phone turns. */
  function onResize(redraw) {
    let width = window.innerWidth;
    let timer = null;
    window.addEventListener("resize", () => {
      if (window.innerWidth === width) return;
      width = window.innerWidth;
      clearTimeout(timer);
      timer = setTimeout(redraw, 150);
    });
  }

  // ticks, svgNode and timeTick: also for chart-series.js (the compare page's chart).
  return { draw, widthOf, onResize, ticks, svgNode, timeTick, seriesPoints };
})();
