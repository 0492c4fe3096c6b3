"""User-facing errors: where the problem is, and which extra to install."""

from __future__ import annotations

import pytest
from instructscale.errors import InputError, InstructscaleError, MissingExtraError, require_extra


def test_input_error_names_file_line_and_field_in_that_order():
    err = InputError("missing required field", path="data/eval.jsonl", line=7, field="question")
    assert str(err) == "data/eval.jsonl, line 7, field 'question': missing required field"
    assert (err.path, err.line, err.field, err.reason) == ("data/eval.jsonl", 7, "question", "missing required field")
    assert str(InputError("file is empty", path="e.jsonl")) == "e.jsonl: file is empty"
    assert str(InputError("no location")) == "no location" and isinstance(err, InstructscaleError)


def test_optional_extras_are_imported_on_use_or_named_in_the_error():
    assert require_extra("json", "none", "JSON").dumps([1]) == "[1]"
    with pytest.raises(MissingExtraError, match=r"the vllm backend needs the optional 'vllm' extra: "
                                                r"pip install 'instructscale\[vllm\]'"):
        require_extra("surely_not_an_installed_module_xyz", "vllm", "the vllm backend")
    assert issubclass(MissingExtraError, InstructscaleError)  # so the CLI shows it as a clean exit 2


def test_package_import_stays_light():
    """Heavy libraries load inside the commands that need them, so `--help` is fast."""
    import subprocess
    import sys

    code = ("import sys, instructscale.cli.main; "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr

