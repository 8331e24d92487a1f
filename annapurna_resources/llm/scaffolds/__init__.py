"""The offline generator's training scripts, kept as Python files of the package (linted and tested).

`frame.py` is what every script shares; each family's files supply `build_model`, `make_batch` and `compute_loss`
(the two language-model families share `sequence_task.py`, the two classifiers `classification_task.py`).
`assemble` joins the frame and a family's files into one self-contained script: their imports merged at the top, the
family's code before `main`, the paper's hyperparameters in `HP`.
"""

from importlib.resources import files

FAMILY_FILES: dict[str, tuple[str, ...]] = {
    "mixture_of_experts": ("mixture_of_experts.py", "sequence_task.py"),
    "transformer": ("transformer.py", "sequence_task.py"),
    "graph_neural_network": ("graph_neural_network.py",),
    "reinforcement_learning": ("reinforcement_learning.py",),
    "recommender": ("recommender.py",),
    "variational": ("variational.py",),
    "distillation": ("distillation.py",),
    "binarized_network": ("binarized_network.py", "classification_task.py"),
    "convolutional": ("convolutional.py",),
    "mlp": ("mlp.py", "classification_task.py"),
}
HP_LINE = "HP = {}  # the generator writes the paper's hyperparameters here"
MAIN = "\n\ndef main():"
LINT_NOTE = "  # noqa: F821 (from the family file)"


def assemble(family: str, header: list[str], hyperparameters: str) -> str:
    """One script: `header` as comments, then the merged imports, the frame's helpers, the family, `main`."""
    imports, frame = _split(_read("frame.py"))
    family_code = []
    for name in FAMILY_FILES[family]:
        family_imports, code = _split(_read(name))
        imports += family_imports
        family_code.append(code.strip("\n"))
    frame = frame.replace(HP_LINE, f"HP = {hyperparameters}").replace(LINT_NOTE, "")
    helpers, main = frame.split(MAIN, 1)
    standard = sorted({line for line in imports if not line.split()[1].startswith("torch")})
    torch = sorted({line for line in imports if line.split()[1].startswith("torch")})
    parts = [
        "\n".join(f"# {line}" for line in header),
        "\n".join(standard) + "\n\n" + "\n".join(torch),
        helpers.strip("\n"),
        *family_code,
        MAIN.strip("\n") + main,
    ]
    return "\n\n\n".join(parts)


def _read(name: str) -> str:
    return (files(__name__) / name).read_text()


def _split(source: str) -> tuple[list[str], str]:
    """A file's top-level import lines and the code after them (a module docstring is dropped)."""
    if source.startswith('"""'):
        source = source[source.index('"""', 3) + 3 :]
    lines = source.lstrip("\n").splitlines()
    end = 0
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(("import ", "from "))):
        end += 1
    return [line for line in lines[:end] if line.strip()], "\n".join(lines[end:]) + "\n"
