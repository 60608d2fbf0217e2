// Module BLASBackend: see docs/ for what it holds.
