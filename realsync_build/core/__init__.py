"""The core every stage shares: the stage driver, manifests and their schema, atomic writes, the dataset root, executors, terminal output."""
