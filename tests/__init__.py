"""The tests, in tiers: unit/, cli/, engines/ and e2e/ (each marked by its folder's name)."""
