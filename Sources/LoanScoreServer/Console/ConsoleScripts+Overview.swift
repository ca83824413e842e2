extension ConsoleScripts {
    /// `overview.js`: `/stats` every 3 s: models, uptime, applications/s, latency, errors,
    /// BUSY, the decision mix and approval rate, with the last samples drawn as lines.
    static let overview = #"""
        "use strict";
        (() => {
          const {el, fmt, card, metric, table, stackedBar, sparkline} = LS;
          const history = [];
          async function refresh() {
            let answer;
            try { answer = await LS.getJSON("/stats"); } catch (e) { LS.setStatus("the server does not answer: " + e.message, true); return; }
            if (answer.status !== 200) { LS.setStatus(LS.errorText(answer), true); return; }
            const s = answer.data;
            history.push({rate: s.applications_per_second, approval: s.approval_rate, p99: s.latency_seconds.p99});
            if (history.length > 60) history.shift();
            render(s);
          }
          function render(s) {
            const champion = s.models.find(m => m.role === "champion") || s.models[0];
            const challenger = s.models.find(m => m.role === "challenger");
            const decisions = ["approve", "review", "decline"].map(d => ({label: d, value: s.decisions[d] || 0, cls: d}));
            const busyRows = Object.entries(s.busy).map(([reason, n]) => [reason, fmt.num(n)]);
            const errorRows = Object.entries(s.errors).filter(([, n]) => n > 0).map(([code, n]) => [code, fmt.num(n)]);
            const outcomeRows = Object.entries(s.applications).map(([outcome, n]) => [outcome, fmt.num(n)]);
            const root = el("div", {},
              el("h1", {text: "Overview"}),
              el("div", {class: "grid"},
                metric("Champion", champion.version, champion.name, {id: "model-version", "data-value": champion.version}, true),
                challenger ? metric("Challenger (" + challenger.mode + ")", challenger.version, challenger.name, {id: "challenger-version"}, true) : null,
                metric("Uptime", fmt.duration(s.uptime_seconds), null),
                metric("Applications / s", s.applications_per_second === null ? "–" : fmt.num(s.applications_per_second, 1),
                       el("span", {id: "applications-total", "data-value": s.applications_total,
                                   text: fmt.num(s.applications_total) + " in all" + (s.rate_window_seconds === null ? " · rate: measuring" : " · rate over " + fmt.num(s.rate_window_seconds, 0) + " s")}),
                       {id: "rate"}),
                metric("Latency p50", fmt.ms(s.latency_seconds.p50), fmt.num(s.latency_seconds.requests) + " requests", {id: "latency-p50"}),
                metric("Latency p99", fmt.ms(s.latency_seconds.p99), "request duration", {id: "latency-p99"}),
                metric("Approval rate", fmt.pct(s.approval_rate), fmt.num(s.decisions_total) + " decisions",
                       {id: "approval-rate", "data-value": s.approval_rate === null ? "" : s.approval_rate}),
                metric("BUSY answers", fmt.num(s.busy_total), "requests refused", {id: "busy-total", "data-value": s.busy_total})),
              el("div", {class: "cols"},
                card("Decision mix", stackedBar(decisions, 400, 22),
                  el("div", {class: "legend"}, decisions.map(d => el("span", {},
                    el("span", {class: "swatch sw-" + d.cls}), d.label + " " + fmt.num(d.value) + " (" + fmt.pct(d.value / (s.decisions_total || 1)) + ")")))),
                card("Applications / s (every 3 s)", sparkline(history.map((h, i) => ({t: i, v: h.rate})), {format: (v) => fmt.num(v, 0) + "/s"})),
                card("Approval rate", sparkline(history.map((h, i) => ({t: i, v: h.approval})), {max: 1, format: (v) => fmt.pct(v, 0)})),
                card("Latency p99", sparkline(history.map((h, i) => ({t: i, v: h.p99})), {format: (v) => fmt.ms(v)}))),
              el("div", {class: "cols"},
                card("Applications by outcome", table(["Outcome", ["Count", "num"]], outcomeRows)),
                card("Errors sent, by code", errorRows.length ? table(["Code", ["Count", "num"]], errorRows) : el("p", {class: "muted", text: "No errors sent."})),
                card("BUSY answers, by limit", busyRows.length ? table(["Limit", ["Count", "num"]], busyRows) : el("p", {class: "muted", text: "None."}))));
            LS.setStatus("");
            const main = LS.main();
            main.replaceChildren(el("p", {id: "status", hidden: true}), root);
          }
          LS.serving();
          refresh();
          setInterval(refresh, 3000);
        })();
        """#
}
