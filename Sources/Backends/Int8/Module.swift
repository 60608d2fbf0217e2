// Module Int8Backend: see docs/ for what it holds.
