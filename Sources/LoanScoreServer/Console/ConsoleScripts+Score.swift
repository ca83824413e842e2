extension ConsoleScripts {
    /// `score.js`: a form built from the schema (type, unit, range, levels) that sends one
    /// application to `POST /score` and shows the answer in words, each refused field's
    /// message beside it. URL parameters named like fields fill the form; `submit=1` sends it.
    static let score = #"""
        "use strict";
        (async () => {
          const {el, fmt, card, kv} = LS;
          LS.serving();
          const answer = await LS.getJSON("/model/card").catch(e => ({status: 0, data: {error: e.message}}));
          if (answer.status !== 200) { LS.setStatus(LS.errorText(answer), true); return; }
          const fields = answer.data.schema.fields || [];
          const inputs = new Map(), errors = new Map(), boxes = new Map();
          const scalar = (v) => v === null || v === undefined ? "" : String(v);
          const controls = fields.map(f => {
            const id = "field-" + f.name;
            let control;
            if (f.type === "boolean") {
              control = el("select", {id, name: f.name}, el("option", {value: "", text: "(missing)"}),
                           el("option", {value: "true", text: "true"}), el("option", {value: "false", text: "false"}));
            } else if (f.type === "category") {
              const list = el("datalist", {id: id + "-levels"}, (f.levels || []).map(l => el("option", {value: l})));
              control = el("input", {id, name: f.name, type: "text", list: id + "-levels", autocomplete: "off"});
              boxes.set(f.name + "-list", list);
            } else {
              control = el("input", {id, name: f.name, type: "text", inputmode: f.type === "string" ? "text" : "decimal", autocomplete: "off"});
            }
            inputs.set(f.name, control);
            const hint = [f.type + (f.unit ? ", " + f.unit : ""),
                          f.range ? "from " + scalar(f.range.min) + " to " + scalar(f.range.max) : null,
                          f.levels ? "levels: " + f.levels.join(", ") : null,
                          f.true_labels ? "true means " + f.true_labels.join("/") + ", false " + (f.false_labels || []).join("/") : null,
                          f.nullable === false ? "required" : "may be left empty"].filter(Boolean).join(" · ");
            const error = el("div", {class: "field-error", id: "error-" + f.name});
            errors.set(f.name, error);
            const box = el("div", {class: "field"}, el("label", {for: id, text: f.name + (f.description ? " — " + f.description : "")}),
                           control, boxes.get(f.name + "-list") || null, el("div", {class: "hint", text: hint}), error);
            boxes.set(f.name, box);
            return box;
          });
          const general = el("div", {id: "score-error"});
          const result = el("div", {id: "score-result"});
          function application() {
            const object = {};
            for (const f of fields) {
              const raw = inputs.get(f.name).value.trim();
              if (raw === "") continue;
              if (f.type === "boolean") object[f.name] = raw === "true";
              else if ((f.type === "integer" || f.type === "number") && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) object[f.name] = Number(raw);
              else object[f.name] = raw;
            }
            return object;
          }
          function clearErrors() {
            general.replaceChildren();
            for (const [name, node] of errors) { node.textContent = ""; boxes.get(name).classList.remove("invalid"); }
          }
          function showResult(r) {
            const reasons = r.reasons.length ? el("ol", {id: "result-reasons"}, r.reasons.map(x => el("li", {}, x.text + " ", el("span", {class: "muted", text: "(" + x.code + ", " + x.field + ", +" + fmt.num(x.contribution, 4) + ")"}))))
                                             : el("span", {text: "none: no field raised the PD"});
            result.replaceChildren(card("Result", kv([
              ["Decision", el("span", {class: LS.decisionClass(r.decision), id: "result-decision", text: r.decision})],
              ["Probability of default", el("span", {id: "result-pd", "data-value": r.pd, text: fmt.pd(r.pd) + " (" + fmt.pct(r.pd, 2) + ")"})],
              ["Risk level", el("span", {id: "result-risk", text: r.risk_level})],
              ["Confidence", el("span", {id: "result-confidence", "data-value": r.confidence, text: fmt.num(r.confidence, 2)})],
              ["Reasons", reasons],
              ["Flags", r.flags.length ? el("span", {id: "result-flags", text: r.flags.join("; ")}) : "none"],
              ["Model", r.model.name + " " + r.model.version],
              ["Audit log", r.audited ? "recorded as " + r.application_id : "not recorded (console_score_audited is off)"]])));
          }
          async function submit() {
            clearErrors();
            result.replaceChildren(el("p", {class: "muted", text: "Scoring…"}));
            const sent = await LS.getJSON("/score", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(application())})
              .catch(e => ({status: 0, data: {error: e.message}}));
            if (sent.status === 200) { showResult(sent.data); return; }
            result.replaceChildren();
            let placed = false;
            for (const problem of sent.data.fields || []) {
              const node = errors.get(problem.field);
              if (!node) continue;
              node.textContent = problem.message;
              boxes.get(problem.field).classList.add("invalid");
              placed = true;
            }
            general.replaceChildren(el("p", {class: "error", text: (placed ? "Not scored (see the fields marked below): " : "Not scored: ") + (sent.data.error || LS.errorText(sent))}));
          }
          const form = el("form", {id: "score-form", onsubmit: (event) => { event.preventDefault(); submit(); }},
            el("div", {class: "fields"}, controls), el("p", {}, el("button", {type: "submit", text: "Score"})));
          LS.main().replaceChildren(el("h1", {text: "Score one application"}),
            el("p", {class: "muted", text: "Scored by the serving champion through the same engine as the scoring port. Empty fields are missing."}),
            general, el("div", {class: "cols"}, card("Application", form), result));
          const params = LS.params();
          for (const [name, control] of inputs) if (params.has(name)) control.value = params.get(name);
          if (params.get("submit") === "1") submit();
        })();
        """#
}
