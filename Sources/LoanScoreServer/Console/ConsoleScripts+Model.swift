extension ConsoleScripts {
    /// `model.js`: `/model/card`: identity, features and units, reason texts, policy and
    /// risk levels, cut-offs, training and validation figures, fairness, lineage and hashes.
    static let model = #"""
        "use strict";
        (async () => {
          const {el, fmt, card, table, kv} = LS;
          LS.serving();
          const answer = await LS.getJSON("/model/card").catch(e => ({status: 0, data: {error: e.message}}));
          if (answer.status !== 200) { LS.setStatus(LS.errorText(answer), true); return; }
          const {manifest: m, schema, model_card: markdown, report} = answer.data;
          const scalar = (v) => v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? fmt.num(v) : fmt.num(v, 4)) : String(v);
          const reasons = m.reason_codes || {};
          const features = (schema.fields || []).map(f => {
            const range = f.range ? "[" + scalar(f.range.min) + ", " + scalar(f.range.max) + "]" : "";
            const levels = f.levels ? f.levels.join(", ") : f.type === "boolean" ? "true / false" : "";
            const role = f.protected ? "protected (not a feature)" : f.feature === false ? "not a feature" : "feature";
            return [el("span", {class: "mono", text: f.name}), f.type, f.unit || "", range || levels, f.description || "",
                    reasons[f.name] ? reasons[f.name].code + " " + reasons[f.name].text : "", role];
          });
          const levels = (m.policy.risk_levels || []).map((level, i, all) =>
            [level.name, i === 0 ? "0" : fmt.num(all[i - 1].upper, 4), level.upper === null || level.upper === undefined ? "1" : fmt.num(level.upper, 4)]);
          const cutoffs = Object.entries(m.cutoffs || {}).filter(([, v]) => typeof v !== "object" || v === null).map(([k, v]) => [k, scalar(v)]);
          const figures = [];
          const metrics = m.metrics || {};
          const addFigures = (name, entry) => {
            if (!entry) return;
            const holdout = entry.holdout || {};
            figures.push([name, scalar(entry.cv_roc_auc) + (entry.cv_roc_auc_std !== undefined ? " ± " + fmt.num(entry.cv_roc_auc_std, 4) : ""),
                          Object.entries(holdout).map(([k, v]) => k + " " + scalar(v)).join(" · ")]);
          };
          addFigures("ensemble", metrics.ensemble);
          for (const member of metrics.members || []) addFigures(member.name, member);
          const fairness = m.fairness || null;
          const groups = fairness ? (fairness.groups || []).map(g => [g.field, g.group, fmt.num(g.applicants), fmt.pct(g.default_rate),
            fmt.pct(g.approval_rate), scalar(g.roc_auc), el("span", {class: g.flagged ? "flagged" : "", text: scalar(g.adverse_impact_ratio) + (g.flagged ? " flagged" : "")})]) : [];
          const files = Object.entries(m.files || {}).map(([file, hash]) => [el("span", {class: "mono", text: file}), el("span", {class: "mono hash", text: hash})]);
          const lineage = m.lineage || {};
          const training = lineage.training_data || {};
          const root = el("div", {},
            el("h1", {text: "Model"}),
            el("div", {class: "cols"},
              card("Identity", kv([["Name", m.model.name], ["Version", el("span", {id: "model-version", text: m.model.version})],
                ["Created", m.created_at], ["Members", m.members.map(x => x.name + " (" + x.kind + ", weight " + x.weight + ")").join(", ")],
                ["Combination", m.combination], ["Calibration", m.calibration.kind], ["Bundle", answer.data.bundle],
                ["Report", report ? el("a", {href: report, text: "report.html (the bundle's training report)"}) : "this bundle has no report.html"]])),
              card("Decision policy", kv([["Approve below PD", fmt.num(m.policy.approve_below, 4)], ["Decline at PD", fmt.num(m.policy.decline_at, 4)]]),
                el("h2", {text: "Risk levels"}), table(["Level", ["PD from", "num"], ["PD below", "num"]], levels))),
            card("Features (" + (schema.fields || []).length + " fields)", table(["Field", "Type", "Unit", "Range or levels", "Description", "Reason code", "Role"], features)),
            el("div", {class: "cols"},
              card("Training and validation", figures.length ? table(["Model", "CV ROC AUC", "Hold-out"], figures) : el("p", {class: "muted", text: "No figures in the manifest."})),
              card("Cut-offs", cutoffs.length ? table(["Setting", "Value"], cutoffs) : el("p", {class: "muted", text: "No cut-off analysis in the manifest."}))),
            card("Fairness" + (fairness ? " (adverse impact threshold " + scalar(fairness.threshold) + ", " + (fairness.passed ? "passed" : "not passed") + ")" : ""),
              fairness ? table(["Field", "Group", ["Applicants", "num"], ["Default rate", "num"], ["Approval rate", "num"], ["ROC AUC", "num"], ["Adverse impact", "num"]], groups)
                       : el("p", {class: "muted", text: "No fairness table in the manifest."})),
            el("div", {class: "cols"},
              card("Lineage", kv([["Training data", training.file], ["Rows", scalar(training.rows)], ["SHA-256", el("span", {class: "mono", text: training.sha256 || "–"})],
                ["Code commit", el("span", {class: "mono", text: lineage.code_commit || "–"})], ["Seed", scalar(lineage.seed)],
                ["Hold-out fraction", scalar(lineage.holdout_fraction)],
                ["Libraries", Object.entries(lineage.libraries || {}).map(([k, v]) => k + " " + v).join(", ")]])),
              card("File hashes (SHA-256)", files.length ? table(["File", "SHA-256"], files) : el("p", {class: "muted", text: "None listed."}))),
            markdown ? card("Model card", el("pre", {text: markdown})) : null);
          LS.main().replaceChildren(root);
        })();
        """#
}
