// Module ClipCap: see docs/ for what it holds.
