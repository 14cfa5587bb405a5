"""Instruction construction: an optimisation loop that writes and improves a task's instructions.

`InstructionSearch(SearchConfig(...)).run()` proposes candidates (proposers.py), screens them
(candidates.py), scores them with a trial editor and writes an instruction-set file (loop.py).
`compare(out_dir)` then compares the best instruction with the catalog's, paired over records (compare.py).
"""
from workbench.instruction_search.candidates import MAX_CANDIDATE_CHARS, screen
from workbench.instruction_search.compare import CompareOptions, compare
from workbench.instruction_search.loop import InstructionSearch, SearchConfig, TrialScorer, combined
from workbench.instruction_search.proposers import PROPOSERS, ProposalRequest, Proposer, ProposerError, ProposerOptions, make_proposer

__all__ = ["MAX_CANDIDATE_CHARS", "PROPOSERS", "CompareOptions", "InstructionSearch", "ProposalRequest", "Proposer",
           "ProposerError", "ProposerOptions", "SearchConfig", "TrialScorer", "combined", "compare", "make_proposer",
           "screen"]
