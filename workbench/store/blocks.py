"""The block catalogue table, kept in step with the registry at start-up."""

from __future__ import annotations

import asyncpg

from workbench.block.registry import BlockRegistry


async def sync_catalogue(pool: asyncpg.Pool, registry: BlockRegistry) -> None:
    """Upsert every registered block's description and schemas (one statement, only changed rows)."""
    rows = []
    for block in registry:
        info = block.describe()
        rows.append(
            (
                block.id,
                block.name,
                block.description,
                info["categories"],
                info["block_type"],
                info["input_schema"],
                info["output_schema"],
                registry.source(block.id),
            )
        )
    await pool.executemany(
        """INSERT INTO blocks (id, name, description, categories, block_type, input_schema, output_schema, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
               categories = excluded.categories, block_type = excluded.block_type,
               input_schema = excluded.input_schema, output_schema = excluded.output_schema,
               source = excluded.source, updated_at = now()
           WHERE (blocks.name, blocks.description, blocks.categories, blocks.block_type, blocks.input_schema,
                  blocks.output_schema, blocks.source)
                 IS DISTINCT FROM (excluded.name, excluded.description, excluded.categories, excluded.block_type,
                                   excluded.input_schema, excluded.output_schema, excluded.source)""",
        rows,
    )
