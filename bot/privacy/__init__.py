"""Members control their own data: ``/mge mydata`` (export.py: everything stored about them in one
community, as JSON) and ``/mge forget`` (erase.py, after a confirmation: confirmations.py). Both are
scoped to one community: the same person in another guild or workspace is another member, and their data
there is untouched."""
