// Module ImageIO: see docs/ for what it holds.
