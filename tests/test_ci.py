"""CI runs the README's own commands, in a virtual environment it makes itself."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _readme_commands():
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line for block in blocks[:2] for line in block.splitlines()
            if line and not line.startswith("#")]


def test_ci_runs_exactly_the_readme_test_command():
    setup_and_main, setup_and_tests = _readme_commands()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.strip().startswith("#")]
    assert setup_and_tests in ci
    assert ci[-1] == setup_and_tests  # the last thing CI runs, so its exit code is CI's
    setup = setup_and_tests.split(" && ")[0]
    assert setup_and_main.split(" && ")[0].replace('".[test]"', ".") in (setup, "pip install -e .")


def test_ci_builds_a_fresh_venv_and_runs_pip_check_inside_it():
    ci = "\n".join(line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if not line.strip().startswith("#"))
    venv, activate, check = (ci.index("python -m venv"), ci.index("/bin/activate"),
                             ci.index("pip check"))
    assert venv < activate < check < ci.rindex("python -m pytest")
    assert "--system-site-packages" not in ci
