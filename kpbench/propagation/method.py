"""Base class of every method scored under the propagation protocol.

A tracker plugin (colorization, CorrFlow, MAST, CycleTime, UVC, CRW, ...) subclasses
:class:`PropagationMethod`, sets ``self.model`` to its ``torch.nn.Module`` (the runner moves
it to the run's device) and implements :meth:`~PropagationMethod.encoder`. Prediction,
the timed inference call and its example batch come from here, so every method is run
through the same propagator with the task's settings (the input's ``protocol``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from kpbench.method import Method, RunContext
from kpbench.propagation.encoders import Encoder
from kpbench.propagation.propagator import propagate, settings_from

#: Side of the square example frames :meth:`PropagationMethod.example_batch` makes (px).
EXAMPLE_SIZE = 320


class PropagationMethod(Method):
    """A method that propagates keypoints by the affinity of its encoder's features."""

    @abstractmethod
    def encoder(self) -> Encoder:
        """The encoder the propagator uses (e.g. a :class:`ModuleEncoder` of ``self.model``)."""

    def _device(self):
        import torch

        params = iter(self.model.parameters()) if self.model is not None else iter(())
        first = next(params, None)
        return first.device if first is not None else torch.device("cpu")

    def predict(self, inputs: Sequence[dict], ctx: RunContext) -> dict:
        """``{"keypoints": (F, K, 2)}``: every input video propagated, concatenated in order.

        Each input is propagated from its ``first_keypoints`` with the settings of its
        ``protocol`` field (the task's options; defaults when absent) on ``ctx.device``.
        """
        encoder = self.encoder()
        if hasattr(encoder, "to"):
            encoder.to(ctx.device)
        parts = [
            propagate(
                encoder,
                x["frames"],
                x["start"],
                x["num_frames"],
                x["first_keypoints"],
                x["first_visibility"],
                settings_from(x.get("protocol")),
                device=ctx.device,
            )
            for x in ctx.progress(inputs, total=len(inputs), desc="propagate")
        ]
        if not parts:
            return {"keypoints": np.zeros((0, 0, 2))}
        return {"keypoints": np.concatenate(parts)}

    def example_batch(self, batch_size: int, data=None):
        """``batch_size`` random 320 × 320 RGB frames in [0, 1] on the model's device."""
        import torch

        gen = torch.Generator().manual_seed(0)
        x = torch.rand(batch_size, 3, EXAMPLE_SIZE, EXAMPLE_SIZE, generator=gen)
        return x.to(self._device())

    def infer(self, batch):
        """The encoder on one batch of frames (the per-frame cost the propagator pays)."""
        return self.encoder()(batch)
