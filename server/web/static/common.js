// lokaalmeten public pages: what every page shares (texts, formatting, bands, the API).
"use strict";

const LM = (() => {
  const config = JSON.parse(document.getElementById("lm-config").textContent);
  const locale = config.lang === "nl" ? "nl-NL" : "en-GB";
  const numbers = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const times = new Intl.DateTimeFormat(locale, {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });

  /** A text in the page's language, with {placeholders} filled. */
  function t(key, values) {
    let text = config.texts[key] ?? key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  function quantityName(quantity) {
    return config.texts[`q_${quantity}`] ?? quantity;
  }

  function number(value) {
    return numbers.format(value);
  }

  function time(iso) {
    return times.format(new Date(iso));
  }

  function scaleOf(quantity) {
    return config.scales.find((scale) => scale.quantity === quantity) || null;
  }

  /** The legend band a value falls in; bands are lower <= value < upper. */
  function bandOf(scale, value) {
    for (const band of scale.bands) {
      if (band.upper === null || value < band.upper) return band;
    }
    return scale.bands[scale.bands.length - 1];
  }

  /** GET a public API URL as JSON; an error says what the API said. */
  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        message = (await response.json()).error.message;
      } catch (ignored) {
        // not the API's error body: keep the status line
      }
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  /** Every item of a paged API answer: ``value`` of each page, following @nextLink. */
  async function allPages(url) {
    const rows = [];
    while (url) {
      const page = await getJSON(url);
      rows.push(...page.value);
      const next = page["@nextLink"];
      // Same origin whatever base URL the server names (a proxy may rewrite it).
      const link = next ? new URL(next, window.location.href) : null;
      url = link ? link.pathname + link.search : null;
    }
    return rows;
  }

  /** An element with attributes and children (text or elements). */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** A coloured swatch with the band's name: colour is never the only sign. */
  function bandBadge(band) {
    const badge = el("span", { class: "band" });
    const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = band.colour;
    badge.append(swatch, t(band.key));
    return badge;
  }

  function status(message, isError) {
    const line = document.getElementById("status");
    if (!line) return;
    line.textContent = message;
    line.classList.toggle("error", Boolean(isError));
  }

  /** Name each body cell after its column (data-label), for the reflowed table on a phone. */
  function labelCells(table) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => {
        if (names[i] && !cell.hasAttribute("colspan")) cell.dataset.label = names[i];
      });
    }
  }

  /** Copy a code element's text, and say so in #copy-status; where the browser refuses,
   *  select the text for the reader to copy. */
  async function copy(code) {
    const line = document.getElementById("copy-status");
    try {
      await navigator.clipboard.writeText(code.textContent);
      line.textContent = t("copied");
    } catch (error) {
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      line.textContent = t("copy_failed");
    }
  }

  /** Keep the language switch pointing at this very view (range, quantity, ...). */
  function syncLanguageSwitch() {
    const link = document.querySelector("a.lang-switch");
    if (!link) return;
    const url = new URL(window.location.href);
    url.searchParams.set("lang", config.texts.switch_code);
    link.href = url.pathname + url.search;
  }

  /**
   * Keep a page up to date: ``onReading`` gets each reading of the live stream at ``url``.
   * Where the stream is refused (a store without a change log answers 501, a full server
   * 503) or the browser has no EventSource, ``poll`` is called every ``pollSeconds`` instead.
   * ``onState`` hears "stream", "reconnecting" (an open stream lost; EventSource reconnects
   * by itself, resuming after the last event) or "poll".
   */
  function live(url, { onReading, poll, pollSeconds, onState }) {
    const fallBack = () => {
      onState("poll");
      setInterval(poll, pollSeconds * 1000);
    };
    if (typeof EventSource === "undefined") return fallBack();
    const stream = new EventSource(url);
    let opened = false;
    stream.addEventListener("open", () => {
      opened = true;
      onState("stream");
    });
    stream.addEventListener("reading", (event) => onReading(JSON.parse(event.data)));
    stream.addEventListener("error", () => {
      if (stream.readyState === EventSource.CLOSED || !opened) {
        stream.close();
        fallBack();
        return;
      }
      onState("reconnecting");
    });
    return undefined;
  }

  /** How a page is kept up to date, in words: "updated live", "updated every 30 s", ... */
  function liveWords(state, pollSeconds) {
    if (state === "stream") return t("live_stream");
    if (state === "reconnecting") return t("live_reconnecting");
    if (state === "connecting") return t("live_connecting");
    return t("live_poll", { seconds: pollSeconds });
  }

  return { config, t, quantityName, number, time, scaleOf, bandOf, getJSON, allPages, el, bandBadge, status, labelCells, copy, syncLanguageSwitch, live, liveWords };
})();
