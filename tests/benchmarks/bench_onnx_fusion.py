"""Does onnxruntime's transformer optimizer (fused attention, SkipLayerNorm, BiasGelu) speed up the ONNX
embedder beyond the session's own graph optimizations?

Times `OnnxEmbedder.encode` on the bundled corpus's chunk texts (the texts `raft index` embeds) with
four graphs: the cached plain export (`--backend onnx`), its int8 copy (`--backend onnx-int8`), the
export run through `onnxruntime.transformers.optimizer.optimize_model(model_type="bert")`, and that
fused graph quantized the same way. Best of --repeats, CPU threads as the embedder uses them; prints
chunks/s, the ratio to the plain export and the largest vector difference from it.

    .venv/bin/python tests/benchmarks/bench_onnx_fusion.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    import numpy as np
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    from raft.index.backends import Backend, OnnxEmbedder, _onnxruntime, exported_model
    from raft.index.build import IndexConfig, build_index
    from raft.index.chunking import Chunk, embedding_text
    from raft.index.embedders import DEFAULT_EMBEDDER, resolve_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "helpdesk" / "docs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model_dir = Path(resolve_embedder(DEFAULT_EMBEDDER))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_index(IndexConfig(corpus=args.corpus, out=tmp / "index", backend="onnx"))
        with (tmp / "index" / "chunks.jsonl").open() as fh:
            texts = [embedding_text(Chunk(**json.loads(line))) for line in fh]
        plain, int8 = exported_model(model_dir, "none"), exported_model(model_dir, "int8")
        fused = optimize_model(str(plain), model_type="bert", num_heads=0, hidden_size=0)
        print("fused operators:", {k: v for k, v in fused.get_fused_operator_statistics().items() if v})
        fused.save_model_to_file(str(tmp / "fused.onnx"))
        logging.disable(logging.WARNING)  # onnxruntime's advice to pre-process goes to the root logger
        quantize_dynamic(tmp / "fused.onnx", tmp / "fused-int8.onnx", weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        logging.disable(logging.NOTSET)

        embedder = OnnxEmbedder(DEFAULT_EMBEDDER, model_dir, Backend("onnx"))
        graphs = {"plain export (onnx)": plain, "plain int8 (onnx-int8)": int8,
                  "fused": tmp / "fused.onnx", "fused int8": tmp / "fused-int8.onnx"}
        rows, reference = [], None
        for name, path in graphs.items():
            embedder._run = _onnxruntime(path, None)
            embedder.encode(texts[:64])  # warm-up
            best, vectors = float("inf"), None
            for _ in range(args.repeats):
                start = time.perf_counter()
                vectors = embedder.encode(texts)
                best = min(best, time.perf_counter() - start)
            reference = vectors if reference is None else reference
            rows.append((name, best, float(np.abs(vectors - reference).max())))
    print(f"\n{len(texts)} chunks, best of {args.repeats}, {os.cpu_count()} CPU threads\n")
    print("| graph | encode s | chunks/s | vs plain export | max abs diff |")
    print("|---|---:|---:|---:|---:|")
    for name, secs, diff in rows:
        print(f"| {name} | {secs:.2f} | {len(texts) / secs:.1f} | {rows[0][1] / secs:.2f}× | {diff:.1e} |")


if __name__ == "__main__":
    main()
