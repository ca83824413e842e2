extension ConsoleScripts {
    /// `decisions.js`: look up an application id in the audit log (`/decisions/<id>`; the
    /// page's `?id=` looks one up at once) and list the most recent decisions.
    static let decisions = #"""
        "use strict";
        (() => {
          const {el, fmt, card, table, kv} = LS;
          const result = el("div", {id: "lookup-result"});
          const input = el("input", {type: "text", class: "id", name: "id", placeholder: "application id", required: true});
          const recent = el("div", {id: "recent"});
          function decisionCell(d) { return el("span", {class: LS.decisionClass(d), text: d}); }
          function show(record) {
            const reasons = record.reasons.length
              ? el("ol", {}, record.reasons.map(r => el("li", {}, el("span", {class: "mono", text: r.code}), " ", r.text === null ? "(text not known: another model version)" : r.text)))
              : "none";
            result.replaceChildren(card("Decision for " + record.application_id, kv([
              ["Application id", el("span", {class: "mono", id: "found-id", text: record.application_id})],
              ["Decision", el("span", {class: LS.decisionClass(record.decision), id: "found-decision", text: record.decision})],
              ["PD", el("span", {id: "found-pd", "data-value": record.pd, text: fmt.pd(record.pd)})],
              ["Risk level", record.risk_level],
              ["Confidence", "not recorded in the audit log (shown by the Score page and the wire answer)"],
              ["Reasons", reasons],
              ["Model", record.model + " " + record.model_version + (record.role ? " (" + record.role + ")" : "")],
              ["Time", el("span", {id: "found-time", text: record.time})],
              ["Input SHA-256", el("span", {class: "mono", id: "found-hash", text: record.input_sha256})],
              ["Request", "request " + record.request_id + (record.client ? " from " + record.client : "") + (record.seq === null ? "" : " · audit seq " + record.seq)],
              ["Records for this id", String(record.records)],
              record.shadow ? ["Shadow challenger", record.shadow.model_version + ": " + record.shadow.decision + ", PD " + fmt.pd(record.shadow.pd)] : null,
            ].filter(Boolean))));
          }
          async function lookUp(id) {
            result.replaceChildren(el("p", {class: "muted", text: "Reading the audit log…"}));
            const answer = await LS.getJSON("/decisions/" + encodeURIComponent(id)).catch(e => ({status: 0, data: {error: e.message}}));
            if (answer.status === 200) show(answer.data);
            else result.replaceChildren(el("p", {class: answer.status === 404 ? "notice" : "error", id: "lookup-error", text: answer.data.error || LS.errorText(answer)}));
          }
          async function loadRecent() {
            const answer = await LS.getJSON("/decisions/recent?limit=25").catch(e => ({status: 0, data: {error: e.message}}));
            if (answer.status !== 200) { recent.replaceChildren(el("p", {class: "error", text: LS.errorText(answer)})); return; }
            const rows = answer.data.decisions.map(d => [
              el("a", {href: "?id=" + encodeURIComponent(d.application_id), class: "mono", text: d.application_id}),
              decisionCell(d.decision), fmt.pd(d.pd), d.risk_level, d.model_version, d.time]);
            recent.replaceChildren(rows.length ? table(["Application id", "Decision", ["PD", "num"], "Risk level", "Model version", "Time (UTC)"], rows)
                                               : el("p", {class: "muted", text: "No decisions since this server started."}));
          }
          const form = el("form", {class: "inline", onsubmit: (event) => {
            event.preventDefault();
            history.replaceState(null, "", "?id=" + encodeURIComponent(input.value));
            lookUp(input.value);
          }}, input, el("button", {type: "submit", text: "Look up"}));
          LS.main().replaceChildren(el("h1", {text: "Decisions"}),
            card("Look up an application in the audit log", form, result),
            card("Most recent decisions of this server (newest first, refreshed every 5 s)", recent));
          LS.serving();
          const id = LS.params().get("id");
          if (id) { input.value = id; lookUp(id); }
          loadRecent();
          setInterval(loadRecent, 5000);
        })();
        """#
}
