"""A vLLM / SGLang model-server simulator: OpenAI API, engine timing, prefix cache, metrics.

In-process use: `Simulator(SimConfig(...))`, `await sim.start()`, `sim.base_url`,
`await sim.stop()`. See README.md.
"""

from .config import FaultSpec, SimConfig
from .profiles import PROFILES, Profile, get_profile
from .server import Simulator

__all__ = ["FaultSpec", "PROFILES", "Profile", "SimConfig", "Simulator", "get_profile"]
