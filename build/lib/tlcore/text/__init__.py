"""The text path: the same flow as for images (import, analyse, train, export) on a sentence encoder."""
