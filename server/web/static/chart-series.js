// lokaalmeten public pages: several series on one SVG chart (the compare page), with the
// axes of chart.js. Its own file, loaded by the compare page alone, so that the kit page and
// the widget do not carry it.
"use strict";

const LMSeriesChart = (() => {
  const { ticks, svgNode, timeTick } = LMChart;
  const HEIGHT = 260;

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
    const height = HEIGHT, left = 52, right = 12, top = 12, bottom = 30;
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

  return { draw: drawSeries, style: seriesStyle, legendSample, REFERENCE_STYLE };
})();
