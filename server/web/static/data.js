// The data page: licence and metadata from /v1/dataset, examples with a real kit's id.
"use strict";

(() => {
  const { t, el } = LM;
  const origin = window.location.origin;

  function text(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "object" ? value["@value"] || value["@id"] || "" : String(value);
  }

  function example(id, titleKey, code) {
    const codeElement = el("code", { id: `example-${id}` }, code);
    const button = el("button", { type: "button", class: "copy", "aria-label": t("copy_label", { what: t(titleKey) }) }, t("copy"));
    button.addEventListener("click", () => LM.copy(codeElement));
    return el("div", { class: "example" }, el("h3", {}, t(titleKey)), el("div", { class: "code" }, el("pre", {}, codeElement), button));
  }

  function examples(node) {
    const day = 86400 * 1000;
    const today = new Date(Date.now()).toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - day).toISOString().slice(0, 10);
    const box = document.getElementById("examples");
    const kit = encodeURIComponent(node);
    box.replaceChildren(
      example("nodes", "example_nodes", `curl "${origin}/v1/nodes"`),
      example("readings", "example_readings", `curl "${origin}/v1/readings?node=${kit}&quantity=pm25&from=${yesterday}"`),
      example("aggregates", "example_aggregates", `curl "${origin}/v1/aggregates?node=${kit}&quantity=pm25&window=1h&from=${yesterday}&to=${today}"`),
      example("csv", "example_csv", `curl -o readings.csv "${origin}/v1/export/readings.csv?from=${yesterday}&to=${today}"`),
      example("sta", "example_sta", `curl "${origin}/v1.1/Datastreams('${kit}:pm25')/Observations?$top=10&$orderby=phenomenonTime%20desc"`),
      example("pandas", "example_pandas", `import pandas as pd\nurl = "${origin}/v1/export/readings.csv?from=${yesterday}&to=${today}"\nreadings = pd.read_csv(url, parse_dates=["time"])`),
    );
  }

  async function load() {
    try {
      const [landing, dataset, nodes] = await Promise.all([
        LM.getJSON("/"), LM.getJSON("/v1/dataset"), LM.getJSON("/v1/nodes"),
      ]);
      const licence = landing.licence;
      const licenceLink = el("a", { href: licence.url, rel: "license", id: "licence-link" }, `${licence.name} (${licence.id})`);
      const line = document.getElementById("licence");
      const [before, after] = t("licence_text").split("{licence}");
      line.replaceChildren(before, licenceLink, after);
      document.getElementById("publisher").textContent = text(dataset["dct:publisher"]["foaf:name"]);
      const contact = dataset["dcat:contactPoint"]["vcard:hasEmail"];
      document.getElementById("contact").replaceChildren(contact ? el("a", { href: contact["@id"] }, contact["@id"].replace("mailto:", "")) : "–");
      const list = document.getElementById("distributions");
      list.replaceChildren(...dataset["dcat:distribution"].map((d) => {
        const url = text(d["dcat:accessURL"]);
        return el("li", {}, el("a", { href: url }, text(d["dct:title"])), ` — ${text(d["dcat:mediaType"]).split("/media-types/")[1] || ""}`);
      }));
      examples(nodes.value.length ? nodes.value[0].node : "sim-1");
      LM.status("");
      document.body.dataset.ready = "true";
    } catch (error) {
      LM.status(t("error_api", { message: error.message }), true);
      examples("sim-1");
      document.body.dataset.ready = "error";
    }
  }

  LM.syncLanguageSwitch();
  load();
})();
