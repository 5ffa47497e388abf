"""cases.csv and case_transactions.csv recomputed from transactions_scored.csv alone.

A from-scratch statement of issue 16's episode rule, written apart from `sink.cases`: a
customer's flagged rows (in file order) join the customer's latest case when within the
gap of its span, else open a new case; the case table is aggregated with pandas.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from shared.columns import RULE_NAMES
from sink.settings import ExportSettings


def _episodes(flagged: pd.DataFrame, gap: timedelta) -> list[str]:
    times = [datetime.fromisoformat(t) for t in flagged["timestamp"]]
    spans: dict[str, tuple[str, datetime, datetime]] = {}  # customer -> id, first, last
    ids = []
    for customer, txid, t in zip(flagged["customer_id"], flagged["transaction_id"], times,
                                 strict=True):
        span = spans.get(customer)
        if span is not None and span[1] - gap <= t <= span[2] + gap:
            span = (span[0], min(span[1], t), max(span[2], t))
        else:
            cid = "case-" + hashlib.sha256(f"{customer}\x1f{txid}".encode()).hexdigest()[:16]
            span = (cid, t, t)
        spans[customer] = span
        ids.append(span[0])
    return ids


def _reasons(group: pd.DataFrame) -> str:
    best: dict[str, tuple[float, int]] = {}
    seq = 0
    for cell, score in zip(group["reasons_top3"], group["_s"], strict=True):
        for reason in cell.split(" | ") if cell else ():
            seq += 1
            if reason not in best or score > best[reason][0]:
                best[reason] = (score, seq)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0]))
    return " | ".join(r for r, _ in ranked[:3])


def expected_cases(df: pd.DataFrame, settings: ExportSettings
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cases without the review columns, case_transactions) as the sink should list them."""
    flagged = df[df["is_flag"] == "True"].copy()
    flagged["_s"] = np.nan_to_num(pd.to_numeric(flagged["score"].replace("", np.nan)),
                                  nan=-1.0)
    flagged["_m"] = np.nan_to_num(pd.to_numeric(flagged["model_score"].replace("", np.nan)),
                                  nan=-1.0)
    flagged["_t"] = [datetime.fromisoformat(t) for t in flagged["timestamp"]]
    flagged["case_id"] = _episodes(flagged, timedelta(seconds=settings.case_gap_s))
    rows = []
    for cid, g in flagged.groupby("case_id", sort=False):
        top = g.loc[g["_s"].idxmax()]  # the first row with the highest score
        rules = {r for cell in g["triggered_rules"] if cell for r in cell.split(";")}
        labelled = (g["is_anomaly"] != "").any()
        types = sorted({t for t, a in zip(g["anomaly_type"], g["is_anomaly"], strict=True)
                        if a == "True" and t})
        rows.append({
            "case_id": cid, "customer_id": g["customer_id"].iloc[0],
            "first_time": g.loc[g["_t"].idxmin(), "timestamp"],
            "last_time": g.loc[g["_t"].idxmax(), "timestamp"],
            "_last": g["_t"].max(), "transactions": len(g),
            # the exact sum of the cells, to cents, half away from zero (docs/assurance.md)
            "total_amount": float(sum((Decimal(a) for a in g["amount"]), Decimal(0)).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP)),
            "score": g["_s"].max(), "model_score": g["_m"].max(),
            "is_ml_flag": str((g["is_ml_flag"] == "True").any()),
            "is_rule_flag": str((g["is_rule_flag"] == "True").any()),
            "triggered_rules": ";".join(r for r in RULE_NAMES if r in rules),
            "reasons_top3": _reasons(g),
            "top_transaction_id": top["transaction_id"], "channel": top["channel"],
            "country": top["country"],
            "anomalous_transactions": str(int((g["is_anomaly"] == "True").sum()))
            if labelled else "",
            "anomaly_type": ";".join(types),
            "_n_rules": len(rules),
        })
    cases = pd.DataFrame(rows)
    if cases.empty:
        return cases, flagged
    cases = cases.sort_values(["score", "_n_rules", "case_id"], ascending=[False, False, True],
                              kind="stable").reset_index(drop=True)
    # "Recent" is measured from the latest time `watermark_customers` customers' flagged
    # rows reached (none: every case is recent while fewer customers were flagged).
    reached = flagged.groupby("customer_id")["_t"].max().sort_values(ascending=False)
    quorum = settings.watermark_customers
    recent = (cases["_last"] >= reached.iloc[quorum - 1] - timedelta(days=settings.case_days)
              if len(reached) >= quorum else True)
    listed = cases[(cases.index < settings.top_cases) | recent].copy()
    listed.insert(0, "rank", range(1, len(listed) + 1))
    links = flagged[flagged["case_id"].isin(set(listed["case_id"]))]
    return listed.reset_index(drop=True), links
