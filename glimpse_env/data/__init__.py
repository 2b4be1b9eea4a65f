"""Data: MNIST files, canvas generation and HDF5 canvas datasets."""

from glimpse_env.data.canvas import CanvasBatch, CanvasGenerator, affine_to_bboxes, bboxes_to_affine
from glimpse_env.data.hdf5 import CanvasArrays, read_canvas_hdf5, write_canvas_hdf5
from glimpse_env.data.mnist import MNISTSplit, load_mnist, read_idx, resolve_data_dir

__all__ = [
    "CanvasArrays",
    "CanvasBatch",
    "CanvasGenerator",
    "MNISTSplit",
    "affine_to_bboxes",
    "bboxes_to_affine",
    "load_mnist",
    "read_canvas_hdf5",
    "read_idx",
    "resolve_data_dir",
    "write_canvas_hdf5",
]
