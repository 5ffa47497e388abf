"""A synthetic export snapshot for the dashboard tests: rows that only follow the columns.

`write_sample` draws scores and rules at random and derives every rollup from the rows
(`derive_tables`); it needs no detector. The real, scored snapshot committed for the `.pbix`
is made at the composition root (`auditstream.sample`, `auditstream dashboard sample`).
`python -m dashboard.sample OUT_DIR`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.spec import TABLES
from shared.atomic import atomic_text_writer, atomic_write_text
from shared.columns import (
    ASSURANCE_COLUMNS,
    AUDIT_SAMPLE_COLUMNS,
    CASE_TRANSACTIONS_COLUMNS,
    CASES_COLUMNS,
    CONFUSION_COLUMNS,
    METRICS_BY_TYPE_COLUMNS,
    RULE_COLUMNS,
    RULE_NAMES,
    SCORED_COLUMNS,
    SCORED_ROW,
    THRESHOLD_COLUMNS,
)
from shared.dayfiles import file_name
from shared.exports_folder import RUN_FILE

C_FP, C_FN = 1.0, 10.0
FACT = next(t for t in TABLES if t.day_folder)
TYPES = ("high_amount", "odd_hour", "duplicate", "burst", "impossible_travel")
CHANNELS = ("web", "app", "branch", "atm")
_TYPE_RULE = {t: f"rule_{t}" for t in TYPES}
#: The cell of a column of each kind that the sample does not draw (as the sink writes it).
_EMPTY: dict[str, object] = {"text": "", "time": "", "number": np.nan, "int": 0,
                             "bool": False, "list": "", "flags": False}


def scored_frame(rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Synthetic `transactions_scored` rows: ~3% anomalies, scores higher for anomalies."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00")
    seconds = np.sort(rng.integers(0, 30 * 86400, rows))
    is_anomaly = rng.random(rows) < 0.03
    kind = np.where(is_anomaly, rng.choice(TYPES, rows), "normal")
    score = np.where(is_anomaly, rng.beta(5, 2, rows), rng.beta(2, 6, rows)).round(4)
    df = pd.DataFrame({
        "transaction_id": np.arange(1, rows + 1),
        "customer_id": rng.integers(1, 201, rows),
        "timestamp": (start + seconds.astype("timedelta64[s]")).astype(str),
        "amount": np.where(kind == "high_amount", rng.uniform(1500, 4000, rows),
                           rng.normal(120, 40, rows).clip(1)).round(2),
        "country": rng.choice(["CH", "FR", "DE", "IT", "US"], rows, p=[.6, .1, .1, .1, .1]),
        "channel": rng.choice(CHANNELS, rows),
        "device": rng.choice(["pc", "mobile", "tablet"], rows),
        "merchant_category": rng.choice(["grocery", "electronics", "travel", "fashion"], rows),
        "ip": [f"10.0.{i % 250}.{(i * 7) % 250}" for i in range(rows)],
        "is_anomaly": is_anomaly,
        "anomaly_type": kind,
        "score": score,
        "model_score": np.where(is_anomaly, rng.beta(3, 3, rows), rng.beta(1.5, 8, rows))
        .round(4),
    })
    df["is_ml_flag"] = df["model_score"] >= 0.5
    for rule, col in zip(RULE_NAMES, RULE_COLUMNS, strict=True):
        own = (kind == rule) & (rng.random(rows) < 0.6)
        df[col] = own | (rng.random(rows) < 0.002)
    df["is_rule_flag"] = df[list(RULE_COLUMNS)].any(axis=1)
    df["is_flag"] = df["is_ml_flag"] | df["is_rule_flag"] | (df["score"] >= 0.5)
    df["triggered_rules"] = [
        ";".join(n for n, c in zip(RULE_NAMES, RULE_COLUMNS, strict=True) if row[c])
        for row in df[list(RULE_COLUMNS)].to_dict("records")
    ]
    ratio = (df["amount"] / 120).round(1)
    df["reasons_top3"] = np.where(
        df["is_flag"], "amount " + ratio.astype(str) + "x this customer's median | score "
        + df["score"].astype(str), "")
    df["model_version"] = "sample-1"
    df["source_partition"] = df["customer_id"] % 4
    df["source_offset"] = df.groupby("source_partition").cumcount()
    for f in SCORED_ROW:  # a declared column this sample does not draw: its empty value
        for column in f.columns:
            if column not in df:
                df[column] = _EMPTY[f.kind]
    return df[list(SCORED_COLUMNS)]


def threshold_table(df: pd.DataFrame, c_fp: float = C_FP, c_fn: float = C_FN) -> pd.DataFrame:
    """The 0.00..1.00 sweep of `thresholds.csv`: model-only, rules, hybrid, combined."""
    y = df["is_anomaly"].to_numpy(bool)
    rows = []
    for k in range(101):
        t = k / 100
        row: dict[str, float | int | bool] = {"threshold": t}
        for mode, flag in _modes(df, t).items():
            tp, fp = int((flag & y).sum()), int((flag & ~y).sum())
            fn, tn = int((~flag & y).sum()), int((~flag & ~y).sum())
            row |= {
                f"{mode}_tp": tp, f"{mode}_fp": fp, f"{mode}_fn": fn, f"{mode}_tn": tn,
                f"{mode}_flagged": tp + fp,
                f"{mode}_precision": tp / (tp + fp) if tp + fp else 0.0,
                f"{mode}_recall": tp / (tp + fn) if tp + fn else 0.0,
                f"{mode}_fpr": fp / (fp + tn) if fp + tn else 0.0,
                f"{mode}_workload_pct": 100.0 * (tp + fp) / len(df),
                f"{mode}_expected_cost": c_fp * fp + c_fn * fn,
            }
        rows.append(row)
    table = pd.DataFrame(rows)
    best = int(table["combined_expected_cost"].idxmin())
    table["is_recommended"] = table.index == best
    days = 30.0  # the synthetic rows span 30 days; one case per flagged row
    for mode in ("ml", "rules", "hybrid", "combined"):
        table[f"{mode}_cases_per_day"] = table[f"{mode}_flagged"] / days
    table["daily_capacity"] = 20.0  # a sample setting, so the capacity line shows
    return table[list(THRESHOLD_COLUMNS)]


def _modes(df: pd.DataFrame, t: float) -> dict[str, pd.Series]:
    """The four flags of `thresholds.csv` at threshold `t` (see `shared.columns`)."""
    ml = df["model_score"].fillna(-1.0) >= t
    rules = df["is_rule_flag"].astype(bool)
    return {"ml": ml, "rules": rules, "hybrid": ml | rules,
            "combined": df["score"].fillna(-1.0) >= t}


def derive_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """thresholds, metrics_by_type, confusion_matrix and cases from the scored rows."""
    thresholds = threshold_table(df)
    t = float(thresholds.loc[thresholds["is_recommended"], "threshold"].iloc[0])
    modes = _modes(df, t)
    y = df["is_anomaly"]
    metrics = []
    for name, part in df[y].groupby("anomaly_type"):
        n = len(part)
        row: dict[str, object] = {"section": "anomaly_type", "name": name, "support": n}
        for prefix, mode in (("", "hybrid"), ("ml_", "ml"), ("rules_", "rules"),
                             ("combined_", "combined")):
            det = int(modes[mode][part.index].sum())
            row |= {f"{prefix}detected": det, f"{prefix}recall": det / n}
        metrics.append(row)
    flags = {f"{c[5:]}": df[c] for c in RULE_COLUMNS}
    for section, name, flag in [*(("rule", k, v) for k, v in flags.items()),
                                ("model", "isolation_forest", modes["ml"]),
                                ("hybrid", "hybrid", modes["hybrid"]),
                                ("combined", "combined", modes["combined"])]:
        f, tf = int(flag.sum()), int((flag & y).sum())
        metrics.append({"section": section, "name": name, "flags": f, "true_flags": tf,
                        "precision": tf / f if f else 0.0})
    confusion = [
        {"mode": mode, "threshold": t, "actual": a, "predicted": p,
         "count": int(((y == a) & (flag == p)).sum())}
        for mode, flag in modes.items()
        for a in (True, False) for p in (True, False)
    ]
    # Synthetic stand-in: each flagged row is its own case (the sink groups episodes).
    flagged = df[df["is_flag"]].sort_values(["score", "transaction_id"], ascending=[False, True])
    flagged = flagged.head(100).reset_index(drop=True)
    cases = pd.DataFrame({
        "rank": flagged.index + 1, "case_id": "case-" + flagged["transaction_id"].astype(str),
        "customer_id": flagged["customer_id"], "first_time": flagged["timestamp"],
        "last_time": flagged["timestamp"], "transactions": 1,
        "total_amount": flagged["amount"], "score": flagged["score"],
        "model_score": flagged["model_score"], "is_ml_flag": flagged["is_ml_flag"],
        "is_rule_flag": flagged["is_rule_flag"], "triggered_rules": flagged["triggered_rules"],
        "reasons_top3": flagged["reasons_top3"],
        "top_transaction_id": flagged["transaction_id"], "channel": flagged["channel"],
        "country": flagged["country"],
        "anomalous_transactions": flagged["is_anomaly"].astype(int),
        "anomaly_type": np.where(flagged["is_anomaly"], flagged["anomaly_type"], ""),
        "outcome": "", "reviewer": "", "reviewed_at": "", "note": ""})
    links = pd.DataFrame({
        "case_id": cases["case_id"], "transaction_id": flagged["transaction_id"],
        "customer_id": flagged["customer_id"], "timestamp": flagged["timestamp"],
        "amount": flagged["amount"], "score": flagged["score"],
        "is_anomaly": flagged["is_anomaly"]})
    quiet = df[~df["is_flag"]].head(20)
    sample = pd.DataFrame({
        "day": quiet["timestamp"].str[:10], "amount_band": "50-200",
        "transaction_id": quiet["transaction_id"], "customer_id": quiet["customer_id"],
        "timestamp": quiet["timestamp"], "amount": quiet["amount"], "score": quiet["score"],
        "model_score": quiet["model_score"], "rank_in_stratum": range(1, len(quiet) + 1),
        "outcome": "", "reviewer": "", "reviewed_at": "", "note": ""})
    assurance = pd.DataFrame([
        {"section": "mode", "name": name, "reviewed": 0, "confirmed": 0, "dismissed": 0,
         "unclear": 0} for name in ("rules", "model", "hybrid")]).reindex(
        columns=list(ASSURANCE_COLUMNS))
    return {
        "thresholds": thresholds,
        "metrics_by_type": pd.DataFrame(metrics).reindex(columns=list(METRICS_BY_TYPE_COLUMNS)),
        "confusion_matrix": pd.DataFrame(confusion)[list(CONFUSION_COLUMNS)],
        "cases": cases[list(CASES_COLUMNS)],
        "case_transactions": links[list(CASE_TRANSACTIONS_COLUMNS)],
        "audit_sample": sample[list(AUDIT_SAMPLE_COLUMNS)],
        "assurance": assurance,
    }


def write_day_files(df: pd.DataFrame, out_dir: Path) -> None:
    """The scored rows by event day, as the sink lays them out (`shared.dayfiles`)."""
    folder = out_dir / FACT.day_folder
    folder.mkdir(parents=True, exist_ok=True)
    for day, rows in df.groupby(pd.to_datetime(df["timestamp"]).dt.strftime("%Y-%m-%d")):
        with atomic_text_writer(folder / file_name(str(day))) as fh:
            rows.to_csv(fh, index=False, lineterminator="\n")


def write_sample(out_dir: Path, rows: int = 2000, seed: int = 7) -> Path:
    """Write the day files, four CSVs and run.json of a synthetic run into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    df = scored_frame(rows, seed)
    write_day_files(df, out_dir)
    for name, table in derive_tables(df).items():
        with atomic_text_writer(out_dir / f"{name}.csv") as fh:
            table.to_csv(fh, index=False, float_format="%.6g", lineterminator="\n")
    run = {"producer": "dashboard.sample (synthetic stand-in)", "rows": rows, "seed": seed,
           "c_fp": C_FP, "c_fn": C_FN, "model_version": "sample-1"}
    atomic_write_text(out_dir / RUN_FILE, json.dumps(run, indent=2) + "\n", durable=False)
    return out_dir


if __name__ == "__main__":
    write_sample(Path(sys.argv[1] if len(sys.argv) > 1 else "sample_exports"))
