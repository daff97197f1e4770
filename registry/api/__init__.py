"""HTTP layer of the registry: dependencies and routers under /api/v1."""
