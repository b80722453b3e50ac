"""Our own conformance scenarios: the Kubernetes objects each conformance test needs, built in
Python. Written from what each test asserts; the names the tests look up (namespaces,
Gateways, pools, routes, app labels, paths, hosts) are the contract the tests share with the
Inference Extension's own manifests, so `IGW_CONFORMANCE_MANIFESTS` can swap those in (see
harness.py); everything else (Deployment, picker Service and label names) is ours.

The shapes are what harness.py consumes: model servers and pickers as Deployments (the harness
turns each replica into a Ready Pod manifest and starts an echo server or our router in picker
mode for it); a picker Deployment is one whose container passes `--pool-name`.
"""

from __future__ import annotations

from typing import Any

APP_NS = "inference-conformance-app-backend"
INFRA_NS = "inference-conformance-infra"
V1 = "inference.networking.k8s.io"
GATEWAY_API = "gateway.networking.k8s.io"

PRIMARY_GW, SECONDARY_GW = "conformance-primary", "conformance-secondary"
PRIMARY_POOL, SECONDARY_POOL = "primary-inference-pool", "secondary-inference-pool"
PRIMARY_APP, SECONDARY_APP = "primary-inference-model-server", "secondary-inference-model-server"
APPPROTOCOL_APP, DP_APP = "appprotocol-inference-model-server", "dp-inference-model-server"
PICKER_PORT = 9002

Doc = dict[str, Any]


# ---- builders

def namespace(name: str) -> Doc:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def gateway(name: str, hostname: str | None = None) -> Doc:
    # The harness replaces the class name and gives each Gateway its own free port.
    listener: Doc = {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}
    if hostname:
        listener["hostname"] = hostname
    return {"apiVersion": f"{GATEWAY_API}/v1", "kind": "Gateway", "metadata": {"name": name, "namespace": INFRA_NS},
            "spec": {"gatewayClassName": "set-by-harness", "listeners": [listener]}}


def _deployment(app: str, replicas: int, containers: list[Doc]) -> Doc:
    # Pod names are `<deployment>-<replica>`: tests recognise a pool's pods by the app prefix.
    labels = {"app": app}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": APP_NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}}


def model_servers(app: str, ports: tuple[int, ...] = (3000,), h2c_port: int | None = None,
                  replicas: int = 3) -> Doc:
    """`replicas` echo pods answering HTTP/1.1 on `ports`; `h2c_port` speaks cleartext HTTP/2 only."""
    containers = [{"name": f"echo-{port}", "image": "echo", "ports": [{"containerPort": port}]} for port in ports]
    if h2c_port is not None:
        containers.append({"name": f"echo-{h2c_port}", "image": "echo", "ports": [{"containerPort": h2c_port}],
                           "env": [{"name": "H2C_PORT", "value": str(h2c_port)}]})
    return _deployment(app, replicas, containers)


def pool(name: str, app: str, ports: tuple[int, ...] = (3000,), picker: str | None = None,
         failure_mode: str | None = None, app_protocol: str | None = None) -> Doc:
    spec: Doc = {"selector": {"matchLabels": {"app": app}}, "targetPorts": [{"number": p} for p in ports]}
    if app_protocol:
        spec["appProtocol"] = app_protocol
    if picker:
        spec["endpointPickerRef"] = {"name": picker, "port": {"number": PICKER_PORT},
                                     **({"failureMode": failure_mode} if failure_mode else {})}
    return {"apiVersion": f"{V1}/v1", "kind": "InferencePool", "metadata": {"name": name, "namespace": APP_NS},
            "spec": spec}


def picked_pool(name: str, app: str, **kw: Any) -> list[Doc]:
    """A pool with its own picker: the pool, the picker Service and the picker Deployment."""
    picker = f"{name}-picker"
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": picker, "namespace": APP_NS},
               "spec": {"selector": {"app": picker},
                        "ports": [{"protocol": "TCP", "port": PICKER_PORT, "targetPort": PICKER_PORT,
                                   "appProtocol": "http2"}]}}
    container = {"name": "picker", "image": "igw",
                 "args": ["--pool-name", name, "--pool-namespace", APP_NS],
                 "ports": [{"containerPort": PICKER_PORT}]}
    return [pool(name, app, picker=picker, **kw), service, _deployment(picker, 1, [container])]


def route(name: str, gateway_name: str, rules: list[tuple[str, list[Doc]]], hostname: str | None = None) -> Doc:
    """An HTTPRoute in the app namespace: one rule per (path prefix, backendRefs)."""
    spec: Doc = {"parentRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name,
                                 "namespace": INFRA_NS}],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}], "backendRefs": refs}
                           for path, refs in rules]}
    if hostname:
        spec["hostnames"] = [hostname]
    return {"apiVersion": f"{GATEWAY_API}/v1", "kind": "HTTPRoute", "metadata": {"name": name, "namespace": APP_NS},
            "spec": spec}


def to_pool(name: str, **extra: Any) -> Doc:
    return {"group": V1, "kind": "InferencePool", "name": name, **extra}


def pool_route(name: str, gateway_name: str, path: str, pool_name: str, hostname: str | None = None,
               **ref: Any) -> Doc:
    return route(name, gateway_name, [(path, [to_pool(pool_name, **ref)])], hostname)


# ---- the shared environment

def base() -> list[Doc]:
    """Two Gateways (the secondary only for its hostname), three pods for each of the primary,
    secondary, appProtocol and data-parallel model servers, and five picked pools: primary
    (fail-close), secondary (FailOpen), HTTP and h2c pools on the same pods, and a
    data-parallel pool with three target ports per pod."""
    return [
        namespace(INFRA_NS), namespace(APP_NS),
        gateway(PRIMARY_GW), gateway(SECONDARY_GW, hostname="secondary.example.com"),
        model_servers(PRIMARY_APP), model_servers(SECONDARY_APP),
        model_servers(APPPROTOCOL_APP, h2c_port=3001), model_servers(DP_APP, ports=(3000, 3002, 3004)),
        *picked_pool(PRIMARY_POOL, PRIMARY_APP),
        *picked_pool(SECONDARY_POOL, SECONDARY_APP, failure_mode="FailOpen"),
        *picked_pool("appprotocol-http-inference-pool", APPPROTOCOL_APP, app_protocol="http"),
        *picked_pool("appprotocol-h2c-inference-pool", APPPROTOCOL_APP, ports=(3001,),
                     app_protocol="kubernetes.io/h2c"),
        *picked_pool("dp-inference-pool", DP_APP, ports=(3000, 3002, 3004)),
    ]


# ---- each test's objects, by the file name its upstream manifest has

PRIMARY_HOST, SECONDARY_HOST = "primary.example.com", "secondary.example.com"

SCENARIOS: dict[str, Any] = {
    "inferencepool_accepted.yaml": lambda: [
        pool_route("httproute-for-inferencepool-accepted", PRIMARY_GW, "/accepted-pool-test", PRIMARY_POOL)],
    "inferencepool_resolvedrefs_condition.yaml": lambda: [
        # One pool behind two Gateways, so that removing one route leaves the other parent.
        pool_route("httproute-for-primary-gw", PRIMARY_GW, "/primary-gateway-test", PRIMARY_POOL, PRIMARY_HOST),
        pool_route("httproute-for-secondary-gw", SECONDARY_GW, "/secondary-gateway-test", PRIMARY_POOL,
                   SECONDARY_HOST)],
    "inferencepool_invalid_epp_service.yaml": lambda: [
        pool("pool-with-invalid-epp", PRIMARY_APP, picker="no-such-picker-service"),
        pool_route("httproute-for-invalid-epp-pool", PRIMARY_GW, "/invalid-epp-test", "pool-with-invalid-epp")],
    "inferencepool_missing_epp_ref.yaml": lambda: [
        pool("pool-with-missing-epp-ref", PRIMARY_APP),
        pool_route("httproute-for-missing-epp-ref-pool", PRIMARY_GW, "/missing-epp-ref-test",
                   "pool-with-missing-epp-ref")],
    "gateway_following_epp_routing.yaml": lambda: [
        pool_route("httproute-for-primary-gw", PRIMARY_GW, "/primary-gateway-test", PRIMARY_POOL, PRIMARY_HOST)],
    "gateway_following_epp_routing_dp.yaml": lambda: [
        pool_route("httproute-for-primary-gw-dp", PRIMARY_GW, "/primary-gateway-dp-test", "dp-inference-pool",
                   PRIMARY_HOST)],
    "gateway_destination_endpoint_served.yaml": lambda: [
        pool_route("httproute-for-destination-endpoint-served", PRIMARY_GW, "/destination-endpoint-served-test",
                   PRIMARY_POOL, PRIMARY_HOST)],
    "epp_unavailable_fail_open.yaml": lambda: [
        pool_route("httproute-for-failopen-pool-gw", SECONDARY_GW, "/failopen-pool-test", SECONDARY_POOL,
                   SECONDARY_HOST)],
    "gateway_weighted_two_pools.yaml": lambda: [
        route("httproute-weighted-two-pools", PRIMARY_GW,
              [("/weighted-two-pools-test", [to_pool(PRIMARY_POOL, weight=70), to_pool(SECONDARY_POOL, weight=30)])],
              PRIMARY_HOST)],
    "httproute_invalid_inferencepool_ref.yaml": lambda: [
        pool_route("httproute-to-non-existent-pool", PRIMARY_GW, "/test-non-existent-pool", "no-such-pool")],
    "httproute_multiple_gateways_different_pools.yaml": lambda: [
        pool_route("route-for-primary-gateway", PRIMARY_GW, "/test-primary-gateway", PRIMARY_POOL, PRIMARY_HOST),
        pool_route("route-for-secondary-gateway", SECONDARY_GW, "/test-secondary-gateway", SECONDARY_POOL,
                   SECONDARY_HOST)],
    "inferencepool_httproute_port_validation.yaml": lambda: [
        # A backendRef's port to a pool: absent, the pool's target port, and one it does not have.
        pool_route("httproute-pool-port-unspecified", PRIMARY_GW, "/test-port-unspecified", PRIMARY_POOL,
                   "port-unspecified.example.com"),
        pool_route("httproute-pool-port-matching", PRIMARY_GW, "/test-port-matching", PRIMARY_POOL,
                   "port-matching.example.com", port=3000),
        pool_route("httproute-pool-port-non-matching", PRIMARY_GW, "/test-port-non-matching", PRIMARY_POOL,
                   "port-non-matching.example.com", port=8888)],
    "inferencepool_multiple_rules_different_pools.yaml": lambda: [
        route("httproute-multiple-rules-different-pools", PRIMARY_GW,
              [("/primary", [to_pool(PRIMARY_POOL)]), ("/secondary", [to_pool(SECONDARY_POOL)])])],
    "inferencepool_appprotocol.yaml": lambda: [
        pool_route(f"httproute-for-inferencepool-appprotocol-{kind}", PRIMARY_GW,
                   f"/inferencepool-app-protocol-{kind}", pool_name, f"appprotocol-{kind}.example.com")
        for kind, pool_name in (("h2c", "appprotocol-h2c-inference-pool"),
                                ("http", "appprotocol-http-inference-pool"), ("default", PRIMARY_POOL))],
}


def scenario(name: str) -> list[Doc]:
    """A test's objects (fresh copies: the harness edits what it loads)."""
    return base() if name == "base.yaml" else SCENARIOS[name]()
