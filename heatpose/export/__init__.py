"""Export to ONNX: ``export_onnx(model, "model.onnx", flip_test=..., decode=...)``; the file
carries its schema, codec, input size and normalisation as metadata (``read_onnx_metadata``)."""
from heatpose.export.onnx import ExportGraph, export_onnx, parse_onnx_metadata, read_onnx_metadata

__all__ = ["ExportGraph", "export_onnx", "parse_onnx_metadata", "read_onnx_metadata"]
