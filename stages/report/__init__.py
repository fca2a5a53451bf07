"""The report stage (`python -m stages.report`): figures and one page from what earlier stages wrote."""
