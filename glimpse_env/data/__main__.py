"""Command line for the data module.

python -m glimpse_env.data make-hdf5 mnist_cluttered.hdf5 --canvas-size 100 --num-distractors 8
python -m glimpse_env.data make-hdf5 edram_authors.hdf5 --recipe authors
python -m glimpse_env.data info mnist_cluttered.hdf5
python -m glimpse_env.data download [--data-dir DIR]
python -m glimpse_env.data from-folder photos/ photos.hdf5 --size 64   # photos/<class>/<image>
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from glimpse_env.data.hdf5 import (
    AUTHORS_RECIPE,
    read_canvas_hdf5,
    split_rows,
    write_canvas_hdf5,
)
from glimpse_env.data.mnist import SPLITS, load_mnist, resolve_data_dir
from glimpse_env.data.sources import folder_to_dataset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glimpse_env.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    make = commands.add_parser("make-hdf5", help="generate a fixed canvas dataset (EDRAM schema)")
    make.add_argument("output", help="path of the .hdf5 file to write")
    make.add_argument(
        "--recipe",
        choices=("ours", "authors"),
        default="ours",
        help="'authors': the data of Ablavatski et al. 2017 (100x100, 5 distractors, 60,000 "
        "train + 10,000 test canvases, all from the training digits, plus 10,000 valid); it "
        "fixes the sizes and counts below",
    )
    make.add_argument("--canvas-size", type=int, help="canvas side in pixels (default 100)")
    make.add_argument(
        "--num-distractors",
        type=_distractors,
        help="clutter patches per canvas (default 8), or LOW-HIGH for a count drawn per canvas",
    )
    make.add_argument(
        "--num-digits",
        type=int,
        help="non-overlapping digits per canvas, in reading order (default 1; the pair tasks: 2)",
    )
    make.add_argument(
        "--distractor-size", type=int, help="clutter patch side in pixels (default 8)"
    )
    make.add_argument(
        "--num-train", type=int, help="train canvases (MNIST train digits 0-49,999; default 50000)"
    )
    make.add_argument(
        "--num-valid", type=int, help="valid canvases (train digits 50,000-59,999; default 10000)"
    )
    make.add_argument("--num-test", type=int, help="test canvases (MNIST test; default 10000)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument(
        "--data-dir", default=None, help="MNIST directory (else $GLIMPSE_ENV_DATA, cache)"
    )
    make.add_argument("--chunk-size", type=int, default=1000, help="canvases generated per batch")
    make.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    info = commands.add_parser("info", help="summarise an HDF5 canvas dataset")
    info.add_argument("path")

    download = commands.add_parser("download", help="find or download MNIST and verify it")
    download.add_argument("--data-dir", default=None)

    folder = commands.add_parser(
        "from-folder", help="a folder of class folders of images -> a dataset file"
    )
    folder.add_argument("root", help="ROOT/<class>/<image>: one sub-directory per class")
    folder.add_argument("output", help="path of the .hdf5 file to write")
    folder.add_argument(
        "--size", type=int, required=True, help="canvas side in pixels: each image is fitted "
        "inside it (aspect ratio kept), centred",
    )  # fmt: skip
    folder.add_argument(
        "--channels", type=int, choices=(1, 3), default=None, help="1: grayscale, 3: RGB "
        "(default: the images' own; grayscale and colour mixed is an error)",
    )  # fmt: skip
    folder.add_argument("--valid-fraction", type=float, default=0.1, help="held out for valid")
    folder.add_argument("--test-fraction", type=float, default=0.1, help="held out for test")
    folder.add_argument("--seed", type=int, default=0, help="the seeded split of the images")
    return parser


def _distractors(text: str) -> int | tuple[int, int]:
    """``"8"`` -> 8, ``"4-50"`` -> (4, 50) (argparse type)."""
    try:
        parts = [int(part) for part in text.split("-")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise argparse.ArgumentTypeError(f"expected a count N or a range LOW-HIGH, got {text!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every error is one line on stderr and exit status 2."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _open_hdf5(path: str) -> h5py.File:
    """``h5py.File(path, "r")`` with an error that names the file and what was expected."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not Path(path).is_file():
        raise ValueError(f"{path}: is a directory, expected an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError:
        raise ValueError(
            f"{path}: not a readable HDF5 file (empty, truncated or another format)"
        ) from None


def _check_output(path: str) -> None:
    """Fail before generating anything if ``path`` cannot become the output file."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{path}: is a directory, expected the path of the .hdf5 file to write")
    parent = target.parent if str(target.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{path}: {parent} is not a directory")


#: make-hdf5's sizes and counts when no recipe fixes them.
_OUR_DEFAULTS = dict(
    canvas_size=100, num_distractors=8, distractor_size=8, num_train=50_000, num_valid=10_000,
    num_test=10_000, num_digits=1,
)  # fmt: skip


def _make_settings(args: argparse.Namespace) -> dict:
    """The generator's settings: the recipe's, or our defaults overridden by the flags."""
    given = {k: getattr(args, k) for k in _OUR_DEFAULTS if getattr(args, k) is not None}
    if args.recipe == "authors":
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(f"--recipe authors fixes the sizes and counts; drop {names}")
        return dict(AUTHORS_RECIPE)
    return {**_OUR_DEFAULTS, **given}


def _run(args: argparse.Namespace) -> int:
    if args.command == "make-hdf5":
        _check_output(args.output)
        path = write_canvas_hdf5(
            args.output,
            **_make_settings(args),
            seed=args.seed,
            data_dir=args.data_dir,
            chunk_size=args.chunk_size,
            progress=not args.no_progress,
        )
        print(f"wrote {path}")
    elif args.command == "info":
        with _open_hdf5(args.path) as f:
            for name, value in f.attrs.items():
                if name != "split":
                    print(f"attr {name}: {value}")
            present = []
            for split in SPLITS:
                try:
                    start, stop = split_rows(f, split)
                except ValueError as exc:
                    print(f"{split}: {exc}")
                    continue
                print(f"{split}: rows [{start}, {stop})")
                present.append(split)
        for split in present:
            arrays = read_canvas_hdf5(args.path, split)
            counts = np.bincount(arrays.labels.ravel(), minlength=10)
            print(
                f"{split}: {len(arrays)} canvases {arrays.images.shape[1:]}, "
                f"mean intensity {arrays.images.mean() / 255:.4f}, "
                f"labels per class {counts.tolist()}"
            )
    elif args.command == "from-folder":
        _check_output(args.output)
        path, source = folder_to_dataset(
            args.root, args.output, args.size, args.valid_fraction, args.test_fraction, args.seed,
            args.channels,
        )  # fmt: skip
        print(
            f"wrote {path}: {len(source)} images of {source.num_classes} classes "
            f"({', '.join(source.class_names)}), {source.channels} channel(s); serve it with "
            f"gym.make(id, dataset_path={str(path)!r}, classes={source.num_classes}, "
            f"canvas_size={args.size})"
        )
    elif args.command == "download":
        directory = resolve_data_dir(args.data_dir)
        for split in SPLITS:
            mnist = load_mnist(split, directory)
            print(f"{split}: {len(mnist)} digits from {mnist.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
