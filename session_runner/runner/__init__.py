"""The session runner: lease → restore → engine → snapshot → release, for one account."""
