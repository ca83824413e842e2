/// The console's pages, stylesheet and scripts: plain HTML, CSS and JavaScript kept in this
/// module as text (no framework, no build step, nothing fetched from elsewhere), so that the
/// binary alone serves them wherever it is installed.
///
/// Every page is the same shell naming its script; scripts insert every value as text
/// (`textContent`, `createTextNode`), never as markup, and the Content-Security-Policy
/// (``AdminConsole/hardeningHeaders``) allows only these files.
enum ConsoleAssets {
    /// The pages, in navigation order: path component, title.
    static let pages: [(name: String, title: String)] = [
        ("overview", "Overview"), ("model", "Model"), ("drift", "Drift"), ("decisions", "Decisions"), ("score", "Score"),
    ]

    /// The asset served at `path` (under `/console`), or nil.
    static func asset(for path: String) -> (type: String, body: String)? {
        let name = path == "/console" || path == "/console/" ? "overview" : String(path.dropFirst("/console/".count))
        if let page = pages.first(where: { $0.name == name }) {
            return ("text/html; charset=utf-8", shell(page: page.name, title: page.title))
        }
        switch name {
        case "console.css": return ("text/css; charset=utf-8", stylesheet)
        case "console.js": return ("text/javascript; charset=utf-8", ConsoleScripts.common)
        case "overview.js": return ("text/javascript; charset=utf-8", ConsoleScripts.overview)
        case "model.js": return ("text/javascript; charset=utf-8", ConsoleScripts.model)
        case "drift.js": return ("text/javascript; charset=utf-8", ConsoleScripts.drift)
        case "decisions.js": return ("text/javascript; charset=utf-8", ConsoleScripts.decisions)
        case "score.js": return ("text/javascript; charset=utf-8", ConsoleScripts.score)
        default: return nil
        }
    }

    /// A page: the navigation (this page marked), an empty main area its script fills.
    static func shell(page: String, title: String) -> String {
        let links = pages.map { other in
            let current = other.name == page ? #" aria-current="page""# : ""
            return #"<a href="/console/\#(other.name)"\#(current)>\#(other.title)</a>"#
        }.joined(separator: "\n      ")
        return #"""
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>\#(title) · LoanScore console</title>
              <link rel="stylesheet" href="/console/console.css">
            </head>
            <body data-page="\#(page)">
              <header>
                <span class="brand">LoanScore</span>
                <nav>
                  \#(links)
                </nav>
                <span id="serving" class="serving"></span>
              </header>
              <main id="main"><p class="muted" id="status">Loading…</p></main>
              <script src="/console/console.js"></script>
              <script src="/console/\#(page).js"></script>
            </body>
            </html>

            """#
    }

    static let stylesheet = #"""
        :root { --ink: #1d2733; --muted: #5b6775; --line: #d8dee6; --bg: #f5f7fa; --card: #fff; --accent: #1f5fa8;
                --approve: #2e7d4f; --review: #b7791f; --decline: #b83a3a; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
               color: var(--ink); background: var(--bg); }
        header { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px; background: #17212d; color: #fff; }
        .brand { font-weight: 700; letter-spacing: .02em; }
        nav { display: flex; gap: 4px; }
        nav a { color: #c9d3df; text-decoration: none; padding: 6px 12px; border-radius: 4px; }
        nav a:hover { background: #243244; color: #fff; }
        nav a[aria-current="page"] { background: #2d405a; color: #fff; }
        .serving { margin-left: auto; color: #c9d3df; font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        main { padding: 20px 24px 40px; max-width: 1320px; }
        h1 { font-size: 20px; margin: 0 0 16px; }
        h2 { font-size: 15px; margin: 0 0 10px; }
        dl.kv + h2 { margin-top: 16px; }
        .muted { color: var(--muted); }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 12px; margin-bottom: 16px; }
        .grid .wide { grid-column: span 2; }
        .cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; align-items: start; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; margin-bottom: 16px;
                min-width: 0; overflow-x: auto; }
        .grid .card { margin-bottom: 0; }
        .metric .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
        .metric .value { font-size: 20px; font-weight: 600; margin-top: 2px; overflow-wrap: anywhere; }
        .metric .value.version { font-size: 15px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; padding-top: 4px; }
        .metric .sub { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
        th { color: var(--muted); font-weight: 600; font-size: 12px; }
        .hash { word-break: break-all; }  /* a 64-digit hash wraps inside its cell instead of widening the table */
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        .approve { color: var(--approve); font-weight: 600; } .review { color: var(--review); font-weight: 600; }
        .decline { color: var(--decline); font-weight: 600; }
        .band-stable { color: var(--approve); } .band-moderate { color: var(--review); } .band-significant { color: var(--decline); font-weight: 600; }
        .flagged { color: var(--decline); font-weight: 600; }
        .error { color: var(--decline); background: #fbeaea; border: 1px solid #efc4c4; border-radius: 4px; padding: 8px 12px; margin-bottom: 12px; }
        .notice { background: #eef3f9; border: 1px solid #cfdcec; border-radius: 4px; padding: 10px 14px; }
        form.inline { display: flex; gap: 8px; margin-bottom: 12px; }
        input, select, button { font: inherit; padding: 6px 8px; border: 1px solid #b9c3cf; border-radius: 4px; background: #fff; }
        input[type=text].id { width: 320px; max-width: 100%; }
        button { background: var(--accent); border-color: var(--accent); color: #fff; cursor: pointer; }
        .fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 10px 16px; }
        .field label { display: block; font-weight: 600; }
        .field input, .field select { width: 100%; }
        .field .hint { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
        .field .field-error { color: var(--decline); font-size: 12px; font-weight: 600; }
        .field.invalid input, .field.invalid select { border-color: var(--decline); }
        dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
        dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; overflow-wrap: anywhere; }
        pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; background: #f0f3f7; padding: 10px; border-radius: 4px; margin: 0; }
        code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
        svg { display: block; }
        .legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); margin-top: 6px; flex-wrap: wrap; }
        .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
        .sw-approve { background: var(--approve); } .sw-review { background: var(--review); } .sw-decline { background: var(--decline); }
        .sw-ref { background: #9aa8b8; } .sw-live { background: var(--accent); }
        rect.sw-approve { fill: var(--approve); } rect.sw-review { fill: var(--review); } rect.sw-decline { fill: var(--decline); }
        rect.sw-ref { fill: #9aa8b8; } rect.sw-live { fill: var(--accent); }
        a { color: var(--accent); }
        """#
}
