"""The models' code (encoder, reranker, BM25, ONNX, pins); not models/: that holds their weights."""
