// Module ModelConverter: see docs/ for what it holds.
