// Module NaiveBackend: see docs/ for what it holds.
