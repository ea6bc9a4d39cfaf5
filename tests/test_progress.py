from __future__ import annotations

import io

from usageql.progress import ProgressLine


def test_a_pipe_gets_one_line_per_tenth() -> None:
    out = io.StringIO()
    progress = ProgressLine("import: bytes", stream=out)
    for done in range(0, 1001, 50):
        progress(done, 1000)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0].startswith("import: bytes 0/1,000 (0%, ")
    assert lines[-1].startswith("import: bytes 1,000/1,000 (100%, ")


def test_an_unknown_total_is_counted_without_a_share() -> None:
    out = io.StringIO()
    ProgressLine("import: bytes", stream=out)(157, 0)
    assert out.getvalue().startswith("import: bytes 157 (")
    assert "%" not in out.getvalue()
