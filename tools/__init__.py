"""Developer tools: the native stack supervisor and the local service fallback. Never shipped in the image."""
