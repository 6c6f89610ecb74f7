"""`raft index` and `raft search`: thin shells over raft/index/."""

from __future__ import annotations

import click

from raft.errors import RaftError
from raft.index.backends import BACKENDS, DEFAULT_BACKEND, QUERY_BACKENDS


@click.command("index")
@click.argument("corpus", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Index directory to write.")
@click.option("--embedder", default=None,
              help="sentence-transformers model id or path. [default: bundled all-MiniLM-L6-v2, offline]")
@click.option("--backend", type=click.Choice(BACKENDS),
              default=None, help="Embedding runtime: onnx/openvino run an ONNX export (cached), -int8 quantized; "
                                 f"auto = {DEFAULT_BACKEND} for the bundled MiniLM on CPU, else torch. [default: auto]")
@click.option("--ray", "ray", is_flag=False, flag_value="auto", default=None, metavar="[ADDRESS]",
              help="Read, chunk and embed with Ray Data: a local Ray (no ADDRESS) or a cluster (ray://host:10001).")
@click.option("--chunk-size", type=int, default=None, help="Max tokens per chunk (embedder's tokenizer). [default: 200]")
@click.option("--overlap", type=int, default=None, help="Tokens repeated between neighbouring chunks. [default: 40]")
@click.option("--index-type", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default=None,
              help="FAISS index; auto = flat up to 100k chunks, hnsw up to 1M, ivf above. [default: auto]")
@click.option("--batch-size", type=int, default=None, help="Texts per encode batch. [default: 64]")
@click.option("--device", default=None, help="Torch device, e.g. cpu, cuda, or cuda:0,cuda:1 for several GPUs.")
@click.option("--processes", type=int, default=None,
              help="Encoding processes (sentence-transformers pool) on --device. [default: 1]")
@click.option("--hybrid", is_flag=True, default=None, help="Also build a BM25 index for hybrid search.")
@click.option("--strict", is_flag=True, default=None, help="Fail on any unreadable file instead of skipping it.")
@click.option("--update", is_flag=True, default=None,
              help="Refresh an existing index: embed only new and changed documents, drop deleted ones.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing index directory.")
def index_cmd(corpus: str, out: str, **options: object) -> None:
    """Chunk, embed and index the documents in CORPUS (a directory, searched recursively, or a file).

    Reads .md, .txt, .html, .pdf, and .jsonl/.csv (one document per row: a text column, optional
    title and id columns). Unreadable or binary files are reported and skipped.

    \b
    Example:
      raft index corpora/helpdesk/docs -o indexes/helpdesk
    """
    from pathlib import Path

    from raft.index.build import IndexConfig, build_index

    overrides = {name: value for name, value in options.items() if value is not None}
    manifest = build_index(IndexConfig(corpus=Path(corpus), out=Path(out), **overrides))
    counts = manifest["counts"]
    click.echo(f"Indexed {counts['documents']} documents as {counts['chunks']} chunks "
               f"({counts['embedded']} embedded, {counts['reused']} reused, {counts['skipped']} skipped) "
               f"into {out} [{manifest['index_type']}{', hybrid' if manifest['hybrid'] else ''}]")


@click.command("search")
@click.argument("index_dir", type=click.Path())
@click.argument("query")
@click.option("-k", "--top-k", "k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of chunks to return.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the hits.")
@click.option("--hybrid/--no-hybrid", default=None,
              help="Fuse BM25 with dense search (RRF). [default: on if the index was built with --hybrid]")
@click.option("--device", default=None, help="Torch device for the query embedder.")
@click.option("--backend", type=click.Choice(QUERY_BACKENDS),
              default=None, help="Query embedder backend; must match the index. [default: as the index records]")
def search_cmd(index_dir: str, query: str, k: int, as_json: bool, hybrid: bool | None, device: str | None,
               backend: str | None) -> None:
    """Search INDEX_DIR for QUERY and print the top chunks with score, title, source and a snippet."""
    import json

    from raft.devices import check_device
    from raft.index.retriever import Retriever

    if not query.strip():
        raise RaftError("the query is empty; pass the question to search for, e.g. raft search INDEX \"how do I reset it\"")
    check_device(device)
    retriever = Retriever.load(index_dir, device=device, backend=backend)
    hits = retriever.search(query, k=k, hybrid=hybrid)
    if as_json:
        click.echo(json.dumps({"query": query, "index": str(index_dir), "hits": [h.to_dict() for h in hits]},
                              ensure_ascii=False, indent=2))
        return
    for h in hits:
        where = f"{h.source}" + (f" > {h.heading}" if h.heading else "")
        snippet = " ".join(h.text.split())
        click.echo(f"{h.rank}. [{h.score:.3f}] {h.title} ({where})")
        click.echo(f"   {snippet[:240]}{'...' if len(snippet) > 240 else ''}")
