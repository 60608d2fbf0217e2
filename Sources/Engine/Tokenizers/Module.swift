// Module Tokenizers: see docs/ for what it holds.
