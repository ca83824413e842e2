/// The console's JavaScript, one script per page plus `console.js` (shared helpers). Values
/// go into the page as text nodes only.
enum ConsoleScripts {
    /// `console.js`: element building (text only), JSON fetching, number formats, small SVG
    /// charts, and the serving model in the header.
    static let common = #"""
        "use strict";
        const LS = (() => {
          const SVG = "http://www.w3.org/2000/svg";
          // An element with attributes and children; strings become text nodes (never markup).
          function el(tag, attrs, ...children) {
            const node = document.createElement(tag);
            for (const [key, value] of Object.entries(attrs || {})) {
              if (value === null || value === undefined || value === false) continue;
              if (key === "text") node.textContent = String(value);
              else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
              else node.setAttribute(key, String(value));
            }
            for (const child of children.flat()) {
              if (child === null || child === undefined) continue;
              node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
            }
            return node;
          }
          function svg(tag, attrs, ...children) {
            const node = document.createElementNS(SVG, tag);
            for (const [key, value] of Object.entries(attrs || {})) {
              if (key === "text") node.textContent = String(value); else node.setAttribute(key, String(value));
            }
            for (const child of children.flat()) if (child) node.appendChild(child);
            return node;
          }
          // {status, data}: data is the parsed JSON body (or {error: text} when it is not JSON).
          async function getJSON(url, options) {
            const response = await fetch(url, Object.assign({cache: "no-store", credentials: "same-origin"}, options || {}));
            const text = await response.text();
            let data;
            try { data = JSON.parse(text); } catch (e) { data = {error: text.trim() || response.statusText}; }
            return {status: response.status, data};
          }
          const nf = (digits) => new Intl.NumberFormat("en-US", {maximumFractionDigits: digits, minimumFractionDigits: digits});
          const fmt = {
            num: (x, d = 0) => x === null || x === undefined ? "–" : nf(d).format(x),
            pct: (x, d = 1) => x === null || x === undefined ? "–" : nf(d).format(100 * x) + " %",
            pd: (x) => x === null || x === undefined ? "–" : nf(4).format(x),
            ms: (s) => s === null || s === undefined ? "–" : (s < 0.001 ? nf(0).format(s * 1e6) + " µs" : nf(1).format(s * 1000) + " ms"),
            duration: (s) => {
              s = Math.floor(s); const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
              return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min " + (d ? "" : (s % 60) + " s");
            },
          };
          function card(title, ...children) { return el("section", {class: "card"}, title ? el("h2", {text: title}) : null, ...children); }
          // A figure card; `wide` spans two grid columns and shows the value smaller (a version).
          function metric(label, value, sub, attrs, wide) {
            return el("div", {class: "card metric" + (wide ? " wide" : "")}, el("div", {class: "label", text: label}),
                      el("div", Object.assign({class: wide ? "value version" : "value", text: value}, attrs || {})), sub ? el("div", {class: "sub"}, sub) : null);
          }
          // A table: headers ([text] or [[text, class]]) and rows of cells (a Node, or text).
          function table(headers, rows) {
            const head = el("tr", {}, headers.map(h => Array.isArray(h) ? el("th", {class: h[1], text: h[0]}) : el("th", {text: h})));
            const body = rows.map(row => el("tr", {}, row.map((cell, i) => {
              const cls = Array.isArray(headers[i]) ? headers[i][1] : null;
              return el("td", {class: cls}, cell instanceof Node ? cell : (cell === null || cell === undefined ? "–" : String(cell)));
            })));
            return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
          }
          function kv(pairs) { return el("dl", {class: "kv"}, pairs.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {}, v instanceof Node ? v : String(v ?? "–"))])); }
          // A horizontal stacked bar of shares (each {label, value, cls}).
          function stackedBar(parts, width = 360, height = 18) {
            const total = parts.reduce((a, p) => a + p.value, 0) || 1;
            let x = 0;
            const rects = parts.map(p => {
              const w = width * p.value / total;
              const r = svg("rect", {x, y: 0, width: Math.max(0, w), height, class: "sw-" + p.cls}, svg("title", {text: p.label + ": " + p.value}));
              x += w; return r;
            });
            // As wide as its card: the shares stretch horizontally, the height stays.
            return svg("svg", {width: "100%", height, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img"}, rects);
          }
          // A line chart of points [{t, v}], newest right; min 0, max the data's or `max`.
          function sparkline(points, {width = 380, height = 90, max = null, format = (v) => String(v)} = {}) {
            const values = points.map(p => p.v).filter(v => v !== null && v !== undefined);
            const top = max ?? Math.max(1e-9, ...values);
            const n = points.length, px = (i) => n < 2 ? width : 4 + (width - 8) * i / (n - 1);
            const py = (v) => height - 16 - (height - 32) * Math.min(1, v / top);
            const path = points.map((p, i) => p.v === null || p.v === undefined ? null : `${px(i).toFixed(1)},${py(p.v).toFixed(1)}`).filter(Boolean);
            return svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img"},
              svg("line", {x1: 0, x2: width, y1: height - 16, y2: height - 16, stroke: "#d8dee6"}),
              svg("line", {x1: 0, x2: width, y1: 16, y2: 16, stroke: "#eef1f5"}),
              svg("text", {x: 2, y: 11, "font-size": 10, fill: "#5b6775", text: "max " + format(top)}),
              svg("text", {x: 2, y: height - 3, "font-size": 10, fill: "#5b6775", text: n ? "last " + n + " samples" : "no samples yet"}),
              path.length ? svg("polyline", {points: path.join(" "), fill: "none", stroke: "#1f5fa8", "stroke-width": 2}) : null);
          }
          function decisionClass(d) { return ["approve", "review", "decline"].includes(d) ? d : ""; }
          function setStatus(text, isError) {
            const node = document.getElementById("status");
            if (!node) return;
            node.textContent = text || "";
            node.className = isError ? "error" : "muted";
            node.hidden = !text;
          }
          function errorText(answer) { return "HTTP " + answer.status + ": " + (answer.data && answer.data.error ? answer.data.error : "unexpected answer"); }
          // The header's "serving NAME VERSION" from /model (open to probes, always there).
          async function serving() {
            const answer = await getJSON("/model").catch(() => null);
            if (!answer || answer.status !== 200) return null;
            const m = answer.data;
            document.getElementById("serving").textContent = "serving " + m.name + " " + m.version + (m.challenger ? "  ·  challenger " + m.challenger.version : "");
            return m;
          }
          const main = () => document.getElementById("main");
          const params = () => new URLSearchParams(location.search);
          return {el, svg, getJSON, fmt, card, metric, table, kv, stackedBar, sparkline, decisionClass, setStatus, errorText, serving, main, params};
        })();
        """#
}
