# Berth: `make up` starts the console, `make test` runs every check.
.PHONY: up test setup lint unit integration e2e bench clean

up:
	scripts/up.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh --dev

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

unit:
	.venv/bin/pytest tests/unit

integration:
	.venv/bin/pytest tests/integration

e2e:
	.venv/bin/pytest tests/e2e

bench:
	.venv/bin/python bench/deploy.py

clean:
	rm -rf var .venv node_modules
