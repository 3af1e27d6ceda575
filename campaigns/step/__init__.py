"""A campaign's part of the account step, split along SPEC's seams (see base.py)."""
