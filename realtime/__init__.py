"""The realtime hub: WebSocket watch sessions and the HTTP fallback timer endpoints."""
