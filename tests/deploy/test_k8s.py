"""deploy/k8s: every manifest parses and is wired consistently (no cluster needed).

Checks every YAML document has apiVersion/kind/metadata.name, every service has a web
Deployment, a worker Deployment and a migration Job, probes point at the health endpoints on
the container port, Services/HPAs/PDBs/Ingress reference things that exist, configuration
comes from the ConfigMap and Secrets described in the repository, and pods satisfy the
"restricted" Pod Security Standard the namespace enforces.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "espace-famille"
SERVICES = {"identity": 8001, "booking": 8002, "billing": 8003, "requests": 8004, "notify": 8005}
SECRET_TEMPLATE = "secrets.example.yaml"


def load_all() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


@pytest.fixture(scope="module")
def docs() -> list[tuple[str, dict]]:
    return load_all()


@pytest.fixture(scope="module")
def resources(docs) -> list[dict]:
    """Documents kubectl would apply (the kustomization itself and the secret template excluded)."""
    return [d for f, d in docs if d.get("kind") != "Kustomization" and f != SECRET_TEMPLATE]


def find(resources, kind: str, name: str) -> dict | None:
    return next((r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name), None)


def containers(workload: dict) -> list[dict]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def main_container(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]["containers"][0]


def workloads(resources) -> list[dict]:
    return [r for r in resources if r["kind"] in ("Deployment", "Job")]


def test_every_document_parses_and_is_identified(docs):
    assert docs, "no manifests under deploy/k8s"
    for filename, doc in docs:
        assert isinstance(doc, dict), f"{filename}: a document is not a mapping"
        assert doc.get("apiVersion"), f"{filename}: document without apiVersion"
        assert doc.get("kind"), f"{filename}: document without kind"
        if doc["kind"] != "Kustomization":
            assert doc.get("metadata", {}).get("name"), f"{filename}: {doc['kind']} without metadata.name"


def test_names_are_unique_per_kind_and_valid(resources):
    seen = set()
    for r in resources:
        key = (r["kind"], r["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", r["metadata"]["name"]), key
        assert len(r["metadata"]["name"]) <= 63, key
        if r["kind"] != "Namespace":
            assert r["metadata"].get("namespace") == NAMESPACE, f"{key} not in {NAMESPACE}"


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml", SECRET_TEMPLATE}
    assert listed == on_disk, f"unlisted: {on_disk - listed}, missing files: {listed - on_disk}"
    assert SECRET_TEMPLATE not in listed, "the secret template must never be applied as is"
    images = {i["name"] for i in kustomization["images"]}
    assert images == {f"espace-famille/{s}" for s in [*SERVICES, "gateway", "mesfactures"]}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_web_worker_and_migration_job(resources, service):
    web = find(resources, "Deployment", f"{service}-web")
    worker = find(resources, "Deployment", f"{service}-worker")
    job = find(resources, "Job", f"{service}-migrate")
    assert web and worker and job, f"{service}: web={bool(web)} worker={bool(worker)} job={bool(job)}"
    assert containers(web)[0]["args"] == ["web"]
    assert main_container(worker)["args"] == ["worker"]
    assert containers(job)[0]["args"] == ["migrate"]
    for workload in (web, worker, job):
        assert containers(workload)[0]["image"] == f"espace-famille/{service}"
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"].get("backoffLimit") is not None


# `python -m <package>` of each service with a worker (consumers, relay)
WORKER_PACKAGES = {"identity": "identity", "booking": "booking", "billing": "billing", "requests": "demandes",
                   "notify": "notify"}


def platform_queues(tmp_path, monkeypatch) -> list[str]:
    """Every consumer queue of the platform, as each service's `migrate` declares them (its
    worker built as `__main__` builds it; nothing is started)."""
    import importlib

    from servicekit.cli import load_object

    monkeypatch.setenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:1//")  # never reached
    monkeypatch.setenv("EF_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    queues = []
    for package in WORKER_PACKAGES.values():
        factory = load_object(importlib.import_module(f"{package}.__main__").COMMANDS.worker_factory)
        caches = [v for v in factory.__globals__.values() if callable(getattr(v, "cache_clear", None))]
        for cache in caches:
            cache.cache_clear()
        try:
            queues += factory().queues
        finally:
            for cache in caches:
                cache.cache_clear()
    return queues


def test_no_worker_starts_before_every_services_migration_declared_its_queues(resources, tmp_path, monkeypatch):
    """The migrate Jobs (which declare each service's consumer queues) and the Deployments are
    applied together, and a topic exchange routes an event only to the queues bound when it is
    published: each worker waits in an initContainer until every queue of the platform exists."""
    listed = find(resources, "ConfigMap", "espace-famille-config")["data"].get("EF_PLATFORM_QUEUES", "").split()
    expected = platform_queues(tmp_path, monkeypatch)
    assert sorted(listed) == sorted(expected), (f"EF_PLATFORM_QUEUES: missing {sorted(set(expected) - set(listed))}, "
                                                f"unknown {sorted(set(listed) - set(expected))}")
    assert len(listed) == len(set(listed))
    for service in WORKER_PACKAGES:
        assert find(resources, "Job", f"{service}-migrate"), service  # each service's queues are declared
        worker = find(resources, "Deployment", f"{service}-worker")
        pod = worker["spec"]["template"]["spec"]
        gates = [c for c in pod.get("initContainers", []) if c.get("args") == ["wait-queues"]]
        assert len(gates) == 1, f"{service}-worker starts without waiting for the platform's queues"
        [main] = pod["containers"]
        assert gates[0]["image"] == main["image"] and gates[0]["envFrom"] == main["envFrom"], service
    # Web pods only write events to their outbox (the worker's relay publishes them): no gate needed.
    for service in WORKER_PACKAGES:
        assert not find(resources, "Deployment", f"{service}-web")["spec"]["template"]["spec"].get("initContainers")


def test_the_sibling_portal_mesfactures_has_its_client_deployment_service_and_ingress(resources):
    """examples/mesfactures: its client registered at identity (ensure-client, its redirect and
    back-channel logout URIs), one web pod (SQLite sessions on a volume under EF_VAR_DIR),
    health probes, a Service identity's worker reaches, an Ingress on MESFACTURES_PUBLIC_URL."""
    from urllib.parse import urlsplit

    public = find(resources, "ConfigMap", "espace-famille-config")["data"]["MESFACTURES_PUBLIC_URL"]
    job = find(resources, "Job", "mesfactures-setup")
    [register] = job["spec"]["template"]["spec"]["containers"]
    args = register["args"]
    assert register["image"] == "espace-famille/identity" and args[:3] == ["ensure-client", "--client-id", "mesfactures"]
    option = {args[i]: args[i + 1] for i in range(3, len(args) - 1, 2)}
    assert option["--redirect-uri"] == "$(MESFACTURES_PUBLIC_URL)/auth/callback"
    assert option["--post-logout-redirect-uri"] == "$(MESFACTURES_PUBLIC_URL)/"
    assert option["--scopes"] == "openid invoices:read" and option["--secret-env"] == "MESFACTURES_CLIENT_SECRET"
    secrets = {r["secretRef"]["name"] for r in register["envFrom"] if "secretRef" in r}
    assert {"identity-secrets", "mesfactures-secrets"} <= secrets
    logout = urlsplit(option["--backchannel-logout-uri"])
    service = find(resources, "Service", logout.hostname)
    assert service and logout.port in {p["port"] for p in service["spec"]["ports"]}

    web = find(resources, "Deployment", "mesfactures")
    assert web["spec"]["replicas"] == 1, "sessions are a SQLite file of one pod"
    pod = web["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "espace-famille/mesfactures" and container["args"] == ["web"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BIND"] == "0.0.0.0:8010" and env["MESFACTURES_API_URL"] == "http://gateway:8000"
    assert {p["containerPort"] for p in container["ports"]} == {8010}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}[mounts["/var/lib/espace-famille"]]
    assert "mesfactures-secrets" in {r["secretRef"]["name"] for r in container["envFrom"] if "secretRef" in r}
    [(host, path, backend)] = ingress_paths(find(resources, "Ingress", "mesfactures"))
    assert f"https://{host}" == public and backend["name"] == "mesfactures" and path["path"] == "/"
    assert "mesfactures)" in (ROOT / "deploy" / "Dockerfile").read_text()  # the image is built


