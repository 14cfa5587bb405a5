"""Evaluation pieces: computed once, shared across experiments, sliced for smaller requests."""
from workbench.experiments.pieces import Piece, assemble, instruction_key, pieces_summary


def _rows(n, task="recent"):
    return [{"record_id": str(i), "task": task, "reliability": float(i % 2), "success": bool(i % 2)} for i in range(n)]


def test_instruction_keys_identify_the_setting():
    assert instruction_key("seen") == instruction_key("0") == "d0"
    assert instruction_key("unseen") == "d9"
    assert instruction_key("none") == "none"
    assert instruction_key("Edit this fact") == instruction_key("Edit this fact")
    assert instruction_key("Edit this fact") != instruction_key("Edit that fact")


def test_a_piece_answers_smaller_requests_and_refuses_larger_ones(tmp_path):
    piece = Piece(tmp_path, "ed", "seen", "recent")
    assert piece.load(10, "src") is None
    piece.save(10, _rows(10), "src", 1.0)
    assert [r["record_id"] for r in piece.load(4, "src")] == ["0", "1", "2", "3"]
    assert len(piece.load(10, "src")) == 10
    assert piece.load(20, "src") is None and piece.load(None, "src") is None
    assert piece.load(4, "another checkpoint") is None
    assert Piece(tmp_path, "ed", "0", "recent").load(4, "src") == piece.load(4, "src")  # "0" is "seen"
    piece.save(None, _rows(12), "src", 1.0)
    assert len(piece.load(None, "src")) == 12 and len(piece.load(11, "src")) == 11


def test_a_piece_over_the_whole_split_answers_any_request(tmp_path):
    piece = Piece(tmp_path, "ed", "seen", "recent")
    piece.save(100, _rows(91), "src", 1.0)  # asked for 100, the split has 91
    assert len(piece.load(200, "src")) == 91 and len(piece.load(None, "src")) == 91


def test_assemble_summarises_per_task():
    result = assemble("seen", [_rows(4, "recent"), _rows(6, "zsre")])
    assert result["summary"]["recent"]["n"] == 4 and result["summary"]["zsre"]["n"] == 6
    assert result["summary"]["zsre"]["reliability"]["mean"] == 0.5
    assert len(result["records"]) == 10


def test_pieces_summary_lists_sources_and_cpu_time(tmp_path):
    Piece(tmp_path, "ed", "seen", "recent").save(3, _rows(3), "assets/editors/ed", 2.5)
    Piece(tmp_path, "base", "none", "zsre").save(None, _rows(5, "zsre"), "base", 1.0)
    summary = pieces_summary(tmp_path)
    assert summary == {"base/none/zsre.json": {"source": "base", "records": 5, "cpu_seconds": 1.0},
                       "ed/d0/recent.json": {"source": "assets/editors/ed", "records": 3, "cpu_seconds": 2.5}}


def test_a_piece_made_without_the_step_search_is_not_reused_under_it(tmp_path):
    """The source names the editor folder and, when its config sets them, the edit-time step search and the
    loop repair."""
    import json

    from workbench.experiments.reproduce import Plan, _source

    folder = tmp_path / "editors" / "ed"
    folder.mkdir(parents=True)
    (folder / "editor.safetensors").write_bytes(b"")
    config = folder / "editor.json"
    config.write_text(json.dumps({"editor": {"step_scales": [], "step_fallback": 1.0}}))
    plan = Plan(tmp_path / "runs", tmp_path / "results", tmp_path / "editors")
    plain = _source(plan, "ed")
    assert plain == str(folder) and _source(plan, "base") == "base"
    piece = Piece(tmp_path / "pieces", "ed", "seen", "recent")
    piece.save(4, _rows(4), plain, 1.0)
    config.write_text(json.dumps({"editor": {"step_scales": [0.5, 1.0], "step_fallback": 1.0}}))
    searched = _source(plan, "ed")
    assert searched != plain and "0.5" in searched
    assert piece.load(4, searched) is None and piece.load(4, plain) is not None
    config.write_text(json.dumps({"editor": {"step_scales": [0.5, 1.0], "step_fallback": 1.0, "repair_tokens": 8,
                                             "repair_scales": [1.0, 2.0]}}))
    repaired = _source(plan, "ed")  # the loop repair is named too
    assert repaired not in (plain, searched) and "repair_tokens=8" in repaired
    config.write_text(json.dumps({"editor": {"step_scales": [0.5, 1.0], "step_fallback": 1.0, "repair_tokens": 8,
                                             "repair_scales": [1.0, 2.0], "repair_stop": True}}))
    stopped = _source(plan, "ed")  # and the stop repair, where it is on
    assert stopped.startswith(repaired) and "repair_stop=1" in stopped
