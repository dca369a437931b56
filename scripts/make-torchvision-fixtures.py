#!/usr/bin/env python3
"""Tiny-width torchvision architectures exported to ONNX for the training tests.

Development time only (tests and CI read the committed .onnx files, never Python). Run with
Debian's python3 and its python3-torch / python3-torchvision (PyTorch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/make-torchvision-fixtures.py

Each model is torchvision's own class with its own blocks (squeeze-excitation, HardSwish,
channel shuffle, LayerNorm, GELU, dense concatenation, a vision transformer's class token and
attention) and a few PyTorch layers outside them (PReLU, ELU, reflect/replicate padding, strided
slicing, torch.maximum) at a width small enough to commit,
seeded random weights, eval mode (BatchNormalization kept), input [N, 3, 32, 32], 10 classes,
dynamic batch. Written to fixtures/models/torchvision/ with their opset in the name.
"""
import os
from functools import partial

import torch
import torchvision
from torchvision.models import convnext, efficientnet, mnasnet, mobilenetv3, shufflenetv2, densenet, vision_transformer, swin_transformer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'models', 'torchvision')


def mobilenet_v3():
    setting, last = mobilenetv3._mobilenet_v3_conf('mobilenet_v3_small', width_mult=0.25, reduced_tail=True)
    return mobilenetv3.MobileNetV3(setting, last, num_classes=10)


def efficientnet_b0():
    setting, last = efficientnet._efficientnet_conf('efficientnet_b0', width_mult=0.25, depth_mult=0.25)
    return efficientnet.EfficientNet(setting, 0.2, last_channel=last, num_classes=10)


def shufflenet():
    return shufflenetv2.ShuffleNetV2([1, 1, 1], [8, 16, 32, 64, 128], num_classes=10)


def mnasnet_small():
    return mnasnet.MNASNet(0.2, num_classes=10)


def convnext_small():
    blocks = [convnext.CNBlockConfig(16, 32, 1), convnext.CNBlockConfig(32, None, 1)]
    return convnext.ConvNeXt(blocks, stochastic_depth_prob=0.0, num_classes=10)


def densenet_small():
    return densenet.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=10)


def vit_small():
    return vision_transformer.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)


def swin_small():
    return swin_transformer.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4], num_classes=10)


class Layers(torch.nn.Module):
    """PyTorch layers outside the torchvision classes above: PReLU, ELU, reflect and replicate
    padding modes, a strided slice, GELU, torch.maximum."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.prelu = torch.nn.PReLU(8)
        self.c2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode='reflect')
        self.c3 = torch.nn.Conv2d(8, 8, 3, padding=1, padding_mode='replicate')
        self.fc = torch.nn.Linear(8 * 16 * 8, 10)

    def forward(self, x):
        y = torch.nn.functional.elu(self.prelu(self.c1(x)))
        y = self.c2(y)[:, :, :, ::2]
        y = torch.nn.functional.gelu(self.c3(y))
        y = torch.maximum(y, -0.5 * y)
        return self.fc(y.flatten(1))


MODELS = [
    ('mobilenet-v3-small', mobilenet_v3, [13, 17]),
    ('efficientnet-b0', efficientnet_b0, [13]),
    ('shufflenet-v2', shufflenet, [13]),
    ('convnext', convnext_small, [13, 17]),
    ('densenet', densenet_small, [13]),
    ('vit', vit_small, [13, 17]),
    ('swin', swin_small, [13]),
    ('layers', Layers, [13]),
]

if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    for name, make, opsets in MODELS:
        torch.manual_seed(0)
        model = make().eval()
        x = torch.randn(1, 3, 32, 32)
        for opset in opsets:
            path = os.path.join(OUT, f'{name}.op{opset}.onnx')
            torch.onnx.export(model, x, path, opset_version=opset, input_names=['input'], output_names=['logits'],
                              dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
            print(f'{path}: {os.path.getsize(path)} bytes, {sum(p.numel() for p in model.parameters())} parameters')
