"""The Litestar REST + WebSocket platform (issue: the platform API). Not built yet."""
