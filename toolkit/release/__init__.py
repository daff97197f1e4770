"""Release tags (GTO grammar), package manifests, provenance and verification."""
