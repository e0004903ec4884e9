"""Operations: the Kubernetes manifests, the Prometheus rules, the Grafana
dashboard, and that every metric the last two query is one tollgate exports.

* ``promtool check rules`` and ``promtool test rules`` (Debian's
  ``prometheus`` package; tests/run.sh installs it). Missing promtool fails.
* The kustomization is built with ``kubectl kustomize`` when kubectl is on
  the PATH (it bundles kustomize; not a Debian package), else assembled here
  from its ``resources`` and ``configMapGenerator``; each object is then
  validated against the Kubernetes JSON schemas bundled in the
  ``kubernetes-validate`` wheel (offline, strict: unknown fields fail), and
  the fields the deployment relies on are checked.
* The real tollgate binary, with traffic, is scraped; every metric name the
  dashboard's PromQL and the rules use must appear (a ``# TYPE`` line counts).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO, start_tollgate

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
PROM = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
K8S_VERSION = "1.30.0"

# The friction budget's series (#14), which the rules and the dashboard
# query: declared on /metrics from the start, a sample per country once one
# of its sends went out as a probe.
FRICTION_METRICS = {
    "tollgate_friction_budget_exhausted",
    "tollgate_friction_degraded_total",
}


# --------------------------------------------------------------------------
# Prometheus rules
# --------------------------------------------------------------------------


def promtool() -> str:
    p = shutil.which("promtool")
    assert p, "promtool is missing: apt-get install prometheus (tests/run.sh does)"
    return p


def test_promtool_check_rules():
    r = subprocess.run([promtool(), "check", "rules", str(PROM / "tollgate.rules.yml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_promtool_test_rules():
    tests = sorted(str(p) for p in (PROM / "tests").glob("*.yml"))
    assert tests
    r = subprocess.run([promtool(), "test", "rules", *tests], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_alert_has_a_promtool_test_that_fires_it():
    rules = yaml.safe_load((PROM / "tollgate.rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    fired = set()
    for p in (PROM / "tests").glob("*.yml"):
        for t in yaml.safe_load(p.read_text())["tests"]:
            for a in t.get("alert_rule_test", []):
                if a.get("exp_alerts"):
                    fired.add(a["alertname"])
    assert alerts - fired == set()
    assert {"TollgateAttackInProgress", "TollgateFrictionBudgetExhausted", "TollgateHoldQueuePastDeadline",
            "TollgateUpstreamErrors", "TollgateRedisUnreachable", "TollgateReplicasDisagree"} <= alerts


# --------------------------------------------------------------------------
# Metric names queried by the dashboard and the rules
# --------------------------------------------------------------------------

PROMQL_WORDS = {
    "sum", "by", "without", "rate", "irate", "increase", "max", "min", "avg", "count", "topk", "bottomk",
    "histogram_quantile", "sort_desc", "sort", "and", "or", "unless", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "label_values", "absent", "round", "time", "le", "vector", "scalar",
    "clamp_min", "clamp_max", "delta", "deriv", "changes", "resets", "abs", "humanize",
}


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that name series: outside label
    matchers, {{ templates }}, strings and ranges; record-rule names
    (`a:b:c`) excluded."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^{}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for w in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if w in PROMQL_WORDS or ":" in w or w.startswith("__"):
            continue
        names.add(w)
    return names


def family(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name) if re.search(r"_seconds_(bucket|sum|count)$", name) else name


def dashboard_exprs() -> list[str]:
    d = json.loads((GRAFANA / "tollgate.json").read_text())
    out = []
    for p in d["panels"]:
        out += [t["expr"] for t in p.get("targets", [])]
    for v in d["templating"]["list"]:
        if isinstance(v.get("query"), dict):
            out.append(re.sub(r"label_values\((\w+),.*\)", r"\1", v["query"]["query"]))
    return out


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((PROM / "tollgate.rules.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def queried_metrics() -> set[str]:
    return {family(n) for e in dashboard_exprs() + rule_exprs() for n in metric_names(e)}


def test_metric_name_extraction():
    assert metric_names('histogram_quantile(0.99, sum by (upstream, le) (rate(tollgate_upstream_seconds_bucket{pod=~"$pod"}[5m])))') \
        == {"tollgate_upstream_seconds_bucket"}
    assert metric_names("count(count by (hash) (tollgate_policy_info)) > 1") == {"tollgate_policy_info"}
    assert metric_names("sum(tollgate:stopped_cost_per_hour:rate10m) > 50") == set()
    assert family("tollgate_decision_seconds_bucket") == "tollgate_decision_seconds"
    assert family("tollgate_upstream_errors_total") == "tollgate_upstream_errors_total"


def test_dashboard_is_the_generators_output():
    r = subprocess.run([sys.executable, "-c",
                        "import runpy,json,sys; g=runpy.run_path(sys.argv[1]); print(json.dumps(g['dashboard'], indent=2))",
                        str(GRAFANA / "generate.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (GRAFANA / "tollgate.json").read_text(), "run python3 deploy/grafana/generate.py"


def test_dashboard_covers_the_issue():
    d = json.loads((GRAFANA / "tollgate.json").read_text())
    assert d["uid"] == "tollgate"
    titles = " | ".join(p["title"] for p in d["panels"])
    for want in ("Decisions by action", "Reasons", "Stopped cost by country", "organic friction", "Held sends",
                 "Oldest held send", "Upstream latency", "Upstream errors", "Redis connected", "Table sizes"):
        assert want in titles, want
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))


def parse_exposition(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(family(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)))
    return names


def test_every_queried_metric_is_exported(fake, pki, tmp_path):
    """The real binary with Redis configured (unreachable: the shared
    families and tollgate_shared_connected 0) and traffic: allowed, blocked
    (stopped cost) and held sends."""
    import e2e_numbers as N
    import sdk_clients as S
    from helpers import AdminApi, fresh_mobile
    from conftest import ADMIN_TOKEN
    from twilio.base.exceptions import TwilioRestException

    tg = start_tollgate(fake, pki, tmp_path, extra_args=("--redis", "redis://127.0.0.1:9"))
    try:
        admin = AdminApi(tg.admin_url, ADMIN_TOKEN)
        client = S.twilio_client(tg.url)
        client.messages.create(to=N.ALLOWED_MAIN.e164, from_=S.TWILIO_FROM, body="code 1")
        with pytest.raises(TwilioRestException):
            client.messages.create(to=N.FRAUD[0].e164, from_=S.TWILIO_FROM, body="code 2")
        held = fresh_mobile()
        admin.add_list("number", held, "hold", ttl_seconds=3600, note="ops")
        client.messages.create(to=held, from_=S.TWILIO_FROM, body="code 3")
        text = admin.metrics()
    finally:
        tg.stop()
    exported = parse_exposition(text)
    queried = queried_metrics()
    assert len(queried) >= 15, queried
    missing = queried - exported
    assert missing == set(), f"queried but not exported: {sorted(missing)}"
    assert FRICTION_METRICS <= queried
    # Samples, not only TYPE lines, for what this traffic produces.
    assert re.search(r'^tollgate_stopped_cost_total\{country="\w+"\} [0-9.]+$', text, re.M), text
    assert re.search(r'^tollgate_policy_info\{hash="[0-9a-f]{16}"\} 1$', text, re.M)
    assert re.search(r'^tollgate_held_sends [1-9]', text, re.M)
    assert re.search(r'^tollgate_held_oldest_seconds [0-9.]+$', text, re.M)
    assert re.search(r'^tollgate_store_rows\{table="held"\} [1-9]', text, re.M)
    # The counter tables: what this traffic filled, and every ceiling.
    assert re.search(r'^tollgate_state_entries\{table="numbers"\} [1-9]', text, re.M), text
    ceilings = dict(re.findall(r'^tollgate_state_max_bytes\{table="(\w+)"\} ([0-9]+)$', text, re.M))
    assert set(ceilings) == {
        "numbers", "sends", "range_sends", "distinct", "conversions", "trusted", "sequences",
        "friction", "probes_held", "probes_sent", "probes_answered",
    }, ceilings
    assert all(int(c) > 0 for c in ceilings.values()), ceilings
    assert re.search(r'^tollgate_shared_connected 0$', text, re.M)


def test_a_misspelt_metric_would_be_caught():
    exported = parse_exposition("# TYPE tollgate_held_sends gauge\ntollgate_held_sends 0\n")
    assert {family(n) for n in metric_names("max(tollgate_held_send) > 0")} - exported == {"tollgate_held_send"}


# --------------------------------------------------------------------------
# Kubernetes manifests
# --------------------------------------------------------------------------


def assemble_without_kubectl() -> list[dict]:
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objs = []
    for res in k["resources"]:
        objs += [o for o in yaml.safe_load_all((K8S / res).read_text()) if o]
    for g in k.get("configMapGenerator", []):
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": g["name"]},
                     "data": {Path(f).name: (K8S / f).read_text() for f in g["files"]}})
    for o in objs:
        if o["kind"] != "Namespace":
            o["metadata"]["namespace"] = k["namespace"]
    return objs


def built_manifests() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl:
        r = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return [o for o in yaml.safe_load_all(r.stdout) if o]
    return assemble_without_kubectl()


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    return built_manifests()


def by_kind(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"].startswith(name))]
    assert found, (kind, name)
    return found[0]


def test_manifests_validate_against_the_kubernetes_schemas(manifests):
    import kubernetes_validate

    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for o in manifests + [secret]:
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)
    # The validator does fail on a bad manifest.
    bad = json.loads(json.dumps(by_kind(manifests, "StatefulSet", "tollgate")))
    bad["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_tollgate_pods(manifests):
    sts = by_kind(manifests, "StatefulSet", "tollgate")
    assert sts["metadata"]["name"] == "tollgate"
    spec = sts["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    c = next(c for c in pod["containers"] if c["name"] == "tollgate")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    serve = tomllib.loads((K8S / "tollgate.toml").read_text())
    assert serve["admin_listen"].endswith(f":{ports['admin']}")
    assert serve["listen"].endswith(f":{ports['proxy']}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "admin"}, probe
    res = c["resources"]
    assert res["requests"]["memory"] == "384Mi" and res["limits"]["memory"] == "1280Mi"
    # Memory sized from the README's figures: the request above the
    # benchmark's RSS, the limit above the counter tables' ceiling (which a
    # Rust test holds equal to what the tables can allocate) with 300 MB to
    # spare for everything else.
    readme = (REPO / "README.md").read_text()
    bench = re.search(r"memory after 10 M distinct destinations.*?\| ([0-9.]+) MB RSS", readme)
    assert bench and float(bench.group(1)) * 1.2 < 384
    ceiling = re.search(r"counter\s+tables' ceiling is ([0-9]+) MB", readme)
    assert ceiling and int(ceiling.group(1)) + 300 < 1280 * 1.048576
    # Graceful shutdown: preStop sleep + tollgate's drain fit the grace period.
    pre = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre[1]) + serve["limits"]["shutdown_grace_s"]
    # Non-root, read-only root, no privileges.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    for cont in pod["containers"]:
        sc = cont["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, cont["name"]
        assert "resources" in cont
    assert "--uid 10001" in (DEPLOY / "Dockerfile").read_text()
    # Secrets from the Secret.
    assert {"secretRef": {"name": "tollgate-secrets"}} in c["envFrom"]
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for key in ("TOLLGATE_ADMIN_TOKEN", "TOLLGATE_DATA_KEY", "TOLLGATE_REDIS_URL", "REDIS_PASSWORD"):
        assert key in secret["stringData"], key
    # Per-replica SQLite: the data dir is a volumeClaimTemplate.
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["data"] == serve["data_dir"]
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    # Config files where tollgate.toml says.
    assert serve["policy"].startswith(mounts["policy"] + "/")
    assert serve["routes"] == mounts["routes"]
    # Redis wired to [shared].
    assert serve["shared"]["redis"].startswith("redis://tollgate-redis:")
    assert "TOLLGATE_REDIS_URL" in (REPO / "src" / "cli" / "serve.rs").read_text()


def test_policy_reload_on_configmap_change(manifests):
    pod = by_kind(manifests, "StatefulSet", "tollgate")["spec"]["template"]["spec"]
    side = next(c for c in pod["containers"] if c["name"] == "policy-reloader")
    script = side["command"][-1]
    assert "/api/v1/reload" in script and "Authorization: Bearer $TOLLGATE_ADMIN_TOKEN" in script
    # The policy ConfigMap keeps its name (updated in place) and is mounted
    # as a directory (a subPath mount never sees updates).
    names = {o["metadata"]["name"] for o in manifests if o["kind"] == "ConfigMap"}
    assert "tollgate-policy" in names
    assert any(n.startswith("tollgate-config") for n in names)
    c = next(c for c in pod["containers"] if c["name"] == "tollgate")
    assert not any(m["name"] == "policy" and "subPath" in m for m in c["volumeMounts"])


def test_services_pdb_and_redis(manifests):
    svcs = {o["metadata"]["name"]: o for o in manifests if o["kind"] == "Service"}
    assert svcs["tollgate"]["spec"]["ports"][0]["port"] == 8080
    assert svcs["tollgate-replicas"]["spec"]["clusterIP"] == "None"
    assert svcs["tollgate-redis"]["spec"]["ports"][0]["port"] == 6379
    sel = {"app.kubernetes.io/name": "tollgate"}
    pdb = by_kind(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and pdb["spec"]["selector"]["matchLabels"] == sel
    assert svcs["tollgate"]["spec"]["selector"] == sel
    redis = by_kind(manifests, "StatefulSet", "tollgate-redis")
    assert "$(REDIS_PASSWORD)" in redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert all(o["metadata"].get("namespace") == "tollgate" for o in manifests if o["kind"] != "Namespace")


def test_shipped_policy_and_routes_are_valid_and_current():
    for f in (K8S / "routes").glob("*.toml"):
        assert f.read_bytes() == (REPO / "routes" / f.name).read_bytes(), f"{f} differs from routes/{f.name}"
    assert (K8S / "policy.toml").read_bytes() == (REPO / "policies" / "default.toml").read_bytes()
    from conftest import tollgate_bin

    r = subprocess.run([str(tollgate_bin()), "check", "--policy", str(K8S / "policy.toml"),
                        "--routes", str(K8S / "routes")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
