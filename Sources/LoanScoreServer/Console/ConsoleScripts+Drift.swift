extension ConsoleScripts {
    /// `drift.js`: `/drift` every 10 s: PSI per field and for the PD with its band, and the
    /// reference against live shares of each bin; or why there is no drift to show.
    static let drift = #"""
        "use strict";
        (() => {
          const {el, svg, fmt, card, table} = LS;
          // Reference (grey) against live (blue) shares per bin, as paired bars.
          function bins(field) {
            const width = 520, row = 16, label = 150, height = field.bins.length * row + 4;
            const top = Math.max(1e-9, ...field.bins.flatMap(b => [b.reference, b.live]));
            const bar = (share) => (width - label - 100) * share / top;
            return svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img"},
              field.bins.flatMap((b, i) => [
                svg("text", {x: 0, y: i * row + 12, "font-size": 11, fill: "#1d2733", text: b.label.length > 24 ? b.label.slice(0, 23) + "…" : b.label}),
                svg("rect", {x: label, y: i * row + 2, width: bar(b.reference), height: 6, class: "sw-ref"}, svg("title", {text: "reference " + fmt.pct(b.reference)})),
                svg("rect", {x: label, y: i * row + 8, width: bar(b.live), height: 6, class: "sw-live"}, svg("title", {text: "live " + fmt.pct(b.live)})),
                svg("text", {x: label + Math.max(bar(b.reference), bar(b.live)) + 6, y: i * row + 12, "font-size": 10, fill: "#5b6775",
                             text: fmt.pct(b.reference, 0) + " → " + fmt.pct(b.live, 0)})]));
          }
          async function refresh() {
            const answer = await LS.getJSON("/drift").catch(e => ({status: 0, data: {error: e.message}}));
            const root = el("div", {}, el("h1", {text: "Drift"}));
            if (answer.status === 404 && answer.data.code === "disabled") {
              root.append(el("p", {class: "notice", id: "drift-off", text: "Drift is not computed by this server: " + answer.data.error + "."}));
            } else if (answer.status !== 200) {
              root.append(el("p", {class: "notice", id: "drift-unavailable", text: answer.data.error || LS.errorText(answer)}));
            } else {
              const report = answer.data;
              const rows = report.fields.map(f => [el("a", {href: "#bins-" + f.field, text: f.field}), fmt.num(f.psi, 4),
                                                   el("span", {class: "band-" + f.band, text: f.band})]);
              root.append(
                el("p", {class: "muted", text: "Model " + report.model_version + " · " + fmt.num(report.applications) +
                  " applications in the window · PSI bands: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 significant."}),
                el("div", {class: "cols"},
                  card("Population stability index", table(["Field", ["PSI", "num"], "Band"], rows)),
                  el("div", {}, report.fields.map(f => el("section", {class: "card", id: "bins-" + f.field},
                    el("h2", {text: f.field + " · PSI " + fmt.num(f.psi, 4) + " (" + f.band + ")"}), bins(f),
                    el("div", {class: "legend"}, el("span", {}, el("span", {class: "swatch sw-ref"}), "reference (training)"),
                                                 el("span", {}, el("span", {class: "swatch sw-live"}), "live window")))))));
            }
            LS.main().replaceChildren(root);
          }
          LS.serving();
          refresh();
          setInterval(refresh, 10000);
        })();
        """#
}