def ingress_paths(ingress: dict) -> list[tuple[str, dict, dict]]:
    """(host, path entry, backend service) of every rule of an Ingress."""
    return [(rule["host"], p, p["backend"]["service"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]


def test_gateway_has_deployment_migration_and_ingress(resources):
    assert find(resources, "Deployment", "gateway")
    assert find(resources, "Job", "gateway-migrate")
    ingresses = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Ingress"}
    assert set(ingresses) == {"gateway", "billing-payment-notification", "mesfactures"}
    backends = [b for _h, _p, b in ingress_paths(ingresses["gateway"])]
    assert backends and all(b["name"] == "gateway" for b in backends), "the gateway's Ingress serves the gateway only"
    service = find(resources, "Service", "gateway")
    port_names = {p.get("name") for p in service["spec"]["ports"]} | {p["port"] for p in service["spec"]["ports"]}
    for b in backends:
        assert b["port"].get("name", b["port"].get("number")) in port_names


def test_the_payment_notification_url_is_routed_to_billing_and_nothing_else_of_it(resources):
    """BILLING_NOTIFY_URL (what billing gives the provider with each attempt) reaches billing-web's
    POST /internal/payments/notify through its own Ingress, and the ingress controller may reach
    billing-web's pods; no other path of billing is exposed."""
    from urllib.parse import urlsplit

    notify_url = urlsplit(find(resources, "ConfigMap", "espace-famille-config")["data"]["BILLING_NOTIFY_URL"])
    assert notify_url.scheme == "https"
    ingress = find(resources, "Ingress", "billing-payment-notification")
    [(host, path, backend)] = ingress_paths(ingress)
    assert (host, path["path"], path["pathType"]) == (notify_url.hostname, notify_url.path, "Exact")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"] == "/internal/payments/notify"
    assert host in {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    service = find(resources, "Service", backend["name"])
    assert backend["name"] == "billing-web" and backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    # The path billing serves it on, as its own OpenAPI document declares (no service token).
    spec = yaml.safe_load((ROOT / "services" / "billing" / "billing" / "openapi.yaml").read_text())
    operation = spec["paths"]["/internal/payments/notify"]["post"]
    assert operation["operationId"] == "payment_notification" and not operation.get("security")
    # Every other Ingress path goes to the gateway (or, on its own host, the sibling portal).
    others = [b["name"] for r in resources if r["kind"] == "Ingress" and r is not ingress for _h, _p, b in ingress_paths(r)]
    assert set(others) == {"gateway", "mesfactures"}
    # The NetworkPolicy lets the ingress controller reach billing-web's http port.
    policy = find(resources, "NetworkPolicy", "billing-notification-from-ingress-controller")
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    assert any(f.get("namespaceSelector") for f in rule["from"])


@pytest.mark.parametrize("name,port", [*((f"{s}-web", p) for s, p in SERVICES.items()), ("gateway", 8000)])
def test_web_probes_and_port(resources, name, port):
    web = containers(find(resources, "Deployment", name))[0]
    ports = {p["name"]: p["containerPort"] for p in web["ports"]}
    assert port in ports.values(), f"{name} does not listen on {port}"
    env = {e["name"]: e.get("value") for e in web.get("env", [])}
    assert env.get("BIND") == f"0.0.0.0:{port}", f"{name}: BIND must open the port to the pod network"

    def probe_target(probe: dict) -> tuple[str, int]:
        get = probe["httpGet"]
        p = get["port"]
        return get["path"], (ports[p] if isinstance(p, str) else p)

    assert probe_target(web["readinessProbe"]) == ("/health/ready", port), name
    assert probe_target(web["livenessProbe"]) == ("/health/live", port), name


def test_workers_have_a_liveness_check(resources):
    for r in resources:
        if r["kind"] == "Deployment" and r["metadata"]["name"].endswith("-worker"):
            probe = main_container(r).get("livenessProbe")
            assert probe and probe["exec"]["command"] == ["ef-healthcheck", "worker"], r["metadata"]["name"]
    assert "def check_worker" in (ROOT / "deploy" / "healthcheck.py").read_text()


def test_services_select_existing_pods(resources):
    for svc in (r for r in resources if r["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        matches = [d for d in resources if d["kind"] == "Deployment"
                   and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matches) == 1, f"Service {svc['metadata']['name']} selects {len(matches)} Deployments"
        target_ports = {p["targetPort"] for p in svc["spec"]["ports"]}
        port_names = {p["name"] for p in containers(matches[0])[0]["ports"]}
        assert target_ports <= port_names | {p["containerPort"] for p in containers(matches[0])[0]["ports"]}


def test_deployment_selectors_match_their_pods(resources):
    for d in resources:
        if d["kind"] == "Deployment":
            assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()


def test_hpa_for_gateway_and_every_web(resources):
    hpas = {r["spec"]["scaleTargetRef"]["name"]: r for r in resources if r["kind"] == "HorizontalPodAutoscaler"}
    expected = {f"{s}-web" for s in SERVICES} | {"gateway"}
    assert expected <= set(hpas), f"missing HPA: {expected - set(hpas)}"
    for target, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert find(resources, "Deployment", target), f"HPA targets unknown Deployment {target}"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # the HPA owns the replica count: a fixed `replicas` would fight it on every apply
        assert "replicas" not in find(resources, "Deployment", target)["spec"], target
        for c in containers(find(resources, "Deployment", target)):
            assert c["resources"]["requests"].get("cpu"), f"{target}: CPU utilisation needs a CPU request"


def test_configuration_comes_from_the_configmap_and_documented_secrets(resources, docs):
    configmaps = {r["metadata"]["name"] for r in resources if r["kind"] == "ConfigMap"}
    template = {d["metadata"]["name"]: d for f, d in docs if f == SECRET_TEMPLATE}
    assert template and all(d["kind"] == "Secret" for d in template.values())
    assert not [r for r in resources if r["kind"] == "Secret"], "real Secrets do not belong in the repository"
    for w in workloads(resources):
        owner = w["metadata"]["labels"]["app.kubernetes.io/name"]
        for c in containers(w):
            refs = c.get("envFrom", [])
            cms = {r["configMapRef"]["name"] for r in refs if "configMapRef" in r}
            secrets = {r["secretRef"]["name"] for r in refs if "secretRef" in r}
            assert cms and cms <= configmaps, w["metadata"]["name"]
            assert secrets <= set(template), f"{w['metadata']['name']} uses undocumented secrets {secrets - set(template)}"
            assert f"{owner}-secrets" in secrets, f"{w['metadata']['name']} lacks its own secret"
    for name, secret in template.items():
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{name}.{key} holds a value instead of a placeholder"


def test_each_database_url_names_its_own_database(docs):
    template = {d["metadata"]["name"]: d for f, d in docs if f == SECRET_TEMPLATE}
    databases = {}
    for owner in [*SERVICES, "gateway"]:
        url = template[f"{owner}-secrets"]["stringData"]["DATABASE_URL"]
        m = re.match(r"postgresql://(\w+):[^@]+@[^/]+/(\w+)", url)
        assert m and m.group(1) == owner and m.group(2) == owner, url
        databases[owner] = m.group(2)
    assert len(set(databases.values())) == len(databases)


def test_configmap_covers_the_platform_variables(resources):
    data = find(resources, "ConfigMap", "espace-famille-config")["data"]
    for key in ("EF_ENV", "PUBLIC_URL", "OIDC_ISSUER", "IDENTITY_URL", "BOOKING_URL", "BILLING_URL",
                "REQUESTS_URL", "NOTIFY_URL", "SMTP_HOST", "SMTP_PORT", "LOG_LEVEL", "WEB_CONCURRENCY"):
        assert key in data, key
    assert data["EF_ENV"] == "production"
    assert data["OIDC_ISSUER"] == data["PUBLIC_URL"].rstrip("/") + "/oidc"
    for svc, port in SERVICES.items():
        assert data[f"{svc.upper()}_URL"] == f"http://{svc}-web:{port}"
        assert find(resources, "Service", f"{svc}-web"), f"{svc.upper()}_URL points at no Service"
    host = find(resources, "Ingress", "gateway")["spec"]["rules"][0]["host"]
    assert data["PUBLIC_URL"] == f"https://{host}"


def test_pods_meet_the_restricted_pod_security_standard(resources):
    ns = find(resources, "Namespace", NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for w in workloads(resources):
        pod = w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, w["metadata"]["name"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in containers(w):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, w["metadata"]["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], w["metadata"]["name"]
            assert c["resources"]["limits"].get("memory"), f"{w['metadata']['name']}: no memory limit"


KUBERNETES_VERSION = "1.30.0"  # the oldest version still supported by the major clouds


def test_documents_match_the_kubernetes_schemas(docs):
    """Strict validation (unknown fields rejected) against the OpenAPI-derived JSON schemas of
    Kubernetes, bundled by the `kubernetes-validate` package (no cluster, no network)."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate is not installed (pip install kubernetes-validate); "
               "the structural checks above still run")
    errors = []
    for filename, doc in docs:
        if doc.get("kind") == "Kustomization":
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{filename} {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)
