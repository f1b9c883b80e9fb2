"""deploy/prometheus/alerts.yml: valid rule groups that only use metrics the platform exports."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Metrics exported by RabbitMQ itself (rabbitmq_prometheus), not by our processes.
EXTERNAL = re.compile(r"^rabbitmq_")
PROMQL_WORDS = {"min", "max", "sum", "by", "without", "rate", "increase", "and", "or", "unless", "bool",
                "on", "ignoring", "group_left", "group_right"}


def our_metric_names() -> set[str]:
    from prometheus_client import REGISTRY

    import servicekit.messaging.metrics  # noqa: F401  (registers the worker's metrics)
    import servicekit.metrics  # noqa: F401  (registers the web process's metrics)

    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_every_rule_is_complete():
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names)) >= 4
    for rule in rules():
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_use_only_exported_metrics():
    known = our_metric_names()
    for rule in rules():
        expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", rule["expr"])
        metrics = {w for w in re.findall(r"[a-z_][a-z0-9_]*", expr) if w not in PROMQL_WORDS and w != "service"
                   and w != "queue"}
        for name in metrics:
            assert EXTERNAL.match(name) or name in known, f"{rule['alert']}: {name} is not exported"
