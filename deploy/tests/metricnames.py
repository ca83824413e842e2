"""Metric names: which ones the shipped rules and dashboard use, which ones deploy/METRICS.md
documents, and which ones a live /metrics scrape exposes.

The PromQL reading here is deliberately small: it strips what cannot be a metric name (string
literals, label matchers in braces, range and subquery brackets, the label lists of by/without/
on/ignoring/group_left/group_right, Grafana variables, numbers) and keeps every remaining
identifier that is not a function call or a keyword. Its result is checked against the
documented table, so a name it misread shows up as a test failure, not as a silent pass.
"""
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "loanscore-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "loanscore-rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "loanscore-dashboard.json"
METRICS_TABLE = DEPLOY / "METRICS.md"

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Series Prometheus makes itself for every target (not exported by loanscored).
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "inf", "nan", "atan2", "start", "end"}


def promql_names(expr):
    """The metric (and recording rule) names an expression selects."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)   # string literals
    s = re.sub(r"\{[^}]*\}", " ", s)                                            # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                                           # ranges, subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " ", s)                                    # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS:
            continue
        names.add(name)
    return names


def load_yaml(path):
    import yaml  # PyYAML: in the Training venv (a dependency of its test extras' tools)
    return yaml.safe_load(Path(path).read_text())


def rules():
    """[(group, rule dict)] of the shipped rules file."""
    return [(g["name"], r) for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def recording_names():
    return {r["record"] for _, r in rules() if "record" in r}


def alert_names():
    return [r["alert"] for _, r in rules() if "alert" in r]


def dashboard():
    return json.loads(DASHBOARD.read_text())


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def dashboard_exprs():
    """Every query of the dashboard: panel targets, and the metric of each variable query."""
    d = dashboard()
    exprs = [t["expr"] for p in panels(d["panels"]) for t in p.get("targets", []) if t.get("expr")]
    for v in d["templating"]["list"]:
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*", q)
        exprs.append(m.group(1) if m else q)
    return exprs


def used_names():
    """{metric name: [where]} used by the rules and the dashboard (recording rules included)."""
    used = {}
    for group, r in rules():
        for n in promql_names(r["expr"]):
            used.setdefault(n, []).append(f"rule {r.get('record') or r.get('alert')} ({group})")
    for e in dashboard_exprs():
        for n in promql_names(e):
            used.setdefault(n, []).append("dashboard: " + e[:80])
    return used


def documented_metrics(path=METRICS_TABLE):
    """(name -> type, source) from deploy/METRICS.md, the one documented table.

    METRICS.md: a markdown table whose first column is the metric name in backticks
    (optionally with its labels, `loanscore_pd{model_version}`); a cell reading `histogram`
    (any column) marks a histogram, whose _bucket/_sum/_count series then count as documented.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: it is the documented table of every metric loanscored exports")
    table = {}
    for line in path.read_text().splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.match(r"`([A-Za-z_:][\w:]*)", cells[0])
        if not m:
            continue
        kinds = {c.strip("` ").lower() for c in cells[1:]}
        kind = next((k for k in ("histogram", "summary", "counter", "gauge") if k in kinds), "untyped")
        table[m.group(1)] = kind
    return table, path.name


def family(name, types):
    """The metric family a series name belongs to, given {family: type}."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def parse_exposition(text):
    """(sample names, {family: type}) of a Prometheus text exposition; families declared by a
    TYPE or HELP line count even when they have no sample yet."""
    samples, types = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line.startswith("# HELP "):
            types.setdefault(line.split()[2], "untyped")
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[A-Za-z_:][\w:]*", line).group(0))
    return samples, types
