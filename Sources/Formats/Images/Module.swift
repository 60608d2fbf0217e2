// Module ImageIO: JPEG/PNG decoding and CLIP preprocessing (see docs/IMAGES.md).
