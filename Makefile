.PHONY: run test lint typecheck

run:  ## Install, migrate, load the demo, start Redis (if needed), a worker and the web server.
	scripts/run

test:  ## Run the whole test suite (PostgreSQL when DATABASE_URL is set, otherwise SQLite).
	scripts/test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy .
