"""Pure translation: Kubernetes objects → the router's `RoutingTable` and Envoy's resources.

No I/O here: every function takes objects and returns data, so it is tested with golden files
(tests/translate/testdata/NAME.in.yaml → NAME.out.yaml).
"""
