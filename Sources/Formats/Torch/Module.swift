// Module TorchFormats: see docs/ for what it holds.
