"""Storage: PostgreSQL through asyncpg; one small repository module per aggregate, no ORM."""
