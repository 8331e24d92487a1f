"""The generated-code contract every generator must meet, checked statically before anything runs.

One Python file run as `python main.py`; device torch_xla -> cuda -> cpu; prints `METRICS: {json}` lines
(the last one with `final_loss`); respects ANNAPURNA_TIME_BUDGET_S and ANNAPURNA_SMOKE (=1: a handful of steps);
has a main guard; imports only modules on `ALLOWED_MODULES`; no network, no subprocesses, no file access by
absolute or parent path (it may write only inside its working directory).

`check_contract` is the static review every generated script passes before anything runs it; an LLM generator
sends its problems back to the model for another attempt.
"""

import ast
from dataclasses import dataclass, field

FORBIDDEN_MODULES = {
    "socket",
    "subprocess",
    "requests",
    "urllib",
    "http",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "paramiko",
    "boto3",
    "botocore",
    "multiprocessing",
    "ctypes",
    "shutil",
    "pty",
    "telnetlib",
}
# What a self-contained training script legitimately needs; any other import is a problem.
ALLOWED_MODULES = {
    "torch",
    "torch_xla",
    "numpy",
    "math",
    "cmath",
    "random",
    "json",
    "os",
    "sys",
    "time",
    "dataclasses",
    "typing",
    "typing_extensions",
    "collections",
    "itertools",
    "functools",
    "argparse",
    "pathlib",
    "abc",
    "enum",
    "copy",
    "re",
    "string",
    "statistics",
    "warnings",
    "logging",
    "contextlib",
    "heapq",
    "bisect",
    "operator",
    "numbers",
    "types",
    "datetime",
    "textwrap",
    "pprint",
    "fractions",
    "decimal",
    "__future__",
}
FORBIDDEN_CALLS = {
    "os.system",
    "os.popen",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "os.remove",
    "os.rmdir",
    "os.removedirs",
    "os.unlink",
    "os.chdir",
    "os.execv",
    "os.execve",
    "os.execvp",
    "os.spawnv",
    "os.spawnl",
    "os.posix_spawn",
    "eval",
    "exec",
    "compile",
    "__import__",
    "importlib.import_module",
}
# Calls that take a path: a literal absolute, home or parent path leaves the working directory.
PATH_CALLS = {
    "open",
    "Path",
    "pathlib.Path",
    "torch.save",
    "torch.load",
    "np.save",
    "np.load",
    "numpy.save",
    "numpy.load",
    "os.makedirs",
    "os.mkdir",
    "os.listdir",
}


@dataclass
class ContractReport:
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_contract(code: str) -> ContractReport:
    report = ContractReport()
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        report.problems.append(f"does not parse: {error.msg} at line {error.lineno}")
        return report

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level:
                report.problems.append(f"imports from a relative module at line {node.lineno} (one file only)")
                continue
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    report.problems.append(f"imports {name} (network, subprocess or host access) at line {node.lineno}")
                elif name.split(".")[0] not in ALLOWED_MODULES:
                    report.problems.append(
                        f"imports {name} at line {node.lineno}, which is not on the allow-list "
                        f"({', '.join(sorted(m for m in ALLOWED_MODULES if not m.startswith('_')))})"
                    )
        elif isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called in FORBIDDEN_CALLS:
                report.problems.append(f"calls {called} at line {node.lineno}")
            if called in PATH_CALLS and any(_absolute_path(a) for a in [*node.args, *(k.value for k in node.keywords)]):
                report.problems.append(f"opens a file outside its directory at line {node.lineno}")

    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    if not any("METRICS:" in s for s in strings):
        report.problems.append("never prints a 'METRICS: {json}' line")
    if "ANNAPURNA_TIME_BUDGET_S" not in strings:
        report.problems.append("ignores the time budget (ANNAPURNA_TIME_BUDGET_S)")
    if "ANNAPURNA_SMOKE" not in strings:
        report.problems.append("ignores ANNAPURNA_SMOKE (=1 must mean a handful of steps)")
    if not _imports(tree, "torch_xla"):
        report.problems.append("has no torch_xla device path (needed on Trainium)")
    if "cuda" not in code:
        report.problems.append("never considers a CUDA device")
    if not _has_main_guard(tree):
        report.problems.append('has no `if __name__ == "__main__":` guard')
    return report


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _absolute_path(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(("/", "~", ".."))


def _imports(tree: ast.AST, module: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == module for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == module:
            return True
    return False


def _has_main_guard(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = {getattr(n, "id", None) for n in ast.walk(node.test)} | {
                getattr(n, "value", None) for n in ast.walk(node.test)
            }
            if "__name__" in names and "__main__" in names:
                return True
    return False
