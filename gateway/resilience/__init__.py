"""The attempt loop, error classification and cooldowns."""
