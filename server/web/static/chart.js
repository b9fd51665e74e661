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

  // ---- Several series on one chart (the compare page) ------------------------------------
  // Each series has its own colour, dash pattern and marker shape, so lines are told apart
  // without colour (print, colour blindness). The reference station comes last, in ink.
  const SERIES_STYLES = [
    { colour: "#0b5d3b", dash: "", marker: "circle" },
    { colour: "#b3400b", dash: "8 4", marker: "square" },
    { colour: "#1f4e9c", dash: "2 3", marker: "triangle" },
    { colour: "#8a2f7a", dash: "10 3 2 3", marker: "diamond" },
    { colour: "#6b4a00", dash: "5 2 1 2 1 2", marker: "cross" },
  ];
  const REFERENCE_STYLE = { colour: "#1a1a1a", dash: "14 4", marker: "plus", width: 2.5 };
  const MARKER_SPACING = 40;  // CSS px between markers along a line: shapes, not a smear

  function seriesStyle(index) {
    return SERIES_STYLES[index % SERIES_STYLES.length];
  }

  function marker(shape, cx, cy, r, colour) {
    const at = (points) => points.map(([dx, dy]) => `${(cx + dx * r).toFixed(1)},${(cy + dy * r).toFixed(1)}`).join(" ");
    const filled = { fill: colour, stroke: colour, "stroke-width": 1 };
    const stroked = { fill: "none", stroke: colour, "stroke-width": 2 };
    switch (shape) {
      case "square": return svgNode("rect", { x: cx - r * 0.9, y: cy - r * 0.9, width: r * 1.8, height: r * 1.8, ...filled });
      case "triangle": return svgNode("polygon", { points: at([[0, -1.1], [1, 0.8], [-1, 0.8]]), ...filled });
      case "diamond": return svgNode("polygon", { points: at([[0, -1.2], [1.1, 0], [0, 1.2], [-1.1, 0]]), ...filled });
      case "cross": return svgNode("path", { d: `M${at([[-1, -1]])}L${at([[1, 1]])}M${at([[1, -1]])}L${at([[-1, 1]])}`, ...stroked });
      case "plus": return svgNode("path", { d: `M${at([[-1.2, 0]])}L${at([[1.2, 0]])}M${at([[0, -1.2]])}L${at([[0, 1.2]])}`, ...stroked });
      default: return svgNode("circle", { cx: cx.toFixed(1), cy: cy.toFixed(1), r, ...filled });
    }
  }

  /** A short stretch of a series' line with its marker, for a legend beside the chart. */
  function legendSample(style) {
    const sample = svgNode("svg", { viewBox: "0 0 44 14", width: 44, height: 14, class: "series-sample", "aria-hidden": "true" });
    sample.append(svgNode("line", {
      x1: 1, x2: 43, y1: 7, y2: 7, stroke: style.colour, "stroke-width": style.width || 2,
      "stroke-dasharray": style.dash || "none",
    }));
    sample.append(marker(style.marker, 22, 7, 4, style.colour));
    return sample;
  }

  /**
   * One chart of several series ``width`` CSS pixels wide over the period p = {from, to,
   * step} (epoch s; step: the seconds between a series' points). series = [{key, style,
   * points: [{t, v, title}]}]; a line breaks where a series misses a step.
   */
  function drawSeries(quantity, series, p, labelText, width) {
    const height = HEIGHT + 40, left = 52, right = 12, top = 12, bottom = 30;
    const values = series.flatMap((s) => s.points.map((pt) => pt.v));
    let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const x = (s) => left + ((s - p.from) / (p.to - p.from)) * (width - left - right);
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (height - top - bottom);
    const svg = svgNode("svg", {
      viewBox: `0 0 ${width} ${height}`, class: "chart chart-series", role: "img", "aria-label": labelText,
      "data-quantity": quantity, "data-series": series.length,
    });
    const axes = svgNode("g", { class: "axes", "aria-hidden": "true" });
    for (const v of ticks(lo, hi, 5)) {
      axes.append(svgNode("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
      const text = svgNode("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" });
      text.textContent = LM.number(v);
      axes.append(text);
    }
    const span = p.to - p.from;
    const labels = Math.max(2, Math.floor((width - left - right) / 70));
    // Past two days a label names a day, so labels are whole days apart (never "4 Dec" twice).
    const steps = span > 2 * 86400 ? [24, 48, 96, 168, 336, 720, 1440, 2160, 4320] : [1, 2, 3, 6, 12, 24];
    const stepHours = steps.find((h) => span / 3600 / h <= labels + 0.5) || 8760;
    const step = stepHours * 3600;
    for (let s = Math.ceil(p.from / step) * step; s <= p.to; s += step) {
      if (x(s) + 24 > width) continue;  // a label cut off at the right edge says nothing
      const text = svgNode("text", { x: x(s), y: height - 8, "text-anchor": "middle" });
      text.textContent = timeTick(s, span);
      axes.append(text);
    }
    svg.append(axes);
    const plotWidth = width - left - right;
    series.forEach((one, index) => {
      const { style, points } = one;
      const group = svgNode("g", { class: "series", "data-key": one.key, "data-points": points.length });
      const broken = (i) => i === 0 || points[i].t - points[i - 1].t > 1.5 * (one.step || p.step);
      const d = points.map((pt, i) => `${broken(i) ? "M" : "L"}${x(pt.t).toFixed(1)},${y(pt.v).toFixed(1)}`).join("");
      group.append(svgNode("path", {
        d, class: "series-line", fill: "none", stroke: style.colour, "stroke-width": style.width || 2,
        "stroke-dasharray": style.dash || "none", "stroke-linejoin": "round",
      }));
      // Markers every MARKER_SPACING px, each series starting a little later than the one
      // before so that equal values do not hide each other's shapes; a lone point always.
      const stepWidth = (plotWidth * (one.step || p.step)) / span;
      const every = Math.max(1, Math.round(MARKER_SPACING / stepWidth));
      const phase = Math.floor((every * index) / Math.max(1, series.length));
      points.forEach((pt, i) => {
        const alone = broken(i) && (i === points.length - 1 || broken(i + 1));
        if (!alone && (i + phase) % every !== 0) return;
        const shape = marker(style.marker, x(pt.t), y(pt.v), 3.5, style.colour);
        shape.setAttribute("class", "series-marker");
        const title = svgNode("title", {});
        title.textContent = pt.title;
        shape.append(title);
        group.append(shape);
      });
      svg.append(group);
    });
    return svg;
  }
  // ---- end of the several-series chart ----------------------------------------------------

  return { draw, widthOf, onResize, drawSeries, seriesStyle, legendSample, REFERENCE_STYLE };
})();
