"""The generated-code contract every generator must meet, checked statically before anything runs.

One Python file run as `python main.py`; device torch_xla -> cuda -> cpu; prints `METRICS: {json}` lines;
respects ANNAPURNA_TIME_BUDGET_S; has a main guard; no network, no subprocesses, no file access by
absolute path (it may write only inside its working directory).
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
FORBIDDEN_CALLS = {"os.system", "os.popen", "os.fork", "os.remove", "os.rmdir", "os.unlink", "eval", "exec"}


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
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    report.problems.append(f"imports {name} (network, subprocess or host access) at line {node.lineno}")
        elif isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called in FORBIDDEN_CALLS:
                report.problems.append(f"calls {called} at line {node.lineno}")
            if called == "open" and node.args and _absolute_path(node.args[0]):
                report.problems.append(f"opens a file outside its directory at line {node.lineno}")

    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    if not any("METRICS:" in s for s in strings):
        report.problems.append("never prints a 'METRICS: {json}' line")
    if "ANNAPURNA_TIME_BUDGET_S" not in strings:
        report.problems.append("ignores the time budget (ANNAPURNA_TIME_BUDGET_S)")
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
