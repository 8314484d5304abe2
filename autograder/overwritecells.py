"""nbgrader's OverwriteCells without the false "checksum has changed" warning on hidden tests.

``nbgrader autograde`` restores every locked cell of a submission from the gradebook's copy,
which was saved *before* ``ClearHiddenTests`` removed the hidden tests. So a pristine test cell
with hidden tests never has the stored checksum, and nbgrader warns "Attribute 'checksum' for
cell ... has changed!" for every such cell of every honest submission, which drowns the one
warning that matters (a student edited a locked cell); the same goes for a task cell's mark
scheme. This subclass first recognises a locked cell that is exactly the released cell (the
stored source with its hidden-test and mark-scheme regions removed, as ``ClearHiddenTests`` and
``ClearMarkScheme`` do) and puts the stored source back silently; any other difference
goes to nbgrader's own check, which still warns and overwrites.
"""
from __future__ import annotations

from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme
from nbgrader.preprocessors import OverwriteCells as NbgraderOverwriteCells


class OverwriteCells(NbgraderOverwriteCells):
    """``OverwriteCells`` that treats a locked cell equal to its release (hidden tests cleared) as unchanged."""

    def released_source(self, source: str, cell_type: str) -> str:
        """``source`` as ``ClearHiddenTests`` and ``ClearMarkScheme`` (this config's delimiters) leave it."""
        from nbformat.v4 import new_code_cell, new_markdown_cell

        cell = (new_code_cell if cell_type == "code" else new_markdown_cell)(source)
        ClearHiddenTests(config=self.config)._remove_hidden_test_region(cell)
        if cell_type == "markdown":
            ClearMarkScheme(config=self.config)._remove_mark_scheme_region(cell)
        return cell.source

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                stored = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                stored = None
            if (stored is not None and stored.locked and cell.cell_type == stored.cell_type
                    and cell.source != stored.source
                    and cell.source == self.released_source(stored.source, stored.cell_type)):
                cell.source = stored.source  # the pristine release cell: restore hidden tests quietly
        return super().preprocess_cell(cell, resources, cell_index)
