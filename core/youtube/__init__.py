"""The YouTube Data API v3 adapter (docs/youtube.md).

Pure parts: `refs` (what an operator pasted: a video, playlist or channel), `duration`
(ISO 8601 durations), `metadata` (an API item as our content's metadata and live state),
`quota` (units and the quota day). I/O: `client` (httpx, with retries and quota
accounting) and `importer` (the contents and import jobs in PostgreSQL)."""
