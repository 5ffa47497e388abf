"""How an exported column is named to a person: the dashboards' presentation of the
columns `shared.columns` declares (a contract says what a column is; this, how it reads)."""

from __future__ import annotations

#: How a column name's words are said to a person (`column_label`); any other word as it is.
_LABEL_WORDS: dict[str, str] = {
    "ml": "ML", "id": "ID", "ip": "IP", "pct": "%", "fpr": "FPR", "top3": "top 3",
    "tp": "true positives", "fp": "false positives", "fn": "false negatives",
    "tn": "true negatives",
}
#: The few names whose words, said in order, would read wrong.
_LABELS: dict[str, str] = {
    "reasons_top3": "Top 3 reasons",
    "is_flag": "Flagged",
    "is_anomaly": "Anomaly (label)",
    "cost_fp": "Cost of a false positive",
    "cost_fn": "Cost of a false negative",
    "precision_low": "95% low",
    "precision_high": "95% high",
    "first_time": "First transaction",
    "last_time": "Last transaction",
}


def column_label(name: str) -> str:
    """A column (or run.json key) as a person reads it, the one naming both dashboards use
    (Power BI's display names, report.html's headers):
    `ml_expected_cost` -> "ML expected cost", `case_id` -> "Case ID", `is_ml_flag` ->
    "ML flag". Derived from the name, so a column added to a contract is named too."""
    if name in _LABELS:
        return _LABELS[name]
    words = [_LABEL_WORDS.get(w, w) for w in name.removeprefix("is_").split("_") if w]
    text = " ".join(words) or name
    return text[0].upper() + text[1:]
