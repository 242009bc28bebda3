"""A trained method's image encoder, scored under the propagation protocol from a checkpoint.

A method that learns an image encoder for another task (BKinD for ``discovery2d``, HRNet for
``pose2d``, TCC for ``alignment``) lists ``propagation`` in ``MethodSpec.tasks`` and in
``MethodSpec.frozen_tasks``: a ``propagation`` run then does not train; its ``build`` returns a
:class:`FrozenEncoderMethod` holding the encoder with the weights of a checkpoint the method
wrote in an earlier run (``--set checkpoint=PATH``: the ``checkpoint.pt``, its run folder, or
the run's record). Without one, the encoder keeps the weights it is built with (ImageNet or
random, as the method's config says), and the record's ``notes.encoder_weights`` says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kpbench.errors import ConfigError
from kpbench.propagation.encoders import IMAGENET_MEAN, IMAGENET_STD, ModuleEncoder
from kpbench.propagation.method import PropagationMethod

HINT = (
    "give --set checkpoint=PATH: a kpbench checkpoint.pt, its run folder, or the run's record "
    "(results/<dataset>/<method>/<run_id>.json)"
)


def find_checkpoint(value: str | Path) -> Path:
    """The ``checkpoint.pt`` that ``value`` names: the file, a run folder, or a run record.

    Raises:
        ConfigError: nothing there, or a record without a checkpoint artifact (one line).
    """
    path = Path(value).expanduser()
    if path.is_dir():
        path = path / "checkpoint.pt"
    elif path.suffix == ".json" and path.is_file():
        try:
            artifact = json.loads(path.read_text()).get("artifacts", {}).get("checkpoint")
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigError(f"checkpoint {path}: not a readable run record ({exc})") from None
        if not artifact:
            raise ConfigError(f"checkpoint {path}: this run recorded no checkpoint; {HINT}")
        path = path.parent / artifact
    if not path.is_file():
        raise ConfigError(f"checkpoint {path}: no such file; {HINT}")
    return path


def load_encoder_state(module: Any, value: str | Path, prefix: str, method: str) -> str:
    """Load the tensors under ``prefix`` of a kpbench checkpoint into ``module``.

    The checkpoint is what ``kpbench.training.training_loop`` writes (the model's state under
    ``"model"``) or a bare state dict; it is read with ``weights_only=True``.

    Returns:
        What was loaded, for the record's notes.

    Raises:
        ConfigError: unreadable, or no tensor / not every tensor of the encoder under ``prefix``
            (e.g. another method's checkpoint, or another backbone).
    """
    import torch

    path = find_checkpoint(value)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"checkpoint {path}: cannot be read ({type(exc).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    own = module.state_dict()
    found = {k[len(prefix) :]: v for k, v in dict(state).items() if k.startswith(prefix)}
    wrong = sorted(k for k in own if k not in found or found[k].shape != own[k].shape)
    if not found or wrong:
        raise ConfigError(
            f"checkpoint {path}: not a {method} checkpoint of this encoder ({len(wrong)} of its "
            f"{len(own)} tensors under {prefix!r} missing or mis-shaped"
            + (f", e.g. {wrong[0]!r}" if wrong else "")
            + "); check the checkpoint's method and its backbone / preset"
        )
    module.load_state_dict({k: found[k] for k in own})
    return f"{path} ({len(own)} tensors under {prefix!r})"


class FrozenEncoderMethod(PropagationMethod):
    """An encoder scored as it is: nothing trains; :meth:`predict` notes where its weights came
    from (``notes.encoder_weights``).

    Args:
        module: normalised images (B, 3, H, W) → features (B, C, h, w).
        stride: the features' cell size in input pixels.
        weights: where the weights came from, in words.
        mean, std: the normalisation the encoder was trained with (ImageNet's by default).
    """

    def __init__(self, module, stride: int, weights: str, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.model, self.weights = module, weights
        self._encoder = ModuleEncoder(module, stride, mean, std)

    def encoder(self) -> ModuleEncoder:
        return self._encoder

    def predict(self, inputs, ctx) -> dict:
        ctx.note("encoder_weights", self.weights)
        return super().predict(inputs, ctx)
