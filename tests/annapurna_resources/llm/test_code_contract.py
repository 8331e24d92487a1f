from annapurna_resources import OfflineCodeGenerator, PaperSection
from annapurna_resources.llm.code_contract import check_contract


def scaffold() -> str:
    return OfflineCodeGenerator().generate(
        "local-x", "A transformer", "", [PaperSection("3 Model", (1,), "attention")]
    )["code"]


def test_scaffold_meets_contract():
    assert check_contract(scaffold()).problems == []


def test_violations_are_named():
    assert "does not parse" in check_contract("def (:").problems[0]
    bad = scaffold().replace("import json", "import json\nimport socket\nimport subprocess")
    bad = bad.replace('if __name__ == "__main__":\n    main()', "main()")
    bad += "\nopen('/etc/passwd').read()\n"
    problems = " | ".join(check_contract(bad).problems)
    assert "imports socket" in problems and "imports subprocess" in problems
    assert "main__" in problems and "outside its directory" in problems
    bare = "import torch\nprint('done')\n"
    problems = " | ".join(check_contract(bare).problems)
    assert "METRICS" in problems and "ANNAPURNA_TIME_BUDGET_S" in problems and "torch_xla" in problems


def test_imports_outside_the_allow_list_and_path_escapes_are_problems():
    risky = scaffold().replace("import json", "import json\nimport pandas\nfrom importlib import import_module")
    risky = risky.replace("def main():", "def main():\n    torch.save({}, '/tmp/weights.pt')\n    __import__('socket')")
    problems = " | ".join(check_contract(risky).problems)
    assert "imports pandas" in problems and "not on the allow-list" in problems and "imports importlib" in problems
    assert "outside its directory" in problems and "calls __import__" in problems
    assert "ANNAPURNA_SMOKE" in " | ".join(check_contract(scaffold().replace("ANNAPURNA_SMOKE", "X")).problems)
