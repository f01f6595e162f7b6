"""Privacy: secret scanning, PII anonymisation and licence classification."""
