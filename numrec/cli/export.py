"""``numrec-export``: a trained model (or checkpoint) as an ONNX file for onnxruntime & co.

    numrec-export model.npz model.onnx
    numrec-export model.npz model-float.onnx --input float32

The graph does numrec's input preparation itself (uint8 pixels / 255, a CSV model's
standardisation), so it takes the same raw rows ``numrec-predict`` and ``Network.forward``
take. Building the graph needs the onnx package (``pip install 'numrec[onnx]'``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import common
from .common import Parser

PROG = "numrec-export"

EXAMPLES = """\
examples:
  numrec-export model.npz model.onnx              raw uint8 pixels in, as numrec-train saw them
  numrec-export model.npz model.onnx --input float32
  numrec-export run.checkpoint.npz model.onnx --input uint8

The ONNX model has one input "input" (batch, features) and one output "output" (batch,
classes): the output layer's activations (softmax probabilities, or sigmoids). Opset 17.
Exit status: 0 done, 2 bad usage or a file that is not a model, 130 interrupted.
"""


def build_parser() -> Parser:
    from ..export import INPUT_TYPES

    parser = Parser(
        prog=PROG,
        description="Export a trained model as ONNX, with its input preparation in the graph.",
        epilog=EXAMPLES,
    )
    parser.add_argument("model", type=Path, metavar="MODEL",
                        help="a model (.npz from numrec-train --save, or a seed text model) "
                        "or a checkpoint")  # fmt: skip
    parser.add_argument(
        "output", type=common.path_with_suffix((".onnx",)), metavar="OUT.onnx",
        help="the ONNX file to write (replaced atomically if it exists)",
    )  # fmt: skip
    parser.add_argument(
        "--input",
        choices=INPUT_TYPES,
        default=None,
        help="the element type the exported model takes: uint8 (pixels, scaled by 1/255 in "
        "the graph) or float32 (rows used as they are, as Network.forward uses float rows: "
        "pixels already scaled to 0..1); default: what the model was trained on (a "
        "checkpoint does not record it and needs --input)",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    return common.run(PROG, _main, argv)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    common.need_module("onnx", "onnx", "ONNX export")
    from ..export import load_model, preprocessing

    net = load_model(args.model)
    path = net.to_onnx(args.output, input_type=args.input)
    if not args.quiet:
        arch = "-".join(map(str, net.sizes))
        print(f"{path}: network {arch} ({net.hidden}, {net.output}); input "
              f"{preprocessing(net, args.input).describe()}")  # fmt: skip
    return common.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
