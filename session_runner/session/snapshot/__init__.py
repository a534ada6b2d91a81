"""Session snapshots: content-addressed, compressed, encrypted, fenced."""
