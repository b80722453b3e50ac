"""Settings of one simulated model server."""

from __future__ import annotations

from dataclasses import dataclass, field

from .profiles import DEFAULT_PROFILE, Profile, get_profile

DEFAULT_MODEL = "/models/Qwen3-32B"


@dataclass
class FaultSpec:
    """What misbehaviour to show (see faults.py). `mode` "none" is a healthy server."""

    mode: str = "none"  # none | refuse | reset | stall | die-mid-stream
    after_chunks: int = 2  # die-mid-stream: SSE events written before the connection drops
    stall_max_s: float = 30.0  # stall: give up (close the connection) after this long
    duration_s: float | None = None  # refuse: listen again after this long (None: until cleared)


@dataclass
class SimConfig:
    runtime: str = "vllm"  # vllm | sglang
    host: str = "127.0.0.1"
    port: int = 8000
    model: str = DEFAULT_MODEL
    served_model_names: list[str] = field(default_factory=list)
    profile: Profile = field(default_factory=lambda: get_profile(DEFAULT_PROFILE))
    role: str | None = None  # sglang prefill/decode disaggregation: prefill | decode
    bootstrap_port: int | None = None
    kv_events: str | None = None  # ZMQ endpoint, e.g. tcp://*:5557 (bind) or tcp://127.0.0.1:5557
    kv_events_topic: str = ""
    pod_name: str | None = None
    time_scale: float = 1.0
    tokenizer: str | None = None  # path to a Hugging Face tokenizer.json (optional)
    default_max_tokens: int = 256
    pd_wait_s: float = 5.0  # how long a decode request waits for its prefill (x time_scale)
    fault: FaultSpec = field(default_factory=FaultSpec)

    @property
    def model_names(self) -> list[str]:
        return self.served_model_names or [self.model]

    @property
    def name(self) -> str:
        return self.pod_name or f"{self.host}:{self.port}"

    def __post_init__(self) -> None:
        if self.runtime not in ("vllm", "sglang"):
            raise ValueError(f"runtime must be vllm or sglang, not {self.runtime!r}")
        if self.role not in (None, "prefill", "decode"):
            raise ValueError(f"role must be prefill or decode, not {self.role!r}")
        if self.role == "prefill" and self.bootstrap_port is None:
            raise ValueError("--role prefill needs --bootstrap-port")
        if not self.host.startswith("127."):
            raise ValueError("the simulator listens on loopback (127.x.y.z) only")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
