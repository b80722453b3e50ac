"""Pure translation: Kubernetes objects → the router's `RoutingTable`, Envoy's resources per
proxy, the objects' statuses, and the problems found, all from one call:

    translation = translate(objects, TranslateSettings(...))

No I/O here: every function takes objects and returns data, so it is tested with golden files
(tests/translate/testdata/NAME.in.yaml → NAME.out.yaml, all outputs of a case in one file).
"""

from .translation import SHARED_PROXY, TranslateSettings, Translation, translate

__all__ = ["SHARED_PROXY", "TranslateSettings", "Translation", "translate"]
