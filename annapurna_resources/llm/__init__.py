"""Models: embeddings, judges (offline or Claude) and code generators (scaffold or LLM), with the code contract."""
