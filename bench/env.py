"""The bench's own tools: a Python 3.12 venv with inference-perf and sglang-router, and a local
tokenizer (no Hugging Face hub access anywhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_VENV = REPO / ".venv-bench312"
PEERS = ["inference-perf==0.7.0", "sglang-router==0.3.2", "tokenizers==0.22.2"]
# Names tried on PATH, 3.12 (the version inference-perf was checked with) first. On these machines a name on PATH may be a pyenv shim that
# only fails ("pyenv: python3.12: command not found"), so every candidate is *run*, never just
# found; pyenv's versions directory is searched too, since the real interpreters live there.
PYTHON_NAMES = ["python3.12", "python3.13"]
INSTALL_HINT = ("inference-perf needs Python >= 3.12 and none was found that runs. Install one "
                "(Debian: `apt-get install python3.12-venv`, or `pyenv install 3.12`) or point "
                "BENCH_PYTHON312 (or `make bench PY312=...`) at a python3.12 binary.")


def runs_as_312(path: str) -> bool:
    """True when `path` starts, is Python >= 3.12 and can create a venv."""
    try:
        done = subprocess.run([path, "-P", "-c", "import sys, venv; sys.exit(sys.version_info < (3, 12))"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def python312_candidates() -> list[str]:
    explicit = [os.environ[k] for k in ("BENCH_PYTHON312", "PY312") if os.environ.get(k)]
    on_path = [p for name in PYTHON_NAMES if (p := shutil.which(name))]
    plain = [p for p in [shutil.which("python3")] if p]  # last: usually older than 3.12
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    pyenv = sorted(str(p) for p in root.glob("3.1[2-9]*/bin/python3")) if root.is_dir() else []
    return list(dict.fromkeys(explicit + on_path + pyenv + plain))


def find_python312() -> str:
    for candidate in python312_candidates():
        if runs_as_312(candidate):
            return candidate
    raise SystemExit(INSTALL_HINT)


def ensure_bench_venv(venv: Path = BENCH_VENV) -> Path:
    """Create the bench venv (once) with the pinned peers; return its bin/ directory."""
    stamp = venv / ".bench-installed"
    bin_dir = venv / "bin"
    if stamp.exists() and stamp.read_text() == "\n".join(PEERS):
        return bin_dir
    if not (bin_dir / "python").exists():
        # -P: the repo's top-level `operator/` must not shadow the standard library.
        subprocess.run([find_python312(), "-P", "-m", "venv", str(venv)], check=True)
    print(f"installing {' '.join(PEERS)} into {venv} (once)", flush=True)
    subprocess.run([str(bin_dir / "python"), "-P", "-m", "pip", "install", "--quiet", *PEERS], check=True)
    stamp.write_text("\n".join(PEERS))
    return bin_dir


def write_tokenizer(directory: Path, bench_bin: Path) -> Path:
    """A word-level Hugging Face tokenizer over the simulator's filler vocabulary, written by
    the `tokenizers` library itself (in the bench venv) so inference-perf's transformers loads it.

    Words are 3-5 letters with a leading space, so ~4-5 characters a token, and the simulator's
    own tokenizer counts each such word as one token: client and pods agree on lengths."""
    from inference_gateway.simulator.hf_tokenizer_files import write_tokenizer_dir

    # 6000 words: the generated vocabulary has no digits below 6400 entries (one token each).
    write_tokenizer_dir(directory, vocab_size=6000)
    script = (
        "import sys, json\n"
        "from tokenizers import Tokenizer, models, pre_tokenizers\n"
        "d = sys.argv[1]\n"
        "src = json.load(open(d + '/tokenizer.json'))\n"
        "tok = Tokenizer(models.WordLevel(src['model']['vocab'], unk_token='[UNK]'))\n"
        "tok.pre_tokenizer = pre_tokenizers.Whitespace()\n"
        "tok.add_special_tokens([t['content'] for t in src['added_tokens']])\n"
        "tok.save(d + '/tokenizer.json')\n"
        "words = list(src['model']['vocab'])[10:20]\n"
        "assert tok.encode(' '.join(words)).ids == [src['model']['vocab'][w] for w in words]\n"
    )
    subprocess.run([str(bench_bin / "python"), "-P", "-c", script, str(directory)], check=True)
    return directory


if __name__ == "__main__":  # `make bench-deps`: the bench venv alone
    print(ensure_bench_venv())
