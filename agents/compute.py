"""Counting the multiply-adds a model spends per input: the compute side of "what attention buys".

:class:`MultiplyAddCounter` hooks every convolution, linear layer and recurrent layer of a model
(cells, or whole-sequence ``nn.LSTM`` / ``nn.GRU`` layers as SB3's recurrent policies use) and
adds up their multiply-adds over whatever runs inside the ``with`` block (one forward pass of
a full-canvas network, or a whole glimpse episode of an attention agent), for the whole batch;
divide by the number of inputs. Element-wise work (activations, batch norm, pooling, the retina's
integral-image lookups, a spatial transformer's bilinear sampling) is not counted: it is small
beside the layers' products and the same kind for every agent.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_RECURRENT_GATES = {nn.LSTMCell: 4, nn.GRUCell: 3, nn.RNNCell: 1}
#: Whole-sequence recurrent layers (SB3's recurrent policies use ``nn.LSTM``): gates per cell.
_SEQUENCE_GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


class MultiplyAddCounter:
    """``with MultiplyAddCounter(model) as count: ...``; then ``count.total``: the multiply-adds
    of the conv, linear and recurrent-cell layers run inside the block (whole batches)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.total = 0
        self._hooks: list[Any] = []

    def _count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            self.total += output.numel() * kernel * module.in_channels // module.groups
        elif isinstance(module, nn.Linear):
            rows = output.numel() // module.out_features
            self.total += rows * module.in_features * module.out_features
        elif isinstance(module, nn.RNNBase):
            self.total += _sequence_multiply_adds(module, output)
        else:  # a recurrent cell: gates x hidden x (input + hidden) per sample
            gates = _RECURRENT_GATES[type(module)]
            batch = inputs[0].shape[0] if inputs[0].dim() > 1 else 1
            width = module.input_size + module.hidden_size
            self.total += batch * gates * module.hidden_size * width

    def __enter__(self) -> MultiplyAddCounter:
        kinds = (nn.Conv2d, nn.Linear, *_RECURRENT_GATES, *_SEQUENCE_GATES)
        layers = [m for m in self.model.modules() if isinstance(m, kinds)]
        self._hooks = [m.register_forward_hook(self._count) for m in layers]
        return self

    def __exit__(self, *exc: object) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []


def _sequence_multiply_adds(module: nn.RNNBase, output: Any) -> int:
    """Multiply-adds of one call of an ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``: per time step and
    sample, per layer and direction, gates x hidden x (layer input + hidden)."""
    sequence = output[0] if isinstance(output, tuple) else output
    if isinstance(sequence, nn.utils.rnn.PackedSequence):
        steps = sequence.data.shape[0]  # time steps summed over the batch
    else:
        directions = 2 if module.bidirectional else 1
        steps = sequence.numel() // (directions * module.hidden_size)
    gates = _SEQUENCE_GATES[type(module)]
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    per_step = 0
    for layer in range(module.num_layers):
        width = (module.input_size if layer == 0 else hidden * directions) + hidden
        per_step += directions * gates * hidden * width
    return steps * per_step


@torch.no_grad()
def forward_multiply_adds(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``model`` on one input (the first of ``example``)."""
    with MultiplyAddCounter(model) as count:
        model(example[:1])
    return count.total
