#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/corpus/<Target>/ (standard library only).

Sources: Protocol/vectors/*.bin (whole frames, and their payloads behind each target's selector
byte), the tiny test bundle of Sources/LoanScoreTestSupport/TinyBundle.swift, and optionally a
trained bundle folder (`make demo` writes one to demo/bundle), whose members are trimmed to a
few trees so that seeds stay small:

    python3 Fuzz/make_seeds.py [BUNDLE_DIR]

Seeds are named after what they are; rerunning overwrites them with the same bytes.
"""
import hashlib
import json
import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "Protocol" / "vectors"
CORPUS = ROOT / "Fuzz" / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(bytes(data))


def s16(text):
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


vectors = {p.stem: p.read_bytes() for p in sorted(VECTORS.glob("*.bin"))}
FRAME_LIMITS_DEFAULT, FRAME_LIMITS_SMALL = 4, 0  # indexes into FrameDecoderFuzz's limitChoices

# FrameDecoderFuzz: `limits byte · chunking byte · stream`.
for name, frame in vectors.items():
    write("FrameDecoderFuzz", f"{name}-default-whole", bytes([FRAME_LIMITS_DEFAULT, 0]) + frame)
    write("FrameDecoderFuzz", f"{name}-small-chunked", bytes([2, 7]) + frame)
conversation = b"".join(vectors[k] for k in sorted(vectors) if int(k[:2]) <= 9)
write("FrameDecoderFuzz", "conversation-01-09-chunked", bytes([FRAME_LIMITS_DEFAULT, 5]) + conversation)
write("FrameDecoderFuzz", "ping-tiny-limits", bytes([FRAME_LIMITS_SMALL, 1]) + vectors["07-ping"])

# HandshakeFuzz: a whole conversation.
write("HandshakeFuzz", "hello-welcome", vectors["01-hello"] + vectors["02-welcome"])
write("HandshakeFuzz", "conversation-01-09", conversation)
write("HandshakeFuzz", "hello-welcome-lz4-request", vectors["01-hello"] + vectors["02-welcome"] + vectors["04-score-request-lz4"])
write("HandshakeFuzz", "hello-only", vectors["01-hello"])

# BatchDecoderFuzz: `selector · payload` (payload = the frame after its 24-byte header).
payload = {k: v[24:] for k, v in vectors.items()}
write("BatchDecoderFuzz", "0-score-request", b"\x00" + payload["03-score-request"])
write("BatchDecoderFuzz", "1-score-request-no-hash", b"\x01" + payload["03-score-request"][32:])
for selector, name in [(3, "05-score-response"), (4, "02-welcome"), (5, "01-hello"), (6, "06-error-busy"),
                       (7, "09-goodbye"), (8, "07-ping"), (7, "19-trailing-bytes")]:
    write("BatchDecoderFuzz", f"{selector}-{name}", bytes([selector]) + payload[name])


def string_schema_request():
    """SCORE_REQUEST columns for NUMBER, STRING, NUMBER, STRING (BatchDecoderFuzz selector 2), no hash."""
    ids = ["app-1", "app-2", "app-3"]
    out = struct.pack(">I", len(ids)) + b"".join(s16(i) for i in ids)
    out += bytes([0b101]) + struct.pack(">dd", 5000.0, -1.5)       # amount: apps 0 and 2
    out += bytes([0b111]) + s16("rent") + s16("own") + s16("")      # home
    out += bytes([0b011]) + struct.pack(">dd", 2500.0, float("nan"))  # income: apps 0 and 1
    out += bytes([0b000])                                             # job: all missing
    return out


write("BatchDecoderFuzz", "2-string-schema-request", b"\x02" + string_schema_request())

# LZ4Fuzz: `declared size (u32 BE) · block`, from the LZ4 vectors' headers and payloads.
for name in ["04-score-request-lz4", "16-lz4-absurd-declared-size", "17-lz4-mismatched-size"]:
    frame = vectors[name]
    write("LZ4Fuzz", name, frame[20:24] + frame[24:])
write("LZ4Fuzz", "text", struct.pack(">I", 0) + b"loan applications, loan applications, loan applications")

# BundleFuzz: `selector · file`; selector % 5 = parser, selector / 5 odd = 32 columns.
tiny = (ROOT / "Sources" / "LoanScoreTestSupport" / "TinyBundle.swift").read_text()


def swift_string(name):
    body = re.search(r"static let " + name + r' = """\n(.*?)\n    """', tiny, re.S).group(1)
    return "\n".join(line[4:] for line in body.split("\n")).encode()


for selector, name in [(0, "xgboostJSON"), (1, "forestJSON"), (2, "logisticJSON"), (3, "schemaJSON")]:
    write("BundleFuzz", f"{selector}-tiny-{name}", bytes([selector]) + swift_string(name))

tiny_manifest = {
    "format_version": 1, "model": {"name": "tiny", "version": "test-1"}, "created_at": "2026-11-29T00:00:00Z",
    "lineage": {"training_data": {"file": "none.csv", "sha256": "0" * 64, "rows": 0}, "code_commit": "unknown",
                "libraries": {"xgboost": "3.2.0", "scikit-learn": "1.9.1"}, "seed": 1},
    "schema": "schema.json",
    "features": ["amount", "income", "home=rent", "home=own", "records", "amount_to_income"],
    "members": [{"name": "xgboost", "kind": "xgboost", "file": "members/xgboost.json", "weight": 0.5},
                {"name": "forest", "kind": "random_forest", "file": "members/forest.json", "weight": 0.3},
                {"name": "logistic", "kind": "logistic_regression", "file": "members/logistic.json", "weight": 0.2}],
    "combination": "weighted_mean",
    "calibration": {"kind": "isotonic", "x": [0.0, 0.5, 1.0], "y": [0.0, 0.4, 1.0]},
    "policy": {"approve_below": 0.2, "decline_at": 0.5, "risk_levels": [
        {"name": "low", "upper": 0.2}, {"name": "medium", "upper": 0.5}, {"name": "high", "upper": 1.0}]},
    "reason_codes": {f: {"code": f"R0{i + 1}", "text": f} for i, f in enumerate(["amount", "income", "home", "records", "term"])},
    "files": {n: hashlib.sha256(swift_string(v)).hexdigest() for n, v in [
        ("schema.json", "schemaJSON"), ("members/xgboost.json", "xgboostJSON"),
        ("members/forest.json", "forestJSON"), ("members/logistic.json", "logisticJSON")]},
}
write("BundleFuzz", "4-tiny-manifest", b"\x04" + json.dumps(tiny_manifest, sort_keys=True).encode())
identity = dict(tiny_manifest, calibration={"kind": "identity"})
write("BundleFuzz", "4-tiny-manifest-identity", b"\x04" + json.dumps(identity, sort_keys=True).encode())

# CABIFuzz: `rows · mode · per field (amount, income, home, records, term of the tiny bundle):
# kind, flags, payload` (Fuzz/Sources/CABIFuzz). Kinds: 0 missing, 1 double, 2 UTF-8, 3 bool.
def utf8_column(flags, values, mask=b""):
    data = "".join(values).encode()
    return bytes([2, flags]) + mask + bytes([len(data)]) + data + bytes(len(v.encode()) for v in values)


def c_abi_batch(mode=0):
    out = bytes([3, mode])
    out += bytes([1, 1, 1, 0, 1]) + struct.pack(">ddd", 5000.0, float("nan"), 1500.0)  # amount: row 2 masked
    out += utf8_column(0, ["2500", "abc", ""])                                           # income: text
    out += utf8_column(1, ["rent", "castle", "OWN"], mask=bytes([1, 1, 0]))              # home: row 3 masked
    out += bytes([3, 0, 1, 0, 7])                                                         # records: booleans
    out += bytes([0, 0])                                                                  # term: missing column
    return out


write("CABIFuzz", "0-mixed-batch", c_abi_batch())
write("CABIFuzz", "1-column-short", c_abi_batch(mode=1))
write("CABIFuzz", "2-bad-offsets", bytes([2, 0]) + bytes([2, 2, 4]) + b"12\xc3(" + bytes([0, 250, 9]) + bytes([4, 0]) * 4)

if len(sys.argv) > 1:  # a trained bundle: 32 columns
    bundle = Path(sys.argv[1])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert len(manifest["features"]) == 32, "the wide seeds assume a 32-column bundle"
    files = {m["kind"]: bundle / m["file"] for m in manifest["members"]}
    xgb = json.loads(files["xgboost"].read_text())
    model = xgb["learner"]["gradient_booster"]["model"]
    keep = 3
    model["trees"] = model["trees"][:keep]
    model["tree_info"] = model["tree_info"][:keep]
    model["iteration_indptr"] = list(range(keep + 1))
    model["gbtree_model_param"]["num_trees"] = str(keep)
    write("BundleFuzz", "5-trained-xgboost-3-trees", b"\x05" + json.dumps(xgb, separators=(",", ":")).encode())
    forest = json.loads(files["random_forest"].read_text())
    forest["trees"] = sorted(forest["trees"], key=lambda t: len(t["children_left"]))[:2]  # the two smallest
    write("BundleFuzz", "6-trained-forest-2-trees", b"\x06" + json.dumps(forest, separators=(",", ":")).encode())
    write("BundleFuzz", "7-trained-logistic", b"\x07" + files["logistic_regression"].read_bytes())
    write("BundleFuzz", "8-trained-schema", b"\x08" + (bundle / manifest["schema"]).read_bytes())
    write("BundleFuzz", "9-trained-manifest", b"\x09" + (bundle / "manifest.json").read_bytes())
