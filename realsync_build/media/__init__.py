"""Media helpers: locating ffmpeg, probing with PyAV, generating test sources."""
